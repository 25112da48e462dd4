/**
 * SSRF guard for upstream URLs. Checked when an instance registers and again
 * before every call, because a registry entry is only as trustworthy as the
 * token that wrote it. Outside development an upstream must be https on a
 * public host: no loopback, private, link-local, CGNAT, multicast or cloud
 * metadata address, no IP literal at all (Workers subrequests go to URLs by
 * host name), no credentials in the URL. Hostnames are judged by name
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
  // Cloudflare documents that Workers subrequests go to URLs by host name, not to IP addresses:
  // a public IP literal would fail at call time, so say so at registration.
  if (ipv4 !== null || host.startsWith("[")) {
    return { ok: false, message: "must use a host name, not an IP address: Workers subrequests go to URLs by host name (UPSTREAM_ALLOWED_HOSTS can vouch for one)" };
  }
  if (!host.includes(".")) {
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

function isNonPublicIpv4([a = 0, b = 0, c = 0]: number[]): boolean {
  return (
    a === 0 || // "this" network
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // CGNAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0 && (c === 0 || c === 2)) || // IETF protocol assignments, TEST-NET-1
    (a === 192 && b === 88 && c === 99) || // 6to4 relay anycast (deprecated)
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    (a === 198 && b === 51 && c === 100) || // TEST-NET-2
    (a === 203 && b === 0 && c === 113) || // TEST-NET-3
    a >= 224 // multicast and reserved
  );
}

/** The eight 16-bit groups of an IPv6 address as the URL parser writes it (compressed, hex, no zone), or null. */
function ipv6Groups(address: string): number[] | null {
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : Number.NaN)));
  const head = parse(halves[0] ?? "");
  const tail = halves.length === 2 ? parse(halves[1] ?? "") : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...head, ...Array.from({ length: halves.length === 2 ? missing : 0 }, () => 0), ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g)) ? groups : null;
}

const ipv4Of = (high: number, low: number) => [high >> 8, high & 255, low >> 8, low & 255];

/**
 * Judged on the whole address, including the IPv4 addresses that transition
 * forms carry inside them: mapped (::ffff:a.b.c.d) and 6to4 (2002:AABB:CCDD::)
 * by the IPv4 rules; IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96 and
 * 64:ff9b:1::/48) and Teredo (2001::/32) refused outright, since each can
 * reach IPv4 space through a translator the caller does not control.
 */
function isNonPublicIpv6(address: string): boolean {
  const g = ipv6Groups(address.toLowerCase());
  if (g === null) return true;
  const [g0 = 0, g1 = 0, g2 = 0, , , g5 = 0, g6 = 0, g7 = 0] = g;
  const firstFiveZero = g.slice(0, 5).every((x) => x === 0);
  if (firstFiveZero && g5 === 0xffff) return isNonPublicIpv4(ipv4Of(g6, g7)); // IPv4-mapped
  if (firstFiveZero && g5 === 0) return true; // ::, ::1 and IPv4-compatible ::a.b.c.d
  if (g0 === 0x2002) return isNonPublicIpv4(ipv4Of(g1, g2)); // 6to4
  if (g0 === 0x0064 && g1 === 0xff9b) return true; // NAT64, well-known and local-use
  if (g0 === 0x2001 && g1 === 0x0000) return true; // Teredo
  if (g0 === 0x2001 && g1 === 0x0db8) return true; // documentation
  if (g0 === 0x0100 && g1 === 0 && g2 === 0 && g.slice(3, 4).every((x) => x === 0)) return true; // discard-only 100::/64
  return (
    (g0 & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (g0 & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (g0 & 0xffc0) === 0xfec0 || // site-local fec0::/10 (deprecated)
    (g0 & 0xff00) === 0xff00 // multicast
  );
}
