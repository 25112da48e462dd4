// The page's copy of the live view, kept up to date from the live socket's
// messages (the protocol is src/core/dashboard/delta.ts):
//
//   {type:"snapshot", version, at, view}          replaces everything
//   {type:"delta", from, to, at, set, put, del}   applies on top of version `from`
//
// A delta whose `from` is not the version held means a message was missed: it
// is not applied, and the caller asks the server for a snapshot ("refresh").
// Keyed sections (services, instances, alerts, releases) are Maps here, so a name like
// "__proto__" or "constructor" is an ordinary key. No DOM: unit-tested in Node
// against the server's diff (test/unit/dashboard-delta.property.test.ts).

export const KEYED = ["services", "instances", "alerts", "releases"];
export const WHOLE = ["environment", "global", "loop", "history", "autoscaling"];

const isObject = (x) => typeof x === "object" && x !== null && !Array.isArray(x);
const entriesOf = (record) => (isObject(record) ? Object.keys(record).map((key) => [key, record[key]]) : []);

/** An empty state: no version until the first snapshot. */
export function createLiveState() {
  return { version: null, at: 0, view: null };
}

function fromWire(view) {
  const out = {};
  for (const section of WHOLE) out[section] = view[section];
  for (const section of KEYED) out[section] = new Map(entriesOf(view[section]));
  return out;
}

/** The state's view as the server's plain records (for tests and debugging). */
export function toWire(view) {
  const out = {};
  for (const section of WHOLE) out[section] = view[section];
  // Object.fromEntries defines own properties, so "__proto__" stays a key.
  for (const section of KEYED) out[section] = Object.fromEntries(view[section]);
  return out;
}

/**
 * Applies one message to `state` (in place). Returns what happened:
 * - {kind:"snapshot"}: everything changed;
 * - {kind:"delta", changed}: `changed` names the keys put or deleted per keyed
 *   section (Sets) and the whole sections that were set;
 * - {kind:"gap"}: a delta that does not follow the version held; nothing changed;
 * - {kind:"ignored"}: not a view message (pong, malformed).
 */
export function applyMessage(state, message) {
  if (!isObject(message)) return { kind: "ignored" };
  if (message.type === "snapshot") {
    if (!isObject(message.view) || !Number.isSafeInteger(message.version)) return { kind: "ignored" };
    state.version = message.version;
    state.at = Number(message.at) || Date.now();
    state.view = fromWire(message.view);
    return { kind: "snapshot" };
  }
  if (message.type !== "delta") return { kind: "ignored" };
  if (state.view === null || message.from !== state.version || !Number.isSafeInteger(message.to)) return { kind: "gap" };
  const changed = { whole: new Set() };
  for (const section of KEYED) changed[section] = new Set();
  const set = isObject(message.set) ? message.set : {};
  for (const section of WHOLE) {
    if (!Object.prototype.hasOwnProperty.call(set, section)) continue;
    state.view[section] = set[section];
    changed.whole.add(section);
  }
  const put = isObject(message.put) ? message.put : {};
  const del = isObject(message.del) ? message.del : {};
  for (const section of KEYED) {
    const map = state.view[section];
    const gone = Object.prototype.hasOwnProperty.call(del, section) && Array.isArray(del[section]) ? del[section] : [];
    for (const key of gone) {
      map.delete(key);
      changed[section].add(key);
    }
    const puts = Object.prototype.hasOwnProperty.call(put, section) ? put[section] : null;
    for (const [key, value] of entriesOf(puts)) {
      map.set(key, value);
      changed[section].add(key);
    }
  }
  state.version = message.to;
  state.at = Number(message.at) || Date.now();
  return { kind: "delta", changed };
}
