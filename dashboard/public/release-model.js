// What the release panel derives from the live view's releases (keyed by
// service; src/core/dashboard/live-view.ts LiveRelease): their order, the
// versions each compares, the metrics table with its thresholds, the time to
// the next step and which actions apply. No DOM: unit-tested in Node
// (test/unit/dashboard-releases.test.ts).

export const RELEASE_ACTIONS = ["promote", "pause", "resume", "abort"];
export const FINAL_STATES = ["promoted", "rolled-back", "aborted"];

const isNum = (x) => typeof x === "number" && Number.isFinite(x);
const collator = new Intl.Collator(undefined, { numeric: true });

export const isActiveRelease = (release) => release.state === "running" || release.state === "paused";

/** Which operator actions a state allows (the API answers 409 to the others). */
export function allowedActions(release) {
  if (release.state === "running") return new Set(["promote", "pause", "abort"]);
  if (release.state === "paused") return new Set(["promote", "resume", "abort"]);
  return new Set();
}

/** Order on the panel: active first, then rolled back (the controller undid something), then the rest; newest change first within each. */
const STATE_RANK = { running: 0, paused: 0, "rolled-back": 1, aborted: 2, promoted: 2 };

export function orderedReleases(releases) {
  const entries = [...(releases instanceof Map ? releases : new Map())];
  const lastChange = (r) => (Array.isArray(r.history) && r.history[0] && isNum(r.history[0].at) ? r.history[0].at : r.stepStartedAt || 0);
  return entries.sort(([a, x], [b, y]) => (STATE_RANK[x.state] ?? 3) - (STATE_RANK[y.state] ?? 3) || lastChange(y) - lastChange(x) || collator.compare(a, b));
}

/**
 * The versions a release compares, from the service's instance counts
 * (`versions`: version → count, "" for none): the canary and the rest.
 */
export function versionsCompared(release, versions) {
  const counts = versions instanceof Map ? versions : new Map();
  const stable = [...counts]
    .filter(([version]) => version !== release.version)
    .sort((a, b) => b[1] - a[1] || collator.compare(a[0], b[0]))
    .map(([version, count]) => ({ version: version || "unversioned", count }));
  return { canary: { version: release.version, count: counts.get(release.version) || 0 }, stable };
}

export function versionsText(release, versions) {
  const { canary, stable } = versionsCompared(release, versions);
  const side = (v) => `${v.version} ×${v.count}`;
  return `${side(canary)} vs ${stable.length ? stable.map(side).join(", ") : "nothing"}`;
}

const fmtNumber = (x) => (Number.isInteger(x) ? String(x) : String(Math.round(x * 100) / 100));
const pct = (x) => (isNum(x) ? `${fmtNumber(x)} %` : "—");
const ms = (x) => (isNum(x) ? `${fmtNumber(x)} ms` : "—");

/** A check's state in the table: its result, or null when it is not configured. */
function checkOf(analysis, threshold) {
  const checks = analysis && Array.isArray(analysis.checks) ? analysis.checks : [];
  return checks.find((c) => c.threshold === threshold) || null;
}

function worst(results) {
  if (results.includes("fail")) return "fail";
  if (results.length === 0) return null;
  return results.every((r) => r === "pass") ? "pass" : "unjudged";
}

/**
 * The metrics table: requests, error rate and p95 for the canary and the
 * stable side, each with its thresholds (`parts`, each with the state of its
 * check; `threshold`, their text in one line) and the row's state: fail,
 * pass, unjudged, or null when no threshold applies. A relative threshold
 * shows its rule and, once the stable side is known, the effective limit.
 */
export function metricRows(release) {
  const t = release.thresholds || {};
  const a = release.analysis || null;
  const canary = (a && a.canary) || {};
  const stable = (a && a.stable) || {};
  const requests = (side) => (isNum(side.requests) ? `${side.requests}${isNum(side.failures) && side.failures > 0 ? ` (${side.failures} failed)` : ""}` : "—");

  const limits = (absolute, relative, allowance, fmt, unit) => {
    const parts = [];
    if (isNum(t[absolute])) {
      const check = checkOf(a, absolute);
      parts.push({ text: `≤ ${fmt(t[absolute])}`, state: check ? check.result : null });
    }
    if (isNum(t[relative])) {
      const check = checkOf(a, relative);
      const limit = check && isNum(check.limit) ? ` = ${fmt(check.limit)}` : "";
      parts.push({ text: `≤ ${fmtNumber(t[relative])}× stable + ${fmtNumber(t[allowance] || 0)}${unit}${limit}`, state: check ? check.result : null });
    }
    return parts;
  };

  const enough = isNum(canary.requests) && canary.requests >= t.minRequests;
  const rows = [
    { metric: "requests", label: "Requests", canary: requests(canary), stable: requests(stable), parts: isNum(t.minRequests) ? [{ text: `≥ ${t.minRequests} to judge`, state: null }] : [], state: a === null ? null : enough ? "pass" : "unjudged" },
    { metric: "errorRate", label: "Error rate", canary: pct(canary.errorRatePercent), stable: pct(stable.errorRatePercent), parts: limits("maxErrorRatePercent", "maxErrorRateVsStable", "errorRateAllowancePercent", pct, " pt"), state: null },
    { metric: "p95", label: "p95", canary: ms(canary.p95Ms), stable: ms(stable.p95Ms), parts: limits("maxP95Ms", "maxP95VsStable", "p95AllowanceMs", ms, " ms"), state: null },
  ];
  for (const row of rows) {
    if (row.metric !== "requests") row.state = worst(row.parts.map((p) => p.state).filter((s) => s !== null));
    row.threshold = row.parts.map((p) => p.text).join(" · ") || "—";
  }
  return rows;
}

/** "4 m 05 s", "59 s", "1 h 02 m". */
export function fmtDuration(msLeft) {
  const total = Math.max(0, Math.ceil(msLeft / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} m`;
  if (m > 0) return `${m} m ${String(s).padStart(2, "0")} s`;
  return `${s} s`;
}

/** When the release moves next, as a sentence for the card. */
export function timingText(release, now) {
  const steps = Array.isArray(release.steps) ? release.steps : [];
  const next = steps[release.stepIndex + 1];
  if (release.state === "running") {
    if (!isNum(release.judgeAt)) return "running";
    const left = release.judgeAt - now;
    const what = next === undefined ? "judged" : next === 100 ? "promoted if it holds" : `to ${next} % if it holds`;
    return left > 0 ? `Step ends in ${fmtDuration(left)} (${what})` : `Step ends now (${what})`;
  }
  if (release.state === "paused") {
    return release.pausedBy === "controller" ? "Paused by the controller: too few requests to judge. Resume or promote." : "Paused by an operator: the weight holds; a crossed threshold still rolls it back.";
  }
  const verb = { promoted: "Promoted", "rolled-back": "Rolled back", aborted: "Aborted" }[release.state] || release.state;
  return verb;
}

/** The weight bar's accessible name. */
export function weightLabel(release) {
  const steps = Array.isArray(release.steps) ? release.steps : [];
  return `Canary weight ${release.weight} %${isActiveRelease(release) ? `, step ${release.stepIndex + 1} of ${steps.length}` : ""} (steps ${steps.join(", ")} %)`;
}
