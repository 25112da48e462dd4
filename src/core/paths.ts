/**
 * Path hygiene. The URL parser has already resolved dot segments, literal and
 * percent-encoded ("/api/../admin" and "/api/%2e%2e/admin" arrive as "/admin",
 * where admin routes and their auth take over). What it leaves alone are
 * encoded forms that a router or an upstream might decode into something
 * else: "%2f", "%5c", NUL, and empty segments ("//admin"). The dot-segment
 * check below stays as a second line in case a runtime ever stops resolving them. Those are refused for every path, not guessed at, so
 * no path can be reinterpreted as a different route further along.
 */

export type PathCheck = { ok: true } | { ok: false; reason: string };

const ENCODED_SEPARATOR = /%(2f|5c|00)/i;
const PATH_OK: PathCheck = { ok: true };

export function checkPath(pathname: string): PathCheck {
  if (pathname.includes("//")) return { ok: false, reason: "empty path segments are not allowed" };
  if (pathname.includes("\\")) return { ok: false, reason: "backslashes are not allowed in paths" };
  // Without "%" nothing is encoded, and without "." there is no dot segment: the common case stops here.
  const encoded = pathname.includes("%");
  if (!encoded && !pathname.includes(".")) return PATH_OK;
  if (encoded && ENCODED_SEPARATOR.test(pathname)) return { ok: false, reason: "encoded slashes, backslashes and NUL are not allowed in paths" };
  for (const segment of pathname.split("/")) {
    // Only a segment with a percent sign can decode to something other than itself.
    if (!segment.includes("%")) {
      if (segment === "." || segment === "..") return { ok: false, reason: "dot segments are not allowed in paths" };
      continue;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return { ok: false, reason: "the path has an invalid percent-encoding" };
    }
    if (decoded === "." || decoded === "..") return { ok: false, reason: "dot segments are not allowed in paths" };
  }
  return PATH_OK;
}

/** "/api/users/7" → service "api", rest "/users/7". Call after checkPath. */
export function splitServicePath(pathname: string): { service: string; rest: string } {
  // indexOf and slice, not split: this runs for every proxied request.
  const end = pathname.indexOf("/", 1);
  if (end === -1) return { service: pathname.slice(1), rest: "/" };
  return { service: pathname.slice(1, end), rest: pathname.slice(end) };
}

/** No "." or ".." segment: a configured path (a health check's) stays under the instance's base path. */
export function noDotSegments(path: string): boolean {
  return !path.split("/").some((segment) => segment === "." || segment === "..");
}

/** Paths under /{service}/ that belong to the orchestrator, never to clients: the lifecycle hook's. */
const RESERVED_UNDER_SERVICE = "__lifecycle";

/**
 * Whether a proxied request's rest ("/__lifecycle/restart") names a path the
 * orchestrator reserves on instances: its first segment, decoded and in any
 * case, is one of them (security review finding 4: anyone could send the
 * instance the hook's request). Cheap for every other path.
 */
export function isReservedUnderService(rest: string): boolean {
  if (rest.length < 12) return false;
  const end = rest.indexOf("/", 1);
  const first = rest.slice(1, end === -1 ? undefined : end);
  if (!first.includes("_") && !first.includes("%")) return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(first);
  } catch {
    return false;
  }
  return (decoded.split("/")[0] ?? "").toLowerCase() === RESERVED_UNDER_SERVICE;
}
