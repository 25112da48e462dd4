// What the page derives from the live view: per-service counts, what needs
// attention, which rows a search and a state filter leave, and their order.
// No DOM: unit-tested in Node (test/unit/dashboard-model.test.ts).
//
// The view's keyed sections are Maps (live-state.js): services by name,
// instances by id, alerts by fingerprint. Instance members at their usual
// value are absent (admin "active", inflight 0, weight 1).

/** Worst first, as the attention list ranks them (attentionRank): the order the "status" column sorts by. */
export const STATUS_RANK = { unhealthy: 0, degraded: 1, stopped: 2, "no-instances": 3, healthy: 4 };

export const STATE_FILTERS = ["all", "problems", "unhealthy", "degraded", "ejected", "stopped", "standby", "healthy", "empty"];

export const SORT_KEYS = ["status", "name", "instances", "inflight", "rps", "p95", "errors"];
/** Numbers sort biggest first by default; names and status in their natural order. */
export const DEFAULT_DIRECTION = { status: 1, name: 1, instances: 1, inflight: -1, rps: -1, p95: -1, errors: -1 };

const isNum = (x) => typeof x === "number" && Number.isFinite(x);

/** One collator for every sort ("i-2" before "i-10"): a localeCompare with options builds a new one per call. */
const collator = new Intl.Collator(undefined, { numeric: true });
export const compareNames = collator.compare;
const PROBLEM_ORDER = ["unhealthy", "ejected", "heartbeat lapsed", "degraded", "stopped"];

export const adminOf = (instance) => instance.admin || "active";
export const isEjected = (instance, now) => isNum(instance.ejectedUntil) && instance.ejectedUntil > now;
/** Healthy and able to take traffic: not stopped, not ejected (a standby instance counts: it is ready). */
export const isServing = (instance, now) => instance.health === "healthy" && adminOf(instance) !== "stopped" && !isEjected(instance, now);

/** Why an instance needs attention, worst first; empty when it does not. */
export function instanceProblems(instance, now) {
  const out = [];
  if (instance.health === "unhealthy") out.push("unhealthy");
  if (isEjected(instance, now)) out.push("ejected");
  if (instance.heartbeat === "critical") out.push("heartbeat lapsed");
  if (instance.health === "degraded") out.push("degraded");
  if (adminOf(instance) === "stopped") out.push("stopped");
  return out;
}

/** Does an instance match a state filter? */
export function instanceInState(instance, state, now) {
  switch (state) {
    case "all":
      return true;
    case "problems":
      return instanceProblems(instance, now).length > 0;
    case "unhealthy":
    case "degraded":
      return instance.health === state;
    case "healthy":
      return isServing(instance, now);
    case "ejected":
      return isEjected(instance, now);
    case "stopped":
    case "standby":
      return adminOf(instance) === state;
    case "empty":
      return false;
    default:
      return true;
  }
}

/** Does a service itself (not its instances) match a state filter? */
function serviceInState(service, state) {
  switch (state) {
    case "all":
      return true;
    case "problems":
      return service.status !== "healthy";
    case "unhealthy":
    case "degraded":
    case "healthy":
      return service.status === state;
    case "stopped":
      return service.admin === "stopped";
    case "empty":
      return service.status === "no-instances";
    default:
      return false;
  }
}

/** A service's instances (ids) in display order: needing attention first, then by name or id. */
function orderInstances(ids, instances, now) {
  const keys = new Map();
  for (const id of ids) {
    const instance = instances.get(id);
    const problems = instanceProblems(instance, now);
    keys.set(id, { rank: problems.length === 0 ? 9 : PROBLEM_ORDER.indexOf(problems[0]), label: instance.name || id });
  }
  return ids.sort((a, b) => {
    const x = keys.get(a);
    const y = keys.get(b);
    return x.rank - y.rank || compareNames(x.label, y.label) || (a < b ? -1 : a > b ? 1 : 0);
  });
}

