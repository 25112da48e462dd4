/**
 * SSRF guard for upstream URLs. Checked when an instance registers and again
 * before every call, because a registry entry is only as trustworthy as the
 * token that wrote it. Outside development an upstream must be https on a
 * public host: no loopback, private, link-local, CGNAT, multicast or cloud
 * metadata address, no credentials in the URL. Hostnames are judged by name
 * only (Workers cannot resolve DNS ahead of fetch); names that conventionally
 * resolve inside a network (localhost, *.internal, *.local) are refused.
 */

export type UrlCheck = { ok: true; url: URL } | { ok: false; message: string };

export interface UrlGuardOptions {
  /** Development allows http and loopback/private hosts (the local demo fleet). */
  readonly allowPrivateNetworks: boolean;
  /** Hosts an operator vouches for (UPSTREAM_ALLOWED_HOSTS): exempt from the address checks, not from https. */
  readonly allowedHosts?: readonly string[];
}

const BLOCKED_HOST_NAMES = new Set(["localhost", "metadata", "metadata.google.internal", "instance-data"]);
const BLOCKED_HOST_SUFFIXES = [".localhost", ".local", ".internal", ".localdomain", ".home.arpa"];

export function checkUpstreamUrl(raw: string, options: UrlGuardOptions): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: "must be an absolute http(s) URL" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { ok: false, message: "must use http or https" };
  }
  if (url.protocol === "http:" && !options.allowPrivateNetworks) {
    return { ok: false, message: "must use https outside development" };
  }
  if (url.username !== "" || url.password !== "") {
    return { ok: false, message: "must not contain credentials" };
  }
  if (url.search !== "" || url.hash !== "") {
    return { ok: false, message: "must not contain a query or fragment" };
  }
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (options.allowPrivateNetworks || options.allowedHosts?.includes(host)) return { ok: true, url };

  if (BLOCKED_HOST_NAMES.has(host) || BLOCKED_HOST_SUFFIXES.some((suffix) => host.endsWith(suffix))) {
    return { ok: false, message: "must not point at a local or internal host name" };
  }
  const ipv4 = parseIpv4(host);
  if (ipv4 !== null && isNonPublicIpv4(ipv4)) {
    return { ok: false, message: "must not point at a loopback, private, link-local or metadata address" };
  }
  if (host.startsWith("[") && isNonPublicIpv6(host.slice(1, -1))) {
    return { ok: false, message: "must not point at a loopback, private, link-local or metadata address" };
  }
  if (ipv4 === null && !host.startsWith("[") && !host.includes(".")) {
    return { ok: false, message: "must be a fully qualified host name" };
  }
  return { ok: true, url };
}

/** The WHATWG URL parser has already normalised decimal/hex/octal forms to dotted quad. */
function parseIpv4(host: string): number[] | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!match) return null;
  const octets = match.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

function isNonPublicIpv4([a = 0, b = 0]: number[]): boolean {
  return (
    a === 0 || // "this" network
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // CGNAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) || // IETF protocol assignments
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    a >= 224 // multicast and reserved
  );
}

function isNonPublicIpv6(address: string): boolean {
  const a = address.toLowerCase();
  if (a === "::" || a === "::1") return true;
  // IPv4-mapped (::ffff:a.b.c.d, which the URL parser writes as ::ffff:xxxx:xxxx): judge the IPv4 part.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (mapped) {
    const high = parseInt(mapped[1] ?? "0", 16);
    const low = parseInt(mapped[2] ?? "0", 16);
    return isNonPublicIpv4([high >> 8, high & 255, low >> 8, low & 255]);
  }
  const first = parseInt(a.split(":")[0] || "0", 16);
  return (
    (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xff00) === 0xff00 || // multicast
    a.startsWith("64:ff9b:") || // NAT64 can reach IPv4 private space
    a.startsWith("2001:db8:") // documentation
  );
}
