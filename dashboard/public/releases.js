// The release panel (issue #20): each service's release while it runs or is
// paused, and for an hour after it ended, near the top of the page. Per
// release: the versions compared, a weight bar with the steps, the state, the
// time to the next step, the metrics against their thresholds, the last
// transitions, and Promote, Pause/Resume and Abort.
//
// Cards are built once per release and updated in place, so a button the
// keyboard is on keeps its focus while the numbers change every second.

import { RELEASE_VERB, pending, releaseKey, runReleaseAction } from "./actions.js";
import { byId, h, setAttr, setClass, setHidden, setText } from "./dom.js";
import { fmtTime, toDate } from "./format.js";
import { jumpLink } from "./panels.js";
import { FINAL_STATES, allowedActions, isActiveRelease, metricRows, orderedReleases, timingText, versionsText, weightLabel } from "./release-model.js";

const SVG = "http://www.w3.org/2000/svg";
const STATE_CLASS = { running: "rel-running", paused: "rel-paused", promoted: "rel-promoted", "rolled-back": "rel-rolled-back", aborted: "rel-aborted" };
const VERDICT_CLASS = { pass: "status-healthy", fail: "status-unhealthy", inconclusive: "badge-warn", pending: "badge-neutral" };
const KIND_TEXT = { started: "started", advanced: "stepped up", extended: "step extended", paused: "paused", resumed: "resumed", promoted: "promoted", "rolled-back": "rolled back", aborted: "aborted" };

let ctx = null;
/** service → card refs. */
const cards = new Map();
let lastOrder = "";

