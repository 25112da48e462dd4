// The overview (headline numbers and what needs attention, each a link to
// its row), the alerts panel (active, each linked to the service or instance
// it names, and the notification history) and the autoscaling panel.

import { byId, h, setHidden, setText } from "./dom.js";
import { fmtInflight, fmtInt, fmtMs, fmtPct, fmtRps, fmtTime, isNum, shortId, toDate } from "./format.js";
import { STATUS_CLASS } from "./table.js";

/** Services listed under "Needs attention" before a "show them all" link, and instances per service. */
const ATTENTION_SERVICES = 8;
const ATTENTION_INSTANCES = 4;
/** Services without instances named on their one line. */
const ATTENTION_GROUP = 6;

/** A link that reveals a service (and instance) in the table; app.js handles the click and the hash. */
export function jumpLink(text, service, instance, className = "jump") {
  const hash = instance ? `#instance=${encodeURIComponent(instance)}` : `#service=${encodeURIComponent(service)}`;
  return h("a", { className, text, attrs: { href: hash, "data-service": service, "data-instance": instance || undefined } });
}

// ------------------------------------------------------------------ overview

export function renderOverview(view, summaries, items) {
  const g = view.global || {};
  const loop = view.loop || {};
  let services = 0;
  let servicesHealthy = 0;
  let instances = 0;
  let instancesHealthy = 0;
  for (const [name, s] of summaries) {
    services++;
    const service = view.services.get(name);
    if (service && service.status === "healthy") servicesHealthy++;
    instances += s.total;
    instancesHealthy += s.healthy;
  }
  const recent = g.recent || {};
  const kpis = [
    ["Services healthy", `${fmtInt(servicesHealthy)} / ${fmtInt(services)}`, servicesHealthy < services],
    ["Instances healthy", `${fmtInt(instancesHealthy)} / ${fmtInt(instances)}`, instancesHealthy < instances],
    ["Requests", fmtInt(g.requests)],
    ["req/s (1 min)", fmtRps(g.rps)],
    ["Errors (5 min)", fmtPct(recent.errorRate), isNum(recent.errorRate) && recent.errorRate > 0],
    ["p50 / p95 / p99 (5 min)", `${fmtMs(recent.p50)} / ${fmtMs(recent.p95)} / ${fmtMs(recent.p99)}`],
    ["In flight", fmtInflight(g.inflight, g.websockets)],
    ["Last health sweep", loop.lastSweepAt ? `${fmtTime(loop.lastSweepAt)} (${fmtInt(loop.probed)} probed)` : "—"],
  ];
  if (Array.isArray(loop.vantagePoints) && loop.vantagePoints.length > 0) {
    const discounted = Array.isArray(loop.discounted) && loop.discounted.length ? ` · discounted: ${loop.discounted.join(", ")}` : "";
    kpis.push(["Probing from", `${loop.vantagePoints.join(", ")} · ${fmtInt(loop.shards)} shard(s)${discounted}`, discounted !== ""]);
  }
  if (isNum(loop.sweepFailures) && loop.sweepFailures > 0) kpis.push(["Sweep failures", fmtInt(loop.sweepFailures), true]);
  if (isNum(loop.alertFailures) && loop.alertFailures > 0) kpis.push(["Alert evaluation failures", fmtInt(loop.alertFailures), true]);
  const labels = kpis.map(([label]) => label).join("\u0000");
  if (labels !== kpiCache.labels) {
    kpiCache.labels = labels;
    kpiCache.cells = kpis.map(() => ({ div: h("div", { className: "kpi" }), dd: h("dd") }));
    kpiCache.cells.forEach((cell, i) => cell.div.append(h("dt", { text: kpis[i][0] }), cell.dd));
    byId("overview").replaceChildren(...kpiCache.cells.map((cell) => cell.div));
  }
  kpis.forEach(([, value, bad], i) => {
    const cell = kpiCache.cells[i];
    setText(cell.dd, value);
    if (cell.div.className !== (bad ? "kpi kpi-bad" : "kpi")) cell.div.className = bad ? "kpi kpi-bad" : "kpi";
  });

  setHidden(byId("attention-ok"), items.length > 0);
  setText(byId("attention-ok"), services === 0 ? "No services are registered yet." : `All ${fmtInt(services)} services and ${fmtInt(instances)} instances are healthy, and no alert is firing.`);
  const shown = items.slice(0, ATTENTION_SERVICES).map((item) => ({
    name: item.name,
    group: item.group ? item.group.slice(0, ATTENTION_GROUP) : null,
    groupMore: item.group ? Math.max(0, item.group.length - ATTENTION_GROUP) : 0,
    groupSize: item.group ? item.group.length : 0,
    status: item.status,
    reasons: item.reasons,
    total: item.total,
    ids: item.instances.slice(0, ATTENTION_INSTANCES).map((id) => [id, instanceLabel(id)]),
    more: Math.max(0, item.instances.length - ATTENTION_INSTANCES),
    alertNames: [...new Set(item.alerts.map((a) => a.name))],
  }));
  // Rebuilt only when it reads differently: a link the keyboard is on keeps its focus across updates.
  const signature = JSON.stringify(shown);
  if (signature !== attentionSignature) {
    attentionSignature = signature;
    byId("attention").replaceChildren(...shown.map(attentionItem));
  }
  const hidden = items.length - ATTENTION_SERVICES;
  setHidden(byId("attention-more"), hidden <= 0);
  if (hidden > 0) setText(byId("attention-more"), `Show all ${fmtInt(items.length)} in the table`);
  const serviceCount = items.reduce((n, item) => n + (item.group ? item.group.length : 1), 0);
  setText(byId("attention-count"), items.length ? `(${fmtInt(serviceCount)} service${serviceCount === 1 ? "" : "s"})` : "");

  function instanceLabel(id) {
    const instance = view.instances.get(id);
    return instance && instance.name ? instance.name : shortId(id);
  }
}

