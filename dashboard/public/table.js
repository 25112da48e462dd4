// The service table: one row per service (status, healthy/total, in flight,
// rate, p95 and errors with sparklines), each expandable to its instances with
// their lifecycle buttons. Rows are built once per service and instance and
// updated in place; only the rows a search and filter leave are in the DOM, and
// instances only for expanded services.

import { ACTIONS, ACTION_VERB, pending, runAction } from "./actions.js";
import { sparkHistory } from "./charts.js";
import { byId, h, setAttr, setClass, setHidden, setSpark, setText, spark } from "./dom.js";
import { describeError, fmtInflight, fmtInt, fmtMs, fmtPct, fmtRps, fmtTarget, fmtWeight, shortId } from "./format.js";
import { DEFAULT_DIRECTION, SORT_KEYS, adminOf, instanceProblems, isEjected, sortRows, versionMixText, visibleRows } from "./model.js";

/** Instances listed per expanded service before a "show all" button. */
const INSTANCES_SHOWN = 100;
const HIGHLIGHT_MS = 4_000;

export const STATUS_CLASS = {
  healthy: "status-healthy",
  degraded: "status-degraded",
  unhealthy: "status-unhealthy",
  stopped: "status-stopped",
  "no-instances": "status-none",
};

let ctx = null;
/** name → service row refs (kept while the service exists, also when filtered out). */
const rows = new Map();
let rowCounter = 0;
let lastOrder = "";

// ------------------------------------------------------------------ building rows

function actionButtons(service, instance, label, testPrefix) {
  const buttons = {};
  const group = h("div", { className: "actions", attrs: { role: "group", "aria-label": `Actions for ${label}` } });
  for (const action of ACTIONS) {
    const button = h("button", {
      className: `button button-small${action === "stop" ? " button-danger-outline" : ""}`,
      text: ACTION_VERB[action],
      attrs: { type: "button", "data-testid": `${testPrefix}-${action}`, "aria-label": `${ACTION_VERB[action]} ${label}` },
    });
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      void runAction(service, instance, action, label, () => ctx.requestRender());
    });
    buttons[action] = button;
    group.append(button);
  }
  return { group, buttons };
}

function updateButtons(buttons, adminState, key) {
  const busy = pending.has(key);
  buttons.start.disabled = busy || adminState === "active";
  buttons.stop.disabled = busy || adminState === "stopped";
  buttons.restart.disabled = busy;
}

function numberCell(className, withSpark) {
  const value = h("span", { className: "num-value", text: "—" });
  const svg = withSpark ? spark() : null;
  const td = h("td", { className: `num ${className}` }, [value, svg]);
  return { td, value, svg };
}

