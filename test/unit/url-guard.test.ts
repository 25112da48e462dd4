import { describe, expect, it } from "vitest";
import { checkUpstreamUrl } from "../../src/core/url-guard";

const production = { allowPrivateNetworks: false };
const development = { allowPrivateNetworks: true };

describe("SSRF guard outside development", () => {
  it.each([
    "https://127.0.0.1/",
    "https://127.1.2.3/",
    "https://2130706433/", // decimal 127.0.0.1
    "https://0x7f000001/", // hex
    "https://0177.0.0.1/", // octal
    "https://0x7f.1/",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://10.0.0.5/",
    "https://172.16.0.1/",
    "https://172.31.255.255/",
    "https://192.168.1.1/",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/",
    "https://0.0.0.0/",
    "https://[fd00::1]/",
    "https://[fe80::1]/",
    "https://localhost/",
    "https://api.localhost/",
    "https://metadata.google.internal/",
    "https://printer.local/",
    "https://intranet/",
    // Transition forms that carry a non-public IPv4 address, or reach IPv4 through a translator.
    "https://[::127.0.0.1]/", // IPv4-compatible (deprecated)
    "https://[::a9fe:a9fe]/", // IPv4-compatible 169.254.169.254
    "https://[2002:7f00:1::]/", // 6to4 of 127.0.0.1
    "https://[2002:a9fe:a9fe::1]/", // 6to4 of 169.254.169.254
    "https://[2002:c0a8:101::]/", // 6to4 of 192.168.1.1
    "https://[64:ff9b::7f00:1]/", // NAT64 of 127.0.0.1
    "https://[64:ff9b::5db8:d822]/", // NAT64, even of a public address
    "https://[64:ff9b:1::a00:1]/", // local-use NAT64
    "https://[2001::1]/", // Teredo
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", // Teredo
    "https://[2001:db8::1]/", // documentation
    "https://[fec0::1]/", // site-local
    "https://[ff02::1]/", // multicast
    "https://[100::1]/", // discard-only
    // Every documentation range of IPv4, not only TEST-NET-1.
    "https://192.0.2.10/", // TEST-NET-1
    "https://198.51.100.10/", // TEST-NET-2
    "https://203.0.113.10/", // TEST-NET-3
    "https://192.0.0.8/", // IETF protocol assignments
    "https://192.88.99.1/", // 6to4 relay anycast
  ])("refuses %s", (url) => {
    expect(checkUpstreamUrl(url, production).ok).toBe(false);
  });

  it.each(["http://api.example.com/", "ftp://api.example.com/", "file:///etc/passwd", "gopher://x.example.com/", "javascript:alert(1)", "not a url", "https://user:pass@api.example.com/", "https://api.example.com/?q=1", "https://api.example.com/#frag"])(
    "refuses %s",
    (url) => {
      expect(checkUpstreamUrl(url, production).ok).toBe(false);
    },
  );

  it.each(["https://api.example.com/", "https://api.example.com:8443/base", "https://xn--bcher-kva.example/"])("accepts %s", (url) => {
    expect(checkUpstreamUrl(url, production).ok).toBe(true);
  });

  it.each(["https://93.184.216.34/", "https://[2606:4700::1111]/", "https://[2002:5db8:d822::1]/", "https://192.0.1.10/", "https://198.51.101.1/", "https://[2001:4860:4860::8888]/"])(
    "refuses the public IP literal %s: Workers subrequests go to URLs by host name",
    (url) => {
      const check = checkUpstreamUrl(url, production);
      expect(check.ok).toBe(false);
      expect(check.ok ? "" : check.message).toMatch(/must use a host name, not an IP address/);
    },
  );

  it("still says why a non-public IP literal is refused", () => {
    const check = checkUpstreamUrl("https://169.254.169.254/", production);
    expect(check.ok ? "" : check.message).toMatch(/loopback, private, link-local or metadata/);
  });

  it("lets UPSTREAM_ALLOWED_HOSTS widen the address rules, but not the scheme rule", () => {
    const policy = { allowPrivateNetworks: false, allowedHosts: ["10.0.0.5", "billing.internal"] };
    expect(checkUpstreamUrl("https://10.0.0.5/", policy).ok).toBe(true);
    expect(checkUpstreamUrl("https://billing.internal/", policy).ok).toBe(true);
    expect(checkUpstreamUrl("http://10.0.0.5/", policy).ok).toBe(false);
    expect(checkUpstreamUrl("https://10.0.0.6/", policy).ok).toBe(false);
  });
});

describe("SSRF guard in development", () => {
  it("allows loopback http for the local fleet but still refuses credentials and odd schemes", () => {
    expect(checkUpstreamUrl("http://127.0.0.1:9101/", development).ok).toBe(true);
    expect(checkUpstreamUrl("http://u:p@127.0.0.1:9101/", development).ok).toBe(false);
    expect(checkUpstreamUrl("ftp://127.0.0.1/", development).ok).toBe(false);
  });
});
