// The bare pass-through Worker that scripts/bench.mjs measures as the baseline
// for the orchestrator: the incoming request (method, headers, body) sent on to
// the nginx upstream as it is, and the upstream's response returned as it is.
// Nothing else. UPSTREAM_PORT is a text binding written into the generated
// workerd config.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch("http://127.0.0.1:" + env.UPSTREAM_PORT + url.pathname + url.search, request);
  },
};