function buildServiceRow(name) {
  const id = `svc-detail-${++rowCounter}`;
  const badge = h("span", { className: "badge", attrs: { "data-testid": `status-${name}` } });
  const panic = h("span", { className: "badge badge-panic", text: "panic", attrs: { title: "No instance is available: traffic is spread over all instances (panic mode)" } });
  panic.hidden = true;
  const versions = h("span", { className: "svc-versions", attrs: { "data-testid": `versions-${name}` } });
  const count = h("span", { className: "inst-count" });
  const bad = h("span", { className: "inst-bad" });
  const inflight = numberCell("c-inflight opt", false);
  const rps = numberCell("c-rps", true);
  const p95 = numberCell("c-p95 opt", true);
  const errors = numberCell("c-err", true);
  const tr = h("tr", { className: "svc-row", attrs: { tabindex: "0", "aria-expanded": "false", "aria-controls": id, "data-service": name } }, [
    h("th", { className: "c-name", attrs: { scope: "row" } }, [h("span", { className: "chev", attrs: { "aria-hidden": "true" } }), h("span", { className: "svc-name", text: name, attrs: { title: name } }), versions]),
    h("td", { className: "c-status" }, [badge, panic]),
    h("td", { className: "num c-inst" }, [count, bad]),
    inflight.td,
    rps.td,
    p95.td,
    errors.td,
  ]);
  const { group, buttons } = actionButtons(name, null, `service ${name}`, `action-${name}`);
  const meta = h("span", { className: "detail-meta muted small" });
  const note = h("span", { className: "detail-note small" });
  const instBody = h("tbody");
  const instTable = h("table", { className: "inst-table" }, [
    h("thead", {}, [
      h("tr", {}, [
        h("th", { text: "Instance", attrs: { scope: "col" } }),
        h("th", { text: "Target", attrs: { scope: "col" } }),
        h("th", { text: "Health · state", attrs: { scope: "col" } }),
        h("th", { className: "num", text: "In flight", attrs: { scope: "col" } }),
        h("th", { text: "Last check", attrs: { scope: "col" } }),
        h("th", { text: "Actions", attrs: { scope: "col" } }),
      ]),
    ]),
    instBody,
  ]);
  const empty = h("p", { className: "muted small", text: "No instances registered." });
  const showAll = h("button", { className: "button button-small", attrs: { type: "button" } });
  showAll.addEventListener("click", () => {
    ctx.showAll.add(name);
    ctx.render();
  });
  const detail = h("tr", { className: "svc-detail", attrs: { id } }, [
    h("td", { attrs: { colspan: "7" } }, [h("div", { className: "detail-head" }, [h("strong", { text: name }), meta, note, group]), empty, instTable, showAll]),
  ]);
  detail.hidden = true;
  const tbody = h("tbody", { className: "svc", attrs: { "data-testid": `service-${name}` } }, [tr, detail]);
  return { name, tbody, tr, detail, badge, panic, versions, count, bad, inflight, rps, p95, errors, buttons, meta, note, instBody, instTable, empty, showAll, instances: new Map() };
}

function buildInstanceRow(service, id, instance) {
  const name = h("span", { className: "inst-name" });
  const code = h("code", { className: "inst-id", text: shortId(id), attrs: { title: id } });
  const version = h("span", { className: "badge badge-version" });
  const target = h("span", { className: "ellipsis" });
  const health = h("span", { className: "badge" });
  const state = h("span", { className: "inst-state" });
  const inflight = h("td", { className: "num i-inflight" });
  const check = h("span", { className: "check" });
  const errClass = h("span", { className: "badge badge-error" });
  const err = h("span", { className: "err" });
  const trace = h("span", { className: "trace muted" });
  const weight = h("span", { className: "muted small weight" });
  // The dialog and the buttons name the instance as the operator knows it: its metadata name, else its id.
  const label = `instance ${instance && instance.name ? instance.name : shortId(id)} of ${service}`;
  const { group, buttons } = actionButtons(service, id, label, `instance-action-${id}`);
  const tr = h("tr", { className: "inst", attrs: { "data-testid": `instance-${id}`, "data-instance": id, tabindex: "-1" } }, [
    h("th", { className: "i-id", attrs: { scope: "row" } }, [name, version, code]),
    h("td", { className: "i-target" }, [target]),
    h("td", { className: "i-health" }, [health, state, weight]),
    inflight,
    h("td", { className: "i-check" }, [check, errClass, err, trace]),
    h("td", { className: "i-actions" }, [group]),
  ]);
  return { tr, name, version, target, health, state, weight, inflight, check, errClass, err, trace, buttons };
}

// ------------------------------------------------------------------ updating rows

