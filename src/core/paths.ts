/**
 * Path hygiene for proxied requests. The URL parser has already resolved
 * literal dot segments ("/api/../admin" arrives as "/admin", where admin routes
 * and their auth take over). What it leaves alone are encoded forms that an
 * upstream might decode into something else: "%2e%2e", "%2f", "%5c", and
 * empty segments. Those are refused rather than guessed at, so a proxied path
 * can never be reinterpreted as a different route downstream.
 */

export type ServicePath =
  | { ok: true; service: string; rest: string }
  | { ok: false; reason: string };

const ENCODED_SEPARATOR = /%(2f|5c|00)/i;

export function splitServicePath(pathname: string): ServicePath {
  if (pathname.includes("//")) return { ok: false, reason: "empty path segments are not allowed" };
  if (pathname.includes("\\")) return { ok: false, reason: "backslashes are not allowed in paths" };
  if (ENCODED_SEPARATOR.test(pathname)) return { ok: false, reason: "encoded slashes, backslashes and NUL are not allowed in paths" };
  const segments = pathname.split("/").slice(1);
  for (const segment of segments) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return { ok: false, reason: "the path has an invalid percent-encoding" };
    }
    if (decoded === "." || decoded === "..") return { ok: false, reason: "dot segments are not allowed in paths" };
  }
  const [service = "", ...rest] = segments;
  return { ok: true, service, rest: "/" + rest.join("/") };
}