function svgNode(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** The weight bar: a track, the canary's share, and a tick at each step (SVG attributes: the CSP allows no inline style). */
function weightBar() {
  const svg = svgNode("svg", { class: "rel-bar", viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false" });
  const fill = svgNode("rect", { class: "rel-bar-fill", x: 0, y: 0, height: 10, width: 0 });
  const ticks = svgNode("g", { class: "rel-bar-ticks" });
  svg.append(svgNode("rect", { class: "rel-bar-track", x: 0, y: 0, width: 100, height: 10 }), fill, ticks);
  return { svg, fill, ticks, steps: "" };
}

function buildCard(service) {
  const title = h("h3", { className: "rel-title" }, [jumpLink(service, service, null, "jump rel-service")]);
  const versions = h("span", { className: "rel-versions", attrs: { "data-testid": `release-versions-${service}` } });
  const state = h("span", { className: "badge", attrs: { "data-testid": `release-state-${service}` } });
  const dry = h("span", { className: "badge badge-neutral", text: "dry run", attrs: { title: "Judged and reported like a release, never routed" } });
  const bar = weightBar();
  const weight = h("strong", { className: "rel-weight", attrs: { "data-testid": `release-weight-${service}` } });
  const meter = h("div", { className: "rel-meter", attrs: { role: "img" } }, [bar.svg]);
  const steps = h("ol", { className: "rel-steps", attrs: { "aria-label": "Steps (canary weight)" } });
  const timing = h("p", { className: "rel-timing small", attrs: { "data-testid": `release-timing-${service}` } });
  const verdict = h("span", { className: "badge" });
  const since = h("span", { className: "muted small" });
  const tbody = h("tbody");
  const canaryHead = h("th", { text: "Canary", attrs: { scope: "col" } });
  const table = h("table", { className: "rel-table", attrs: { "data-testid": `release-metrics-${service}` } }, [
    h("caption", { className: "visually-hidden", text: `The canary against the stable side of ${service}, with the thresholds` }),
    h("thead", {}, [h("tr", {}, [h("td"), canaryHead, h("th", { text: "Stable", attrs: { scope: "col" } }), h("th", { text: "Threshold", attrs: { scope: "col" } })])]),
    tbody,
  ]);
  const reason = h("p", { className: "rel-reason small" });
  const history = h("ol", { className: "rel-history small", attrs: { "aria-label": "Last transitions, newest first" } });
  const more = h("p", { className: "muted small" });
  const group = h("div", { className: "actions rel-actions", attrs: { role: "group", "aria-label": `Release actions for ${service}` } });
  const buttons = {};
  const button = (action, testid, className) => {
    // The action is read at click time: the Pause/Resume button changes it with the state.
    const node = h("button", { className: `button button-small${className}`, text: RELEASE_VERB[action], attrs: { type: "button", "data-testid": testid, "data-action": action } });
    node.addEventListener("click", () => {
      const release = ctx.live.view && ctx.live.view.releases.get(service);
      const chosen = node.getAttribute("data-action");
      if (release && chosen) void runReleaseAction(service, release, chosen, () => ctx.requestRender());
    });
    group.append(node);
    return node;
  };
  buttons.promote = button("promote", `release-${service}-promote`, "");
  buttons.toggle = button("pause", `release-${service}-pause-resume`, "");
  buttons.abort = button("abort", `release-${service}-abort`, " button-danger-outline");

  const node = h("article", { className: "rel", attrs: { "data-testid": `release-${service}`, "aria-label": `Release of ${service}` } }, [
    h("div", { className: "rel-head" }, [title, state, dry, versions]),
    // Two columns when the card is wide (one release), one when it is not.
    h("div", { className: "rel-body" }, [
      h("div", { className: "rel-main" }, [h("div", { className: "rel-weight-row" }, [weight, meter]), steps, timing, history, more, group]),
      h("div", { className: "rel-analysis" }, [h("div", { className: "rel-analysis-head small" }, [h("span", { text: "Analysis " }), verdict, since]), table, reason]),
    ]),
  ]);
  return { service, node, versions, state, dry, bar, weight, meter, steps, stepsKey: "", timing, verdict, since, table, tbody, canaryHead, reason, history, historyKey: "", tableKey: "", more, buttons, release: null };
}

function updateBar(ref, release) {
  ref.bar.fill.setAttribute("width", String(Math.max(0, Math.min(100, release.weight))));
  const key = `${release.steps.join(",")}|${isActiveRelease(release) ? release.stepIndex : -1}`;
  if (ref.bar.steps === key) return;
  ref.bar.steps = key;
  ref.bar.ticks.replaceChildren(
    ...release.steps
      .filter((step) => step < 100)
      .map((step, i) => svgNode("line", { class: i === release.stepIndex && isActiveRelease(release) ? "rel-tick rel-tick-current" : "rel-tick", x1: step, x2: step, y1: 0, y2: 10 })),
  );
}

function updateSteps(ref, release) {
  const active = isActiveRelease(release);
  const key = `${release.steps.join(",")}|${release.stepIndex}|${active}`;
  if (ref.stepsKey === key) return;
  ref.stepsKey = key;
  ref.steps.replaceChildren(
    ...release.steps.map((step, i) => {
      const current = active && i === release.stepIndex;
      const done = i < release.stepIndex || release.state === "promoted";
      return h("li", { className: `rel-step${current ? " rel-step-current" : done ? " rel-step-done" : ""}`, text: `${step} %`, attrs: { "aria-current": current ? "step" : undefined } });
    }),
  );
}

function updateTable(ref, release) {
  const rows = metricRows(release);
  const key = JSON.stringify(rows);
  if (ref.tableKey === key) return;
  ref.tableKey = key;
  ref.tbody.replaceChildren(
    ...rows.map((row) =>
      h("tr", { className: `rel-row${row.state === "fail" ? " rel-row-fail" : ""}`, attrs: { "data-metric": row.metric, "data-state": row.state || undefined } }, [
        h("th", { text: row.label, attrs: { scope: "row" } }),
        h("td", { className: "num", text: row.canary }),
        h("td", { className: "num", text: row.stable }),
        h(
          "td",
          { className: "rel-threshold" },
          row.parts.length
            ? row.parts.map((part) => h("span", { className: `rel-limit${part.state ? ` rel-limit-${part.state}` : ""}`, text: part.text, attrs: { title: part.state ? `this step: ${part.state}` : undefined } }))
            : [document.createTextNode("—")],
        ),
      ]),
    ),
  );
}

function updateHistory(ref, release) {
  const entries = Array.isArray(release.history) ? release.history : [];
  const key = JSON.stringify(entries);
  if (ref.historyKey !== key) {
    ref.historyKey = key;
    ref.history.replaceChildren(
      ...entries.map((t) => {
        const at = toDate(t.at);
        return h("li", { className: `rel-event rel-event-${t.kind}` }, [
          h("time", { className: "muted", text: fmtTime(t.at), attrs: { datetime: at ? at.toISOString() : undefined } }),
          h("span", { className: "rel-event-kind", text: ` ${KIND_TEXT[t.kind] || t.kind} → ${t.weight} % ` }),
          h("span", { className: "muted", text: t.actor === "release-controller" ? "controller" : t.actor }),
          h("span", { className: "rel-event-detail", text: t.detail, attrs: { title: t.detail } }),
        ]);
      }),
    );
  }
  const older = (release.transitions || 0) - entries.length;
  setHidden(ref.more, older <= 0);
  if (older > 0) setText(ref.more, `${older} earlier transition(s): GET /admin/services/${ref.service}/releases/${release.id}`);
}

function updateButtons(ref, release) {
  const allowed = allowedActions(release);
  const busy = pending.has(releaseKey(ref.service));
  const toggle = release.state === "paused" ? "resume" : "pause";
  ref.buttons.toggle.setAttribute("data-action", toggle);
  setText(ref.buttons.toggle, RELEASE_VERB[toggle]);
  for (const [name, action] of [["promote", "promote"], ["toggle", toggle], ["abort", "abort"]]) {
    const button = ref.buttons[name];
    button.disabled = busy || !allowed.has(action);
    setAttr(button, "aria-label", `${RELEASE_VERB[action]} the release of ${release.version} on ${ref.service}`);
  }
}

function updateCard(ref, release, now) {
  ref.release = release;
  const summary = ctx.summaries.get(ref.service);
  setText(ref.versions, versionsText(release, summary && summary.versions));
  setText(ref.state, release.state === "paused" && release.pausedBy === "controller" ? "paused (controller)" : release.state);
  setClass(ref.state, `badge rel-state ${STATE_CLASS[release.state] || ""}`);
  setHidden(ref.dry, !release.dryRun);
  setClass(ref.node, `rel ${STATE_CLASS[release.state] || ""}`);
  setText(ref.weight, `${release.weight} %`);
  setAttr(ref.meter, "aria-label", weightLabel(release));
  setText(ref.canaryHead, `Canary ${release.version}`);
  updateBar(ref, release);
  updateSteps(ref, release);
  tick(ref, now);
  const analysis = release.analysis;
  setText(ref.verdict, analysis ? analysis.verdict : "none");
  setClass(ref.verdict, `badge ${analysis ? VERDICT_CLASS[analysis.verdict] || "badge-neutral" : "status-none"}`);
  const ended = FINAL_STATES.includes(release.state);
  setText(ref.since, analysis ? ` since ${fmtTime(analysis.windowStartedAt)}${ended ? " (its last judgement)" : ""}` : ended ? " (it ended before any judgement)" : " no window yet");
  // An ended release that nothing judged has no numbers to show against its thresholds.
  setHidden(ref.table, ended && !analysis);
  updateTable(ref, release);
  setText(ref.reason, analysis && analysis.reason ? analysis.reason : "");
  setHidden(ref.reason, !(analysis && analysis.reason));
  updateHistory(ref, release);
  updateButtons(ref, release);
}

/** The countdown to the step's end: updated every second, between live updates too. */
function tick(ref, now) {
  if (ref.release) setText(ref.timing, `${timingText(ref.release, now)}${FINAL_STATES.includes(ref.release.state) && ref.release.endedAt ? ` at ${fmtTime(ref.release.endedAt)}` : ""}`);
}

/** Renders the panel from ctx (the view's releases, the services' version counts); hidden when there is no release to show. */
export function renderReleases(now) {
  const view = ctx.live.view;
  const releases = orderedReleases(view.releases);
  const panel = byId("releases-panel");
  setHidden(panel, releases.length === 0);
  byId("layout").classList.toggle("has-releases", releases.length > 0);
  const active = releases.filter(([, r]) => isActiveRelease(r)).length;
  setText(byId("releases-count"), releases.length ? `(${active} active${releases.length > active ? `, ${releases.length - active} ended in the last hour` : ""})` : "");
  const seen = new Set();
  for (const [service, release] of releases) {
    let ref = cards.get(service);
    if (!ref || (ref.release && ref.release.id !== release.id)) {
      if (ref) ref.node.remove();
      ref = buildCard(service);
      cards.set(service, ref);
    }
    seen.add(service);
    updateCard(ref, release, now);
  }
  for (const [service, ref] of cards) {
    if (seen.has(service)) continue;
    ref.node.remove();
    cards.delete(service);
  }
  const order = releases.map(([service]) => service).join("\u0000");
  if (order !== lastOrder) {
    lastOrder = order;
    const list = byId("releases-list");
    let prev = null;
    for (const [service] of releases) {
      const node = cards.get(service).node;
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== node) list.insertBefore(node, want);
      prev = node;
    }
  }
}

export function initReleases(context) {
  ctx = context;
  setInterval(() => {
    if (document.hidden) return;
    const now = Date.now();
    for (const ref of cards.values()) if (ref.release && ref.release.state === "running") tick(ref, now);
  }, 1000);
}