function updateInstanceRow(ref, service, id, instance, now) {
  setText(ref.name, instance.name || "");
  setText(ref.version, instance.version || "");
  setHidden(ref.version, !instance.version);
  setAttr(ref.version, "title", instance.version ? `version ${instance.version}` : null);
  const target = fmtTarget(instance.target);
  setText(ref.target, target);
  setAttr(ref.target, "title", target);
  setText(ref.health, instance.health || "unknown");
  setClass(ref.health, `badge ${STATUS_CLASS[instance.health] || "status-none"}`);
  const admin = adminOf(instance);
  const states = [];
  if (admin !== "active") states.push(admin);
  if (isEjected(instance, now)) states.push("ejected");
  if (instance.heartbeat === "critical") states.push("heartbeat lapsed");
  setText(ref.state, states.length ? states.join(" · ") : "active");
  setClass(ref.state, `inst-state${states.length ? " inst-state-attention" : " muted"}`);
  setAttr(ref.state, "title", instance.warming ? "warming up: slow start is ramping its weight up" : null);
  const weight = typeof instance.weight === "number" ? instance.weight : 1;
  setText(ref.weight, `${weight !== 1 ? ` · w ${fmtWeight(weight)}` : ""}${instance.warming ? " ↗" : ""}`);
  setAttr(ref.weight, "title", weight !== 1 || instance.warming ? `weight ${fmtWeight(weight)}${instance.warming ? ", warming up (slow start)" : ""}` : null);
  setText(ref.inflight, fmtInflight(instance.inflight, instance.websockets));
  const error = describeError(instance.error);
  // With an error, its class badge says the probe failed; the word is kept for a timeout or a failure without one.
  const hideResult = error !== null && error.cls !== null && instance.check === "fail";
  setText(ref.check, hideResult ? "" : instance.check || "not checked");
  setClass(ref.check, `check${instance.check && instance.check !== "pass" ? " check-fail" : ""}`);
  setAttr(ref.check, "title", hideResult ? null : instance.check ? `last probe: ${instance.check}` : null);
  setText(ref.errClass, error && error.cls ? error.cls : "");
  setHidden(ref.errClass, !(error && error.cls));
  setText(ref.err, error ? error.text : "");
  setAttr(ref.err, "title", error ? error.text : null);
  setText(ref.trace, error && error.traceId ? `trace ${error.traceId}` : "");
  const problems = instanceProblems(instance, now);
  setClass(ref.tr, `inst${problems.length ? ` inst-problem inst-${problems[0].replace(/\s+/g, "-")}` : ""}${ref.tr.classList.contains("highlight") ? " highlight" : ""}`);
  updateButtons(ref.buttons, admin, `${service}/${id}`);
}

function updateInstances(ref, row, now) {
  const view = ctx.live.view;
  const limit = ctx.showAll.has(ref.name) ? Infinity : INSTANCES_SHOWN;
  const ids = row.ids.length > limit ? row.ids.slice(0, limit) : row.ids;
  const shown = new Set(ids);
  for (const [id, inst] of ref.instances) {
    if (shown.has(id)) continue;
    inst.tr.remove();
    if (!view.instances.has(id)) ref.instances.delete(id);
  }
  let prev = null;
  for (const id of ids) {
    let inst = ref.instances.get(id);
    if (!inst) {
      inst = buildInstanceRow(ref.name, id, view.instances.get(id));
      ref.instances.set(id, inst);
    }
    updateInstanceRow(inst, ref.name, id, view.instances.get(id), now);
    const want = prev ? prev.nextSibling : ref.instBody.firstChild;
    if (want !== inst.tr) ref.instBody.insertBefore(inst.tr, want);
    prev = inst.tr;
  }
  const hidden = row.ids.length - ids.length;
  setHidden(ref.showAll, hidden === 0);
  if (hidden > 0) setText(ref.showAll, `Show all ${fmtInt(row.ids.length)} (${fmtInt(hidden)} more)`);
  setHidden(ref.empty, row.ids.length > 0);
  setHidden(ref.instTable, row.ids.length === 0);
}

function setNumber(cell, text, values) {
  setText(cell.value, text);
  if (cell.svg && values) setSpark(cell.svg, values);
}