/**
 * Per service: its instances (ids, in display order) and counts, and how many
 * instances declared each version (`versions`: version → count, "" for none).
 * Services the view has no entry for but instances name still get a summary
 * (a delta may bring an instance before its service).
 */
export function summarize(view, now) {
  const out = new Map();
  // healthy: serving (isServing); the others count health and admin states as they are.
  const blank = () => ({ ids: [], total: 0, healthy: 0, degraded: 0, unhealthy: 0, stopped: 0, standby: 0, ejected: 0, lapsed: 0, problems: 0, versions: new Map() });
  for (const name of view.services.keys()) out.set(name, blank());
  for (const [id, instance] of view.instances) {
    let s = out.get(instance.service);
    if (!s) {
      s = blank();
      out.set(instance.service, s);
    }
    s.ids.push(id);
    s.total++;
    const version = typeof instance.version === "string" ? instance.version : "";
    s.versions.set(version, (s.versions.get(version) || 0) + 1);
    if (isServing(instance, now)) s.healthy++;
    if (instance.health === "degraded") s.degraded++;
    else if (instance.health === "unhealthy") s.unhealthy++;
    const admin = adminOf(instance);
    if (admin === "stopped") s.stopped++;
    if (admin === "standby") s.standby++;
    if (isEjected(instance, now)) s.ejected++;
    if (instance.heartbeat === "critical") s.lapsed++;
    if (instanceProblems(instance, now).length > 0) s.problems++;
  }
  for (const s of out.values()) orderInstances(s.ids, view.instances, now);
  return out;
}

/**
 * A service's versions as one short text, most instances first ("v1 ×2 · v2 ×1"),
 * instances without a version as "unversioned"; "" while all its instances
 * have the same one (a mix is what is worth a line: a canary, a release in progress).
 */
export function versionMixText(versions) {
  if (!versions || versions.size < 2) return "";
  return [...versions]
    .sort((a, b) => b[1] - a[1] || compareNames(a[0], b[0]))
    .map(([version, count]) => `${version || "unversioned"} ×${count}`)
    .join(" · ");
}

/** Active (not suppressed) alerts by the service they name. */
export function alertsByService(view) {
  const out = new Map();
  for (const [fingerprint, alert] of view.alerts) {
    if (!alert.service) continue;
    if (!out.has(alert.service)) out.set(alert.service, []);
    out.get(alert.service).push({ fingerprint, ...alert });
  }
  return out;
}

/**
 * How urgent an item is: down or critical first; then degraded, unhealthy
 * instances or alerts; then what an operator stopped on purpose; last, a
 * service left without instances that no alert is about (only seed services
 * raise NoInstances: another service's last instance may simply have gone).
 */
function attentionRank(status, firing, problemInstances) {
  if (status === "unhealthy" || firing.some((a) => a.severity === "critical")) return 0;
  if (status === "degraded" || problemInstances > 0 || firing.length > 0) return 1;
  if (status === "stopped") return 2;
  return 3;
}

/**
 * What needs attention, most urgent first (attentionRank): each service that
 * is not healthy, has an instance needing attention, or has a firing alert,
 * with its reasons and those instances. Two or more services without instances
 * and without alerts come last as one item: {name: null, group: [names]}.
 */
