// The bare pass-through Worker that scripts/bench.mjs measures as the baseline
// for the orchestrator: one fetch() to the nginx upstream per request, nothing else.
// UPSTREAM_PORT is a text binding written into the generated workerd config.
export default {
  fetch(req, env) {
    const u = new URL(req.url);
    return fetch("http://127.0.0.1:" + env.UPSTREAM_PORT + u.pathname + u.search);
  },
};
