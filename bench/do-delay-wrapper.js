// Bench only (scripts/bench-isolates.mjs): the orchestrator's bundle behind a wrapper that adds
// BENCH_DO_DELAY_MS before every Durable Object call its edge makes, standing in for the round trip
// to an object in another location. The product code does not know: it gets an environment whose
// three namespaces hand out delayed stubs (PROBER, used only by the objects, is left alone). The
// objects themselves (exported unchanged) call each other without the delay.
import orchestrator, { MetricsDO, ProberDO, RateLimiterDO, RegistryDO } from "./index.js";

export { MetricsDO, ProberDO, RateLimiterDO, RegistryDO };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function delayedStub(stub, ms) {
  return new Proxy(stub, {
    get(target, property) {
      const value = target[property];
      if (typeof value !== "function") return value;
      return async (...args) => {
        await sleep(ms);
        return Reflect.apply(value, target, args);
      };
    },
  });
}

function delayedNamespace(namespace, ms) {
  return new Proxy(namespace, {
    get(target, property) {
      if (property === "get") return (id, options) => delayedStub(target.get(id, options), ms);
      const value = target[property];
      return typeof value === "function" ? (...args) => Reflect.apply(value, target, args) : value;
    },
  });
}

let wrapped = null;

export default {
  fetch(request, env, ctx) {
    // One wrapped environment per isolate, like the real one (the orchestrator caches by it).
    if (wrapped === null) {
      const ms = Number(env.BENCH_DO_DELAY_MS) || 0;
      wrapped = { ...env, REGISTRY: delayedNamespace(env.REGISTRY, ms), RATE_LIMITER: delayedNamespace(env.RATE_LIMITER, ms), METRICS: delayedNamespace(env.METRICS, ms) };
    }
    return orchestrator.fetch(request, wrapped, ctx);
  },
};