export function attention(view, summaries, now) {
  const alerts = alertsByService(view);
  const names = new Set([...view.services.keys(), ...summaries.keys(), ...alerts.keys()]);
  const items = [];
  for (const name of names) {
    const service = view.services.get(name);
    const s = summaries.get(name) || { ids: [], total: 0, problems: 0 };
    const firing = (alerts.get(name) || []).filter((a) => a.state === "active");
    const status = service ? service.status : "no-instances";
    if (status === "healthy" && s.problems === 0 && firing.length === 0) continue;
    const reasons = [];
    if (service && service.admin === "stopped") reasons.push("stopped by an operator");
    else if (status === "no-instances") reasons.push("no instances");
    if (service && service.panic) reasons.push("panic mode");
    for (const [count, word] of [
      [s.unhealthy, "unhealthy"],
      [s.ejected, "ejected"],
      [s.lapsed, "heartbeat lapsed"],
      [s.degraded, "degraded"],
      [service && service.admin === "stopped" ? 0 : s.stopped, "stopped"],
    ]) {
      if (count > 0) reasons.push(`${count} ${word}`);
    }
    const problemIds = s.ids.filter((id) => instanceProblems(view.instances.get(id), now).length > 0);
    items.push({ name, status, total: s.total, reasons, instances: problemIds, alerts: firing, rank: attentionRank(status, firing, problemIds.length) });
  }
  items.sort((a, b) => a.rank - b.rank || b.instances.length - a.instances.length || compareNames(a.name, b.name));
  // Services left without instances that no alert is about are named on one line, after the rest:
  // a fleet whose services come and go can have many, and each would push a real problem down.
  const empty = items.filter((item) => item.rank === 3 && item.status === "no-instances");
  if (empty.length < 2) return items;
  const rest = items.filter((item) => !empty.includes(item));
  rest.push({ name: null, status: "no-instances", group: empty.map((item) => item.name), reasons: [], total: 0, instances: [], alerts: [], rank: 3 });
  return rest;
}

/** The search text as the page matches it. */
export const normalizeQuery = (text) => String(text || "").trim().toLowerCase();

function instanceMatchesQuery(id, instance, q) {
  return id.toLowerCase().includes(q) || (instance.name || "").toLowerCase().includes(q) || (instance.target || "").toLowerCase().includes(q);
}

/**
 * The rows a search and a state filter leave: [{name, ids, narrowed}], where
 * `ids` are the instances to list (display order) and `narrowed` says that the
 * filter left out some of them. A service whose name matches the search keeps
 * all its instances that match the state; otherwise only the instances whose
 * id, name or target match are kept.
 */
export function visibleRows(view, summaries, filter, now) {
  const q = normalizeQuery(filter.q);
  const state = STATE_FILTERS.includes(filter.state) ? filter.state : "all";
  const rows = [];
  for (const [name, s] of summaries) {
    const service = view.services.get(name) || { status: "no-instances", admin: "active" };
    const nameMatches = q === "" || name.toLowerCase().includes(q);
    let ids = nameMatches ? s.ids : s.ids.filter((id) => instanceMatchesQuery(id, view.instances.get(id), q));
    if (!nameMatches && ids.length === 0) continue;
    if (state !== "all") {
      const inState = ids.filter((id) => instanceInState(view.instances.get(id), state, now));
      if (inState.length === 0 && !(nameMatches && serviceInState(service, state))) continue;
      ids = inState;
    }
    rows.push({ name, ids, narrowed: ids.length !== s.ids.length });
  }
  return rows;
}

function sortValue(key, name, view, summaries) {
  const service = view.services.get(name);
  const s = summaries.get(name);
  switch (key) {
    case "name":
      return name;
    case "status":
      return service ? STATUS_RANK[service.status] ?? 5 : 5;
    case "instances":
      // Healthy share, worst first when ascending; services without instances last.
      return s && s.total > 0 ? s.healthy / s.total : 2;
    case "inflight":
      return service ? service.inflight : -1;
    case "rps":
      return service ? service.rps : -1;
    case "p95":
      return service && isNum(service.recent && service.recent.p95) ? service.recent.p95 : -1;
    case "errors":
      return service && service.recent ? service.recent.errorRate : -1;
    default:
      return name;
  }
}

/** Sorts rows in place by a column (direction 1 or -1); ties go by name. */
export function sortRows(rows, view, summaries, key, direction) {
  const dir = direction === -1 ? -1 : 1;
  const values = new Map(rows.map((row) => [row.name, sortValue(key, row.name, view, summaries)]));
  rows.sort((a, b) => {
    const x = values.get(a.name);
    const y = values.get(b.name);
    const c = typeof x === "string" ? compareNames(x, y) : x - y;
    return c !== 0 ? c * dir : compareNames(a.name, b.name);
  });
  return rows;
}
