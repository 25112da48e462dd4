/**
 * The live dashboard's wire protocol: a versioned snapshot of the live view
 * (live-view.ts), then deltas that carry only what changed.
 *
 *   {type:"snapshot", version, at, view}
 *   {type:"delta", from, to, at, set?, put?, del?}
 *
 * - `services`, `instances`, `alerts` and `releases` (by service) are keyed sections: a delta puts the
 *   entries that changed (whole entries, replaced by key) and deletes the keys
 *   that went away.
 * - `environment`, `global`, `loop`, `history` and `autoscaling` are whole
 *   sections: a delta sets the ones that changed.
 * - `to` is always `from + 1`. A client applies a delta only when `from` is the
 *   version it holds; otherwise it has missed one and asks for a snapshot.
 *
 * The feed (the last view sent and its version) is a value: `advanceFeed`
 * returns the next feed and the delta between them. It keeps each entry's JSON
 * so that the next diff serialises only the new view. Pure; no clock.
 */
import { setOwn } from "../metrics/own";
import type { LiveView } from "./live-view";

export type KeyedSection = "services" | "instances" | "alerts" | "releases";
export type WholeSection = "environment" | "global" | "loop" | "history" | "autoscaling";

export const KEYED_SECTIONS: readonly KeyedSection[] = ["services", "instances", "alerts", "releases"];
export const WHOLE_SECTIONS: readonly WholeSection[] = ["environment", "global", "loop", "history", "autoscaling"];

export interface LiveSnapshot {
  readonly type: "snapshot";
  readonly version: number;
  /** When the view was built (epoch ms). */
  readonly at: number;
  readonly view: LiveView;
}

export interface LiveDelta {
  readonly type: "delta";
  readonly from: number;
  readonly to: number;
  readonly at: number;
  /** Whole sections that changed, replaced. */
  readonly set?: Partial<Pick<LiveView, WholeSection>>;
  /** Keyed entries that are new or changed, replaced whole. */
  readonly put?: { readonly [K in KeyedSection]?: LiveView[K] };
  /** Keys that went away. */
  readonly del?: { readonly [K in KeyedSection]?: readonly string[] };
}

export type LiveMessage = LiveSnapshot | LiveDelta;

/** Each section's JSON (keyed sections: each entry's), to compare the next view with. */
interface Encoded {
  readonly whole: Readonly<Record<WholeSection, string>>;
  readonly keyed: Readonly<Record<KeyedSection, ReadonlyMap<string, string>>>;
}

export interface LiveFeed {
  readonly version: number;
  readonly at: number;
  readonly view: LiveView;
  readonly encoded: Encoded;
}

function encode(view: LiveView): Encoded {
  const keyed = (record: Readonly<Record<string, unknown>>): Map<string, string> => new Map(Object.keys(record).map((key) => [key, JSON.stringify(record[key])]));
  return {
    whole: {
      environment: JSON.stringify(view.environment),
      global: JSON.stringify(view.global),
      loop: JSON.stringify(view.loop),
      history: JSON.stringify(view.history),
      autoscaling: JSON.stringify(view.autoscaling),
    },
    keyed: { services: keyed(view.services), instances: keyed(view.instances), alerts: keyed(view.alerts), releases: keyed(view.releases) },
  };
}

/** The first feed: what a snapshot at `version` sends. */
export function startFeed(view: LiveView, at: number, version: number): LiveFeed {
  return { version, at, view, encoded: encode(view) };
}

export function snapshotOf(feed: LiveFeed): LiveSnapshot {
  return { type: "snapshot", version: feed.version, at: feed.at, view: feed.view };
}

/** The next feed, one version on, and the delta from `feed` to it (with no section when nothing but `at` changed). */
export function advanceFeed(feed: LiveFeed, view: LiveView, at: number): { readonly feed: LiveFeed; readonly delta: LiveDelta } {
  const encoded = encode(view);
  const set: Record<string, unknown> = {};
  for (const section of WHOLE_SECTIONS) if (encoded.whole[section] !== feed.encoded.whole[section]) set[section] = view[section];
  const put: Record<string, Record<string, unknown>> = {};
  const del: Record<string, string[]> = {};
  for (const section of KEYED_SECTIONS) {
    const before = feed.encoded.keyed[section];
    const after = encoded.keyed[section];
    const record = view[section] as Readonly<Record<string, unknown>>;
    const changed: Record<string, unknown> = {};
    let any = false;
    for (const [key, json] of after) {
      if (before.get(key) === json) continue;
      setOwn(changed, key, record[key]);
      any = true;
    }
    if (any) put[section] = changed;
    const gone = [...before.keys()].filter((key) => !after.has(key));
    if (gone.length > 0) del[section] = gone;
  }
  const version = feed.version + 1;
  const delta: LiveDelta = {
    type: "delta",
    from: feed.version,
    to: version,
    at,
    ...(Object.keys(set).length > 0 ? { set: set as LiveDelta["set"] } : {}),
    ...(Object.keys(put).length > 0 ? { put: put as LiveDelta["put"] } : {}),
    ...(Object.keys(del).length > 0 ? { del: del as LiveDelta["del"] } : {}),
  };
  return { feed: { version, at, view, encoded }, delta };
}

/** A view with a delta applied (the caller checks that `delta.from` is the view's version). */
export function applyDelta(view: LiveView, delta: LiveDelta): LiveView {
  const keyed = <K extends KeyedSection>(section: K): LiveView[K] => {
    const put = delta.put?.[section];
    const del = delta.del?.[section];
    if (put === undefined && del === undefined) return view[section];
    const next: Record<string, unknown> = { ...view[section] };
    for (const key of del ?? []) delete next[key];
    if (put !== undefined) for (const key of Object.keys(put)) setOwn(next, key, (put as Readonly<Record<string, unknown>>)[key]);
    return next as LiveView[K];
  };
  const whole = (section: WholeSection) => (delta.set !== undefined && Object.hasOwn(delta.set, section) ? delta.set[section] : view[section]);
  return {
    environment: whole("environment") as LiveView["environment"],
    global: whole("global") as LiveView["global"],
    loop: whole("loop") as LiveView["loop"],
    history: whole("history") as LiveView["history"],
    autoscaling: whole("autoscaling") as LiveView["autoscaling"],
    services: keyed("services"),
    instances: keyed("instances"),
    alerts: keyed("alerts"),
    releases: keyed("releases"),
  };
}