function updateServiceRow(ref, row, now) {
  const view = ctx.live.view;
  const service = view.services.get(ref.name) || { status: "no-instances", admin: "active", inflight: 0, rps: 0, recent: {} };
  const s = ctx.summaries.get(ref.name) || { total: 0, healthy: 0, problems: 0, ids: [] };
  const status = service.status || "unknown";
  setText(ref.badge, status);
  setClass(ref.badge, `badge ${STATUS_CLASS[status] || "status-none"}`);
  setHidden(ref.panic, !service.panic);
  const mix = versionMixText(s.versions);
  setText(ref.versions, mix);
  setHidden(ref.versions, mix === "");
  setAttr(ref.versions, "title", mix ? `instances per version: ${mix}` : null);
  setText(ref.count, `${fmtInt(s.healthy)}/${fmtInt(s.total)}`);
  setText(ref.bad, s.problems > 0 ? `${fmtInt(s.problems)}!` : "");
  setAttr(ref.bad, "title", s.problems > 0 ? `${s.problems} instance(s) need attention` : null);
  const history = sparkHistory(ref.name);
  setNumber(ref.inflight, fmtInflight(service.inflight, service.websockets), null);
  setNumber(ref.rps, fmtRps(service.rps), history && history.rps);
  setNumber(ref.p95, fmtMs(service.recent && service.recent.p95), history && history.p95);
  setNumber(ref.errors, fmtPct(service.recent && service.recent.errorRate), history && history.errors);
  setClass(ref.tr, `svc-row svc-${status}${ref.tr.classList.contains("highlight") ? " highlight" : ""}`);

  const expanded = isExpanded(ref.name, row);
  setAttr(ref.tr, "aria-expanded", expanded ? "true" : "false");
  setHidden(ref.detail, !expanded);
  if (!expanded) {
    // Collapsed: its instance rows leave the DOM (they are rebuilt cheaply when it opens again).
    if (ref.instBody.firstChild) {
      ref.instBody.replaceChildren();
      ref.instances.clear();
    }
    return;
  }
  setText(ref.meta, `${service.strategy || ""}${service.strategy ? " · " : ""}${fmtInt(s.total)} instance(s) · ${fmtInt(service.requests)} requests`);
  setText(ref.note, row.narrowed ? `Showing ${fmtInt(row.ids.length)} of ${fmtInt(s.total)} (search or filter).` : "");
  updateButtons(ref.buttons, service.admin, ref.name);
  updateInstances(ref, row, now);
}

function isExpanded(name, row) {
  if (ctx.collapsed.has(name)) return false;
  return ctx.expanded.has(name) || (ctx.filterActive() && row.narrowed && row.ids.length > 0);
}

// ------------------------------------------------------------------ the table

function updateSortHeaders() {
  for (const th of byId("services-table").querySelectorAll("th[data-sort]")) {
    const key = th.getAttribute("data-sort");
    setAttr(th, "aria-sort", key === ctx.sort.key ? (ctx.sort.dir === 1 ? "ascending" : "descending") : null);
  }
}

/** Renders the table from ctx (the view, summaries, filter, sort, expanded sets). */
export function renderTable(now) {
  const view = ctx.live.view;
  const table = byId("services-table");
  const visible = sortRows(visibleRows(view, ctx.summaries, ctx.filter, now), view, ctx.summaries, ctx.sort.key, ctx.sort.dir);
  const seen = new Set();
  for (const row of visible) {
    let ref = rows.get(row.name);
    if (!ref) {
      ref = buildServiceRow(row.name);
      rows.set(row.name, ref);
    }
    seen.add(row.name);
    updateServiceRow(ref, row, now);
  }
  const order = visible.map((row) => row.name).join("\u0000");
  if (order !== lastOrder) {
    lastOrder = order;
    // Re-order (and add or remove) whole tbodies; rows left out by the filter are detached, not destroyed.
    let prev = table.tHead;
    for (const row of visible) {
      const tbody = rows.get(row.name).tbody;
      if (prev.nextSibling !== tbody) table.insertBefore(tbody, prev.nextSibling);
      prev = tbody;
    }
    for (const [name, ref] of rows) if (!seen.has(name)) ref.tbody.remove();
  }
  for (const name of rows.keys()) if (!view.services.has(name) && !ctx.summaries.has(name)) rows.delete(name);
  const totalServices = ctx.summaries.size;
  const totalInstances = view.instances.size;
  const shownInstances = visible.reduce((n, row) => n + row.ids.length, 0);
  setText(
    byId("services-count"),
    ctx.filterActive()
      ? `${fmtInt(visible.length)} of ${fmtInt(totalServices)} services · ${fmtInt(shownInstances)} of ${fmtInt(totalInstances)} instances match`
      : `${fmtInt(totalServices)} services · ${fmtInt(totalInstances)} instances`,
  );
  setHidden(byId("services-empty"), visible.length > 0);
  setText(byId("services-empty"), totalServices === 0 ? "No services are registered yet." : "No service or instance matches the search and filter.");
  updateSortHeaders();
}

