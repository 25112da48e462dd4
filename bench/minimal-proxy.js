// The least any gateway on Workers does per request, as a reference row in
// scripts/bench.mjs: the pass-through plus forwarding headers the upstream can
// trust (X-Forwarded-For/-Proto/-Host), a request id both ways, and a deadline
// on the upstream's answer. No routing, rate limiting or metrics. The gap
// between this row and the pass-through is what the runtime charges for
// touching headers; the gap between this row and the orchestrator is what
// the orchestrator's own features cost.
let counter = 0;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const requestId = "bench-" + (++counter).toString(16);
    const headers = new Headers(request.headers);
    headers.delete("host");
    headers.set("x-forwarded-for", request.headers.get("cf-connecting-ip") ?? "127.0.0.1");
    headers.set("x-forwarded-proto", url.protocol === "https:" ? "https" : "http");
    headers.set("x-forwarded-host", url.host);
    headers.set("x-request-id", requestId);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), 30_000);
    try {
      const upstream = await fetch("http://127.0.0.1:" + env.UPSTREAM_PORT + url.pathname + url.search, {
        method: request.method,
        headers,
        body: request.body,
        redirect: "manual",
        signal: deadline.signal,
      });
      const response = new Response(upstream.body, upstream);
      response.headers.set("x-request-id", requestId);
      return response;
    } catch {
      return new Response("upstream unavailable", { status: 502 });
    } finally {
      clearTimeout(timer);
    }
  },
};