const kpiCache = { labels: "", cells: [] };
let attentionSignature = "";

function attentionItem(item) {
  if (item.group) {
    return h("li", { className: "attention-item attention-no-instances attention-group" }, [
      h("span", { className: "badge status-none", text: "no instances" }),
      h("span", { className: "attention-reasons", text: `${fmtInt(item.groupSize)} services have no instances:` }),
      h("span", { className: "attention-names" }, item.group.map((name) => jumpLink(name, name, null))),
      item.groupMore > 0 ? h("button", { className: "linkish", text: `+${fmtInt(item.groupMore)} more`, attrs: { type: "button", "data-filter-state": "empty" } }) : null,
    ]);
  }
  return h("li", { className: `attention-item attention-${item.status}` }, [
    h("span", { className: `badge ${STATUS_CLASS[item.status] || "status-none"}`, text: item.status }),
    jumpLink(item.name, item.name, null, "jump attention-service"),
    item.reasons.length ? h("span", { className: "attention-reasons", text: `${item.reasons.join(", ")}${item.total ? ` of ${fmtInt(item.total)}` : ""}` }) : null,
    item.ids.length
      ? h(
          "span",
          { className: "attention-instances" },
          item.ids.map(([id, label]) => jumpLink(label, item.name, id, "jump jump-instance")),
        )
      : null,
    item.more > 0 ? h("button", { className: "linkish", text: `+${fmtInt(item.more)} more`, attrs: { type: "button", "data-filter-service": item.name } }) : null,
    item.alertNames.length ? h("span", { className: "attention-alerts", text: `alerting: ${item.alertNames.join(", ")}` }) : null,
  ]);
}

// ------------------------------------------------------------------ alerts

const SEVERITY_RANK = { critical: 0, warning: 1 };

function alertTarget(view, alert) {
  const instance = alert.instance && view.instances.has(alert.instance) ? alert.instance : null;
  const service = instance ? view.instances.get(instance).service : alert.service;
  return { service: service && (view.services.has(service) || instance) ? service : null, instance };
}

function alertTitle(view, alert) {
  const parts = [h("strong", { text: alert.name || "alert" })];
  const { service, instance } = alertTarget(view, alert);
  if (alert.service) {
    parts.push(document.createTextNode(" · "));
    parts.push(service ? jumpLink(alert.service, service, null) : h("span", { text: alert.service }));
  }
  if (alert.instance) {
    const label = instance && view.instances.get(instance).name ? view.instances.get(instance).name : shortId(alert.instance);
    parts.push(document.createTextNode(" / "));
    parts.push(instance ? jumpLink(label, service, instance, "jump jump-instance") : h("span", { text: label, attrs: { title: alert.instance } }));
  }
  return parts;
}