function toggle(name) {
  const ref = rows.get(name);
  const open = ref && ref.tr.getAttribute("aria-expanded") === "true";
  if (open) {
    ctx.expanded.delete(name);
    ctx.collapsed.add(name);
  } else {
    ctx.collapsed.delete(name);
    ctx.expanded.add(name);
  }
  ctx.render();
}

function flash(node) {
  for (const old of document.querySelectorAll(".highlight")) old.classList.remove("highlight");
  node.classList.add("highlight");
  setTimeout(() => node.classList.remove("highlight"), HIGHLIGHT_MS);
}

/**
 * Shows a service (and one of its instances): clears a search or filter that
 * hides it, expands the service, scrolls the row into view, highlights and
 * focuses it. False when the view has no such service or instance.
 */
export function reveal(name, id) {
  const view = ctx.live.view;
  if (!view) return false;
  let service = name;
  let instance = id && view.instances.has(id) ? id : null;
  if (instance && !service) service = view.instances.get(instance).service;
  if (instance && view.instances.get(instance).service !== service) service = view.instances.get(instance).service;
  if (!service || !(view.services.has(service) || ctx.summaries.has(service))) return false;
  const now = Date.now();
  const row = visibleRows(view, ctx.summaries, ctx.filter, now).find((r) => r.name === service);
  if (!row || (instance && !row.ids.includes(instance))) ctx.clearFilter();
  ctx.collapsed.delete(service);
  if (instance) ctx.expanded.add(service);
  if (instance) {
    const ids = (ctx.summaries.get(service) || { ids: [] }).ids;
    if (ids.indexOf(instance) >= INSTANCES_SHOWN) ctx.showAll.add(service);
  }
  ctx.render();
  const ref = rows.get(service);
  const target = instance ? ref && ref.instances.get(instance) && ref.instances.get(instance).tr : ref && ref.tr;
  if (!target) return false;
  target.scrollIntoView({ block: "center" });
  flash(target);
  target.focus({ preventScroll: true });
  return true;
}

export function initTable(context) {
  ctx = context;
  const table = byId("services-table");
  table.addEventListener("click", (event) => {
    const sortButton = event.target.closest("button[data-sort-key]");
    if (sortButton) {
      const key = sortButton.getAttribute("data-sort-key");
      if (!SORT_KEYS.includes(key)) return;
      ctx.setSort(key, ctx.sort.key === key ? -ctx.sort.dir : DEFAULT_DIRECTION[key]);
      return;
    }
    if (event.target.closest("button, a, input, select")) return;
    const tr = event.target.closest("tr.svc-row");
    if (tr) toggle(tr.getAttribute("data-service"));
  });
  table.addEventListener("keydown", (event) => {
    const tr = event.target.closest && event.target.closest("tr.svc-row");
    if (!tr || event.target !== tr) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      toggle(tr.getAttribute("data-service"));
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const all = [...table.querySelectorAll("tr.svc-row")];
      const next = all[all.indexOf(tr) + (event.key === "ArrowDown" ? 1 : -1)];
      if (next) {
        event.preventDefault();
        next.focus();
      }
    }
  });
}