export function renderAlerts(view) {
  const active = [...view.alerts.values()].sort(
    (a, b) => (a.state === b.state ? 0 : a.state === "active" ? -1 : 1) || (SEVERITY_RANK[a.severity] ?? 2) - (SEVERITY_RANK[b.severity] ?? 2) || (b.startsAt || 0) - (a.startsAt || 0),
  );
  setHidden(byId("alerts-empty"), active.length > 0);
  setText(byId("alerts-count"), active.length ? `(${active.filter((a) => a.state === "active").length} firing${active.some((a) => a.state === "suppressed") ? `, ${active.filter((a) => a.state === "suppressed").length} suppressed` : ""})` : "");
  byId("alerts-active").replaceChildren(
    ...active.map((alert) =>
      h("li", { className: `alert alert-${alert.state}` }, [
        h("div", { className: "alert-head" }, [
          h("span", { className: `badge ${alert.state === "active" ? "status-unhealthy" : "status-stopped"}`, text: alert.state }),
          alert.severity ? h("span", { className: `badge ${alert.severity === "critical" ? "badge-panic" : "badge-warn"}`, text: alert.severity }) : null,
          h("span", { className: "alert-title" }, alertTitle(view, alert)),
        ]),
        alert.summary ? h("p", { className: "small", text: alert.summary }) : null,
        h("p", { className: "muted small", text: `Since ${fmtTime(alert.startsAt)}${alert.why ? ` · ${alert.why}` : ""}` }),
      ]),
    ),
  );

  const history = view.history || { entries: [], total: 0, dropped: 0 };
  const entries = Array.isArray(history.entries) ? history.entries : [];
  setHidden(byId("history-empty"), entries.length > 0);
  setText(byId("history-count"), history.total ? `(${fmtInt(history.total)})` : "");
  byId("alerts-history").replaceChildren(
    ...entries.map((n) => {
      const list = Array.isArray(n.alerts) ? n.alerts : [];
      const first = list[0];
      const title = first ? `${first.name}${first.service ? ` · ${first.service}` : ""}${first.instance ? ` / ${shortId(first.instance)}` : ""}` : n.groupKey || "notification";
      const rest = list.slice(1).map((a) => `${a.name}${a.instance ? ` ${shortId(a.instance)}` : a.service ? ` ${a.service}` : ""} (${a.status})`);
      if (n.more) rest.push(`${n.more} more`);
      return h("li", { className: `alert alert-${n.status}` }, [
        h("div", { className: "alert-head" }, [
          h("time", { className: "muted small", text: fmtTime(n.at), attrs: { datetime: toDate(n.at) ? toDate(n.at).toISOString() : undefined } }),
          h("span", { className: `badge ${n.status === "firing" ? "status-unhealthy" : "status-healthy"}`, text: n.status }),
          h("strong", { text: title }),
        ]),
        rest.length ? h("p", { className: "muted small", text: rest.join("; ") }) : null,
        n.summary ? h("p", { className: "small", text: n.summary }) : null,
      ]);
    }),
  );
  const notShown = Math.max(0, (history.total || 0) - entries.length);
  const dropped = isNum(history.dropped) ? history.dropped : 0;
  const more = byId("history-more");
  setHidden(more, notShown === 0 && dropped === 0);
  setText(more, [notShown ? `${notShown} older notification(s) not shown (GET /admin/alerts has them).` : "", dropped ? `${dropped} older notification(s) were dropped from the stored history.` : ""].filter(Boolean).join(" "));
}

// ------------------------------------------------------------------ autoscaling

export function renderAutoscaling(view) {
  const views = Array.isArray(view.autoscaling) ? view.autoscaling : [];
  setHidden(byId("autoscaling-empty"), views.length > 0);
  byId("autoscaling-list").replaceChildren(
    ...views.map((a) =>
      h("li", { className: "alert" }, [
        h("div", { className: "alert-head" }, [
          a.service && view.services.has(a.service) ? jumpLink(a.service, a.service, null, "jump alert-strong") : h("strong", { text: a.service }),
          h("span", { className: "badge status-healthy", text: `${a.current} in rotation` }),
          h("span", { className: "badge status-stopped", text: `${a.standby} standby` }),
          a.policy ? h("span", { className: "badge badge-warn", text: `${a.policy.mode || "enforce"} · ${a.policy.min}–${a.policy.max}` }) : h("span", { className: "muted small", text: "policy removed" }),
        ]),
        ...(Array.isArray(a.decisions) ? a.decisions : []).map((d) => {
          const metrics = (Array.isArray(d.metrics) ? d.metrics : []).map((m) => `${m.metric} ${m.observed === null || m.observed === undefined ? "n/a" : Math.round(m.observed * 10) / 10}/${m.target}`).join(", ");
          const limited = Array.isArray(d.limitedBy) && d.limitedBy.length ? ` · limited by ${d.limitedBy.join(", ")}` : "";
          return h("p", { className: "muted small", text: `${fmtTime(d.at)} · ${d.action} ${d.current} → ${d.desired} (${metrics})${limited}` });
        }),
      ]),
    ),
  );
}
