// The live dashboard. Plain browser JavaScript, no build step, no framework.
//
// Data flow: GET /admin/dashboard/state for the first render, then a WebSocket
// to /admin/dashboard/live that pushes a full snapshot on connect and on every
// change ({type:"snapshot", generatedAt, environment, services, metrics, alerts, loop}).
// Trend charts are accumulated here from successive snapshots.
//
// The page is served with a strict CSP (no inline script or style): every style
// is a class from dashboard.css or a property set through element.style, and
// every piece of server data goes into the DOM through textContent.
"use strict";

(() => {
  const STATE_URL = "/admin/dashboard/state";
  const LIVE_PATH = "/admin/dashboard/live";
  const SIGN_IN_URL = "/admin/dashboard";
  const MAX_POINTS = 300;
  const BACKOFF_BASE_MS = 1_000;
  const BACKOFF_MAX_MS = 30_000;
  const PING_EVERY_MS = 20_000;
  // The server pushes at least every 10 s (idle heartbeat) and answers pings: silence this long means a dead link.
  const STALE_AFTER_MS = 45_000;
  const HISTORY_SHOWN = 50;
  const SESSION_EXPIRED = 4001;

  const STATUS_CLASS = {
    healthy: "status-healthy",
    degraded: "status-degraded",
    unhealthy: "status-unhealthy",
    stopped: "status-stopped",
    "no-instances": "status-none",
  };
  const ACTIONS = ["start", "stop", "restart"];
  const ACTION_VERB = { start: "Start", stop: "Stop", restart: "Restart" };
  const ACTION_DONE = { start: "started", stop: "stopped", restart: "restarted" };
  const ACTION_EXPLAIN = {
    start: "It goes back into rotation and receives traffic again.",
    stop: "It is taken out of rotation: new requests are refused, requests in flight are allowed to finish.",
    restart: "It is taken out of rotation, drained, its health state is reset and its restart hook (if any) is called; then it is started again.",
  };

  // ------------------------------------------------------------------ small DOM helpers

  const byId = (id) => document.getElementById(id);

  /** Creates an element. `text` always goes through textContent; attributes through setAttribute (never style). */
  function h(tag, options = {}, children = []) {
    const node = document.createElement(tag);
    if (options.className) node.className = options.className;
    if (options.text !== undefined) node.textContent = String(options.text);
    if (options.attrs) for (const [name, value] of Object.entries(options.attrs)) if (value !== undefined && value !== null) node.setAttribute(name, String(value));
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function setText(node, text) {
    const value = String(text);
    if (node.textContent !== value) node.textContent = value;
  }

  function setClass(node, className) {
    if (node.className !== className) node.className = className;
  }

  // ------------------------------------------------------------------ formatting

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

  const isNum = (x) => typeof x === "number" && Number.isFinite(x);

  function toDate(value) {
    if (value === null || value === undefined || value === "") return null;
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function fmtTime(value) {
    const date = toDate(value);
    if (!date) return "—";
    return Math.abs(Date.now() - date.getTime()) > 20 * 3600_000 ? dateTimeFormat.format(date) : timeFormat.format(date);
  }

  function fmtMs(x) {
    if (!isNum(x)) return "—";
    return `${x < 10 ? x.toFixed(1) : Math.round(x).toLocaleString()} ms`;
  }

  const fmtRps = (x) => (isNum(x) ? `${x.toFixed(2)} req/s` : "—");
  const fmtPct = (x) => (isNum(x) ? `${x.toFixed(2)} %` : "—");
  const fmtInt = (x) => (isNum(x) ? Math.round(x).toLocaleString() : "—");
  /** Open WebSocket connections from a metrics entry (service, instance or global); absent in older snapshots. */
  const openSockets = (m) => (m && m.websockets ? m.websockets.open : null);
  /** In flight, and of those the open WebSockets when there are any: compact, and no new row for fleets without them. */
  const fmtInflight = (inflight, sockets) =>
    isNum(sockets) && sockets > 0 ? `${fmtInt(inflight)} (${fmtInt(sockets)} WebSocket${sockets === 1 ? "" : "s"})` : fmtInt(inflight);
  const ownEntry = (record, key) => (record && Object.prototype.hasOwnProperty.call(record, key) ? record[key] : null);
  const fmtWeight = (x) => (isNum(x) ? String(Math.round(x * 100) / 100) : "—");
  const shortId = (id) => (String(id).length > 8 ? String(id).slice(0, 8) : String(id));

  // ------------------------------------------------------------------ status messages

  let toastTimer = null;

  function toast(message, kind = "info") {
    const node = byId("toast");
    node.textContent = message;
    node.className = `notice notice-${kind}`;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      node.hidden = true;
    }, kind === "error" ? 15_000 : 8_000);
  }

  function toSignIn(reason) {
    location.assign(reason ? `${SIGN_IN_URL}?session=${encodeURIComponent(reason)}` : SIGN_IN_URL);
  }

  // ------------------------------------------------------------------ trend history (client side)

  /** scope ("" = all services) → parallel arrays for uPlot. */
  const history = new Map();

  function seriesFor(scope) {
    let entry = history.get(scope);
    if (!entry) {
      entry = { t: [], p50: [], p95: [], p99: [], rps: [] };
      history.set(scope, entry);
    }
    return entry;
  }

  function record(scope, t, stats) {
    const s = seriesFor(scope);
    const last = s.t[s.t.length - 1];
    if (last !== undefined && t <= last) return; // the same snapshot twice (state + first push), or out of order
    const recent = stats && stats.recent ? stats.recent : {};
    s.t.push(t);
    s.p50.push(isNum(recent.p50) ? recent.p50 : null);
    s.p95.push(isNum(recent.p95) ? recent.p95 : null);
    s.p99.push(isNum(recent.p99) ? recent.p99 : null);
    s.rps.push(stats && stats.throughput && isNum(stats.throughput.m1) ? stats.throughput.m1 : null);
    if (s.t.length > MAX_POINTS) for (const key of Object.keys(s)) s[key].splice(0, s.t.length - MAX_POINTS);
  }

  // ------------------------------------------------------------------ charts (uPlot)

  const charts = { latency: null, throughput: null, scope: "" };

  function chartWidth(box) {
    return Math.max(200, Math.floor(box.clientWidth || 300));
  }

  function makeChart(box, series, valueFormat) {
    const options = {
      width: chartWidth(box),
      height: 200,
      scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(1, (max || 0) * 1.15)] } },
      axes: [
        {
          stroke: "#4b5563",
          grid: { stroke: "#e5e7eb" },
          ticks: { stroke: "#d1d5db" },
          space: 70,
          // Whole seconds at least: snapshots arrive about once a second.
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
          values: (_u, splits) => splits.map((v) => timeFormat.format(new Date(v * 1000))),
        },
        { stroke: "#4b5563", grid: { stroke: "#e5e7eb" }, ticks: { stroke: "#d1d5db" }, size: 56, values: (_u, splits) => splits.map((v) => valueFormat(v)) },
      ],
      series: [{ label: "Time", value: (_u, v) => (v === null || v === undefined ? "—" : timeFormat.format(new Date(v * 1000))) }, ...series],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    return new window.uPlot(options, [[], ...series.map(() => [])], box);
  }

  function initCharts() {
    if (typeof window.uPlot !== "function") {
      for (const id of ["chart-latency", "chart-throughput"]) setText(byId(id), "Charts are unavailable (uPlot did not load).");
      return;
    }
    const ms = (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v * 10) / 10}`);
    const rps = (v) => `${Math.round(v * 100) / 100}`;
    const value = (fmt) => (_u, v) => (v === null || v === undefined ? "—" : fmt(v));
    charts.latency = makeChart(
      byId("chart-latency"),
      [
        { label: "p50", stroke: "#2563eb", width: 2, value: value(fmtMs), spanGaps: false },
        { label: "p95", stroke: "#d97706", width: 2, value: value(fmtMs) },
        { label: "p99", stroke: "#dc2626", width: 2, value: value(fmtMs) },
      ],
      ms,
    );
    charts.throughput = makeChart(byId("chart-throughput"), [{ label: "req/s (1 min)", stroke: "#059669", fill: "rgba(5,150,105,0.12)", width: 2, value: value(fmtRps) }], rps);
    if (typeof ResizeObserver === "function") {
      const observer = new ResizeObserver(() => {
        for (const [chart, id] of [[charts.latency, "chart-latency"], [charts.throughput, "chart-throughput"]]) {
          const width = chartWidth(byId(id));
          if (chart && chart.width !== width) chart.setSize({ width, height: 200 });
        }
      });
      observer.observe(byId("chart-latency"));
      observer.observe(byId("chart-throughput"));
    }
  }

  function drawCharts() {
    if (!charts.latency || !charts.throughput) return;
    const s = seriesFor(charts.scope);
    charts.latency.setData([s.t.slice(), s.p50.slice(), s.p95.slice(), s.p99.slice()]);
    charts.throughput.setData([s.t.slice(), s.rps.slice()]);
  }

  function syncScopeOptions(names) {
    const select = byId("chart-scope");
    const wanted = ["", ...names];
    const have = [...select.options].map((o) => o.value);
    if (have.join("\u0000") === wanted.join("\u0000")) return;
    const current = select.value;
    select.replaceChildren(...wanted.map((name) => h("option", { text: name === "" ? "All services" : name, attrs: { value: name } })));
    select.value = wanted.includes(current) ? current : "";
    if (select.value !== charts.scope) {
      charts.scope = select.value;
      drawCharts();
    }
  }

  // ------------------------------------------------------------------ overview

  function renderOverview(snapshot) {
    const g = (snapshot.metrics && snapshot.metrics.global) || {};
    const services = Array.isArray(snapshot.services) ? snapshot.services : [];
    const healthy = services.filter((s) => s.status === "healthy").length;
    const loop = snapshot.loop || {};
    const items = [
      ["Services healthy", `${healthy} / ${services.length}`],
      ["Requests", fmtInt(g.totalRequests)],
      ["Throughput (1 min)", fmtRps(g.throughput && g.throughput.m1)],
      ["Error rate", fmtPct(g.errorRate)],
      ["In flight", fmtInt(g.inflight)],
      ["WebSockets open", fmtInt(openSockets(g))],
      ["p50 / p95 / p99", `${fmtMs(g.p50)} / ${fmtMs(g.p95)} / ${fmtMs(g.p99)}`, true],
      ["Last health sweep", loop.lastSweepAt ? `${fmtTime(loop.lastSweepAt)} (${fmtInt(loop.lastSweepProbed)} probed)` : "—", true],
    ];
    if (isNum(loop.lastSweepShards) && Array.isArray(loop.vantagePoints)) {
      // Vantage points whose every probe failed while others got through (their own partition): their votes did not count.
      const sweep = loop.lastCompletedSweep;
      const discounted = sweep && Array.isArray(sweep.vantagePoints) ? sweep.vantagePoints.filter((v) => isNum(v.discounted) && v.discounted > 0).map((v) => String(v.name)) : [];
      const where = loop.vantagePoints.map(String).join(", ");
      items.push(["Probing from", `${where} · ${fmtInt(loop.lastSweepShards)} shard(s)${discounted.length > 0 ? ` · discounted: ${discounted.join(", ")}` : ""}`, true]);
    }
    if (isNum(loop.consecutiveSweepFailures) && loop.consecutiveSweepFailures > 0) items.push(["Sweep failures", fmtInt(loop.consecutiveSweepFailures)]);
    if (isNum(loop.consecutiveAlertFailures) && loop.consecutiveAlertFailures > 0) items.push(["Alert evaluation failures", fmtInt(loop.consecutiveAlertFailures)]);
    const list = byId("overview");
    list.replaceChildren(...items.map(([label, value, wide]) => h("div", { className: wide ? "stat stat-span2" : "stat" }, [h("dt", { text: label }), h("dd", { text: value })])));
  }

  // ------------------------------------------------------------------ services

  /** name → { root, badge, panic, stats: {key: dd}, buttons: {action: button}, instances: Map(id → row), list, count, empty } */
  const cards = new Map();
  /** Actions awaiting their answer, by target key ("svc" or "svc/instance"). */
  const pending = new Set();

  function statList(keys, className = "stats") {
    const dds = {};
    const list = h("dl", { className });
    for (const [key, label, wide] of keys) {
      const dd = h("dd", { text: "—" });
      dds[key] = dd;
      list.append(h("div", { className: wide ? "stat stat-wide" : "stat" }, [h("dt", { text: label }), dd]));
    }
    return { list, dds };
  }

  function actionButtons(service, instance, label, testPrefix) {
    const buttons = {};
    const group = h("div", { className: "actions", attrs: { role: "group", "aria-label": `Actions for ${label}` } });
    for (const action of ACTIONS) {
      const button = h("button", {
        className: `button button-small${action === "stop" ? " button-danger-outline" : ""}`,
        text: ACTION_VERB[action],
        attrs: { type: "button", "data-testid": `${testPrefix}-${action}`, "aria-label": `${ACTION_VERB[action]} ${label}` },
      });
      button.addEventListener("click", () => void runAction(service, instance, action, label));
      buttons[action] = button;
      group.append(button);
    }
    return { group, buttons };
  }

  function buildCard(name) {
    const badge = h("span", { className: "badge", attrs: { "data-testid": `status-${name}` } });
    const panic = h("span", { className: "badge badge-panic", text: "panic", attrs: { title: "No instance is available: traffic is spread over all instances (panic mode)" } });
    panic.hidden = true;
    const { list, dds } = statList([
      ["strategy", "Strategy"],
      ["inflight", "In flight"],
      ["rps", "Throughput (1 min)"],
      ["errorRate", "Error rate"],
      ["p50", "p50"],
      ["p95", "p95"],
      ["p99", "p99"],
      ["requests", "Requests"],
    ]);
    const { group, buttons } = actionButtons(name, null, `service ${name}`, `action-${name}`);
    const count = h("span", { className: "muted" });
    const instanceList = h("ul", { className: "instances" });
    const empty = h("p", { className: "muted small", text: "No instances registered." });
    const root = h("article", { className: "card service", attrs: { "data-testid": `service-${name}`, "aria-labelledby": `service-title-${name}` } }, [
      h("header", { className: "card-head" }, [h("h3", { text: name, attrs: { id: `service-title-${name}` } }), badge, panic]),
      list,
      group,
      h("h4", { className: "instances-title" }, [document.createTextNode("Instances "), count]),
      empty,
      instanceList,
    ]);
    return { root, badge, panic, stats: dds, buttons, instances: new Map(), list: instanceList, count, empty };
  }

  function buildInstanceRow(service, id, label) {
    const health = h("span", { className: "badge" });
    const admin = h("span", { className: "badge status-stopped", text: "stopped" });
    const ejected = h("span", { className: "badge badge-warn", text: "ejected" });
    const name = h("span", { className: "instance-name muted" });
    const { list, dds } = statList(
      [
        ["check", "Last check"],
        ["error", "Last error"],
        ["failures", "Consecutive failures"],
        ["ejectedUntil", "Ejected until"],
        ["inflight", "In flight"],
        ["weight", "Effective weight"],
        ["target", "Target", true],
      ],
      "stats stats-compact",
    );
    const { group, buttons } = actionButtons(service, id, `instance ${label} of ${service}`, `instance-action-${id}`);
    const root = h("li", { className: "instance", attrs: { "data-testid": `instance-${id}` } }, [
      h("div", { className: "instance-head" }, [h("code", { className: "instance-id", text: shortId(id), attrs: { title: id } }), name, health, admin, ejected]),
      list,
      group,
    ]);
    return { root, health, admin, ejected, name, stats: dds, buttons };
  }

  function updateButtons(buttons, adminState, key) {
    const busy = pending.has(key);
    buttons.start.disabled = busy || adminState === "active";
    buttons.stop.disabled = busy || adminState === "stopped";
    buttons.restart.disabled = busy;
  }

  function renderInstance(row, service, instance, metrics) {
    const check = instance.activeCheck || {};
    setText(row.health, instance.health || "unknown");
    setClass(row.health, `badge ${STATUS_CLASS[instance.health] || "status-none"}`);
    row.health.setAttribute("title", `health: ${instance.health || "unknown"}`);
    row.admin.hidden = instance.adminState !== "stopped";
    const ejectedUntil = toDate(instance.ejectedUntil);
    const isEjected = ejectedUntil !== null && ejectedUntil.getTime() > Date.now();
    row.ejected.hidden = !isEjected;
    const label = instance.metadata && typeof instance.metadata.name === "string" ? instance.metadata.name : "";
    setText(row.name, label);
    const parts = [fmtTime(check.lastCheckAt)];
    if (check.lastResult) parts.push(check.lastResult);
    if (isNum(check.lastLatencyMs)) parts.push(fmtMs(check.lastLatencyMs));
    setText(row.stats.check, check.lastCheckAt ? parts.join(" · ") : "not checked yet");
    setText(row.stats.error, check.lastError || "—");
    setText(row.stats.failures, fmtInt(check.consecutiveFailures ?? 0));
    setText(row.stats.ejectedUntil, isEjected ? fmtTime(ejectedUntil) : "—");
    setText(row.stats.inflight, fmtInflight(instance.inflight, openSockets(metrics)));
    setText(row.stats.weight, `${fmtWeight(instance.effectiveWeight)} / ${fmtWeight(instance.weight)}`);
    const target = instance.target || {};
    setText(row.stats.target, target.kind === "binding" ? `binding ${target.binding}` : target.url || "—");
    updateButtons(row.buttons, instance.adminState, `${service}/${instance.id}`);
  }

  function renderService(card, service, metrics) {
    const status = service.status || "unknown";
    setText(card.badge, status);
    setClass(card.badge, `badge ${STATUS_CLASS[status] || "status-none"}`);
    card.badge.setAttribute("title", `status: ${status}`);
    card.panic.hidden = !service.panic;
    const m = metrics || {};
    setText(card.stats.strategy, service.strategy ? `${service.strategy}${service.strategyIsDefault ? " (default)" : ""}` : "—");
    setText(card.stats.inflight, fmtInflight(service.inflight, openSockets(m)));
    setText(card.stats.rps, fmtRps(m.throughput && m.throughput.m1));
    setText(card.stats.errorRate, fmtPct(m.errorRate));
    setText(card.stats.p50, fmtMs(m.p50));
    setText(card.stats.p95, fmtMs(m.p95));
    setText(card.stats.p99, fmtMs(m.p99));
    setText(card.stats.requests, fmtInt(m.totalRequests));
    updateButtons(card.buttons, service.adminState, service.name);

    const instances = Array.isArray(service.instances) ? service.instances : [];
    setText(card.count, `(${instances.length})`);
    card.empty.hidden = instances.length > 0;
    const seen = new Set();
    instances.forEach((instance, index) => {
      seen.add(instance.id);
      let row = card.instances.get(instance.id);
      if (!row) {
        const label = instance.metadata && typeof instance.metadata.name === "string" && instance.metadata.name ? instance.metadata.name : shortId(instance.id);
        row = buildInstanceRow(service.name, instance.id, label);
        card.instances.set(instance.id, row);
      }
      renderInstance(row, service.name, instance, ownEntry(m.instances, instance.id));
      if (card.list.children[index] !== row.root) card.list.insertBefore(row.root, card.list.children[index] || null);
    });
    for (const [id, row] of card.instances) {
      if (!seen.has(id)) {
        row.root.remove();
        card.instances.delete(id);
      }
    }
  }

  function renderServices(snapshot) {
    const services = Array.isArray(snapshot.services) ? snapshot.services : [];
    const workers = (snapshot.metrics && snapshot.metrics.workers) || {};
    const container = byId("services");
    const seen = new Set();
    services.forEach((service, index) => {
      seen.add(service.name);
      let card = cards.get(service.name);
      if (!card) {
        card = buildCard(service.name);
        cards.set(service.name, card);
      }
      renderService(card, service, ownEntry(workers, service.name));
      if (container.children[index] !== card.root) container.insertBefore(card.root, container.children[index] || null);
    });
    for (const [name, card] of cards) {
      if (!seen.has(name)) {
        card.root.remove();
        cards.delete(name);
      }
    }
    byId("services-empty").hidden = services.length > 0;
    setText(byId("services-count"), services.length ? `(${services.length})` : "");
  }

  // ------------------------------------------------------------------ alerts

  function alertTitle(labels) {
    const l = labels || {};
    const where = [l.service, l.instance ? shortId(l.instance) : null].filter(Boolean).join(" / ");
    return `${l.alertname || "alert"}${where ? ` · ${where}` : ""}`;
  }

  function renderAlerts(snapshot) {
    const alerts = snapshot.alerts || {};
    const active = (Array.isArray(alerts.active) ? alerts.active : []).filter((a) => a && (a.state === "active" || a.state === "suppressed"));
    byId("alerts-empty").hidden = active.length > 0;
    byId("alerts-active").replaceChildren(
      ...active.map((status) => {
        const alert = status.alert || {};
        const labels = alert.labels || {};
        const annotations = alert.annotations || {};
        const why = status.state === "suppressed" ? (status.inhibited ? "inhibited" : status.silencedBy && status.silencedBy.length ? "silenced" : "suppressed") : null;
        return h("li", { className: `alert alert-${status.state}` }, [
          h("div", { className: "alert-head" }, [
            h("span", { className: `badge ${status.state === "active" ? "status-unhealthy" : "status-stopped"}`, text: status.state }),
            labels.severity ? h("span", { className: `badge ${labels.severity === "critical" ? "badge-panic" : "badge-warn"}`, text: labels.severity }) : null,
            h("strong", { text: alertTitle(labels) }),
          ]),
          annotations.summary ? h("p", { text: annotations.summary }) : null,
          annotations.description ? h("p", { className: "muted small", text: annotations.description }) : null,
          h("p", { className: "muted small", text: `Since ${fmtTime(alert.startsAt)}${why ? ` · ${why}` : ""}` }),
        ]);
      }),
    );

    const historyView = alerts.history || {};
    const entries = Array.isArray(historyView.entries) ? historyView.entries : [];
    const newestFirst = entries.slice().sort((a, b) => (b.at || 0) - (a.at || 0));
    byId("history-empty").hidden = entries.length > 0;
    byId("alerts-history").replaceChildren(
      ...newestFirst.slice(0, HISTORY_SHOWN).map((n) => {
        const list = Array.isArray(n.alerts) ? n.alerts : [];
        return h("li", { className: `alert alert-${n.status}` }, [
          h("div", { className: "alert-head" }, [
            h("time", { className: "muted small", text: fmtTime(n.at), attrs: { datetime: toDate(n.at) ? toDate(n.at).toISOString() : undefined } }),
            h("span", { className: `badge ${n.status === "firing" ? "status-unhealthy" : "status-healthy"}`, text: n.status }),
            h("strong", { text: list.length ? alertTitle(list[0].labels) : n.groupKey || "notification" }),
          ]),
          list.length > 1 ? h("p", { className: "muted small", text: list.slice(1).map((a) => `${alertTitle(a.labels)} (${a.status})`).join("; ") }) : null,
          list.length && list[0].annotations && list[0].annotations.summary ? h("p", { className: "small", text: list[0].annotations.summary }) : null,
        ]);
      }),
    );
    const hidden = Math.max(0, entries.length - HISTORY_SHOWN);
    const dropped = isNum(historyView.dropped) ? historyView.dropped : 0;
    const more = byId("history-more");
    more.hidden = hidden === 0 && dropped === 0;
    setText(more, [hidden ? `${hidden} older notification(s) not shown.` : "", dropped ? `${dropped} older notification(s) were dropped from the stored history.` : ""].filter(Boolean).join(" "));
  }

  // ------------------------------------------------------------------ autoscaling

  const DECISIONS_SHOWN = 5;

  function renderAutoscaling(snapshot) {
    const views = Array.isArray(snapshot.autoscaling) ? snapshot.autoscaling : [];
    byId("autoscaling-empty").hidden = views.length > 0;
    byId("autoscaling-list").replaceChildren(
      ...views.map((view) => {
        const policy = view.policy || null;
        const entries = view.log && Array.isArray(view.log.entries) ? view.log.entries : [];
        return h("li", { className: "alert" }, [
          h("div", { className: "alert-head" }, [
            h("strong", { text: view.service }),
            h("span", { className: "badge status-healthy", text: `${view.current} in rotation` }),
            h("span", { className: "badge status-stopped", text: `${view.standby} standby` }),
            policy ? h("span", { className: "badge badge-warn", text: `${policy.mode || "enforce"} · ${policy.minInstances}–${policy.maxInstances}` }) : h("span", { className: "muted small", text: "policy removed" }),
          ]),
          ...entries.slice(0, DECISIONS_SHOWN).map((entry) => {
            const d = entry.decision || {};
            const metrics = (Array.isArray(d.perMetric) ? d.perMetric : [])
              .map((m) => `${m.metric} ${m.observed === null || m.observed === undefined ? "n/a" : Math.round(m.observed * 10) / 10}/${m.target}`)
              .join(", ");
            const limited = Array.isArray(d.limitedBy) && d.limitedBy.length ? ` · limited by ${d.limitedBy.join(", ")}` : "";
            return h("p", { className: "muted small", text: `${fmtTime(d.at)} · ${d.action} ${d.current} → ${d.desired} (${metrics})${limited}` });
          }),
        ]);
      }),
    );
  }

  // ------------------------------------------------------------------ a snapshot

  let lastGeneratedAt = 0;

  function render(snapshot) {
    if (!snapshot || snapshot.type !== "snapshot") return;
    const generated = toDate(snapshot.generatedAt);
    const t = generated ? generated.getTime() : Date.now();
    if (t < lastGeneratedAt) return; // an older snapshot (the initial fetch can land after the first push)
    lastGeneratedAt = t;
    setText(byId("environment"), snapshot.environment || "unknown");
    const generatedAt = byId("generated-at");
    setText(generatedAt, fmtTime(t));
    generatedAt.setAttribute("datetime", new Date(t).toISOString());

    const seconds = t / 1000;
    const metrics = snapshot.metrics || {};
    record("", seconds, metrics.global);
    const workers = metrics.workers || {};
    for (const name of Object.keys(workers)) record(name, seconds, workers[name]);
    const names = (Array.isArray(snapshot.services) ? snapshot.services.map((s) => s.name) : []).filter((n) => typeof n === "string");

    renderOverview(snapshot);
    renderServices(snapshot);
    renderAlerts(snapshot);
    renderAutoscaling(snapshot);
    syncScopeOptions(names);
    drawCharts();
  }

  // ------------------------------------------------------------------ actions

  const dialog = { node: null, resolve: null };

  function settleDialog(answer) {
    const resolve = dialog.resolve;
    dialog.resolve = null;
    if (dialog.node.open) dialog.node.close();
    if (resolve) resolve(answer);
  }

  function confirmAction(title, text, confirmLabel) {
    if (dialog.resolve) settleDialog(false);
    setText(byId("confirm-title"), title);
    setText(byId("confirm-text"), text);
    setText(byId("confirm-ok"), confirmLabel);
    return new Promise((resolve) => {
      dialog.resolve = resolve;
      dialog.node.showModal();
      byId("confirm-cancel").focus();
    });
  }

  function describeResult(body, action, label) {
    const parts = [`${label[0].toUpperCase()}${label.slice(1)} ${ACTION_DONE[action]}: now ${body && body.adminState ? body.adminState : "updated"}.`];
    if (body && body.changed === false) parts.push("(It already was; nothing changed.)");
    if (body && body.drained === false) parts.push(`${fmtInt(body.inflight)} request(s) were still in flight when the drain timed out.`);
    if (body && body.hook && body.hook.called) parts.push(body.hook.ok ? "Restart hook called." : `Restart hook failed (${body.hook.error || body.hook.status || "error"}).`);
    // A hook is set but the orchestrator lost its signing secret: say why nothing was called.
    else if (body && body.hook && body.hook.error) parts.push(`Restart hook not called (${body.hook.error}).`);
    return parts.join(" ");
  }

  async function runAction(service, instance, action, label) {
    const ok = await confirmAction(`${ACTION_VERB[action]} ${label}?`, ACTION_EXPLAIN[action], ACTION_VERB[action]);
    if (!ok) return;
    const key = instance === null ? service : `${service}/${instance}`;
    const path =
      instance === null
        ? `/admin/workers/${encodeURIComponent(service)}/${action}`
        : `/admin/workers/${encodeURIComponent(service)}/instances/${encodeURIComponent(instance)}/${action}`;
    pending.add(key);
    if (latest) renderServices(latest);
    toast(`${ACTION_VERB[action]} ${label}: working…`, "info");
    try {
      const response = await fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: "{}",
      });
      const body = await response.json().catch(() => null);
      if (response.status === 401) {
        toSignIn("expired");
        return;
      }
      if (response.ok) toast(describeResult(body, action, label), "ok");
      else toast(`${ACTION_VERB[action]} ${label} failed: ${(body && (body.detail || body.title)) || `HTTP ${response.status}`}`, "error");
    } catch (error) {
      toast(`${ACTION_VERB[action]} ${label} failed: ${error && error.message ? error.message : "network error"}`, "error");
    } finally {
      pending.delete(key);
      if (latest) renderServices(latest);
    }
  }

  // ------------------------------------------------------------------ live connection

  let latest = null;
  const live = { socket: null, attempt: 0, timer: null, countdown: null, retryAt: 0, lastMessageAt: 0, pinger: null };

  function setConnection(state, text) {
    const node = byId("connection");
    setClass(node, `connection connection-${state}`);
    setText(node, text);
  }

  function accept(snapshot) {
    if (!snapshot || snapshot.type !== "snapshot") return;
    if (latest && toDate(snapshot.generatedAt) && toDate(latest.generatedAt) && toDate(snapshot.generatedAt) < toDate(latest.generatedAt)) return;
    latest = snapshot;
    render(snapshot);
  }

  /** Only when the link is down: is it the network, or has the session ended? */
  async function checkSession() {
    try {
      const response = await fetch(STATE_URL, { credentials: "same-origin", headers: { accept: "application/json" } });
      if (response.status === 401) {
        toSignIn("expired");
        return;
      }
      if (response.ok) accept(await response.json());
    } catch {
      // Still offline; the reconnect loop goes on.
    }
  }

  function scheduleReconnect() {
    clearTimeout(live.timer);
    clearInterval(live.countdown);
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** live.attempt);
    const delay = Math.min(BACKOFF_MAX_MS, Math.round(base * (0.8 + Math.random() * 0.4)));
    live.attempt = Math.min(live.attempt + 1, 16);
    live.retryAt = Date.now() + delay;
    const show = () => setConnection("reconnecting", `Reconnecting… (next try in ${Math.max(1, Math.ceil((live.retryAt - Date.now()) / 1000))} s)`);
    show();
    live.countdown = setInterval(show, 1000);
    live.timer = setTimeout(connect, delay);
  }

  function dropped(socket, code, opened) {
    if (live.socket !== socket) return;
    live.socket = null;
    clearInterval(live.pinger);
    if (code === SESSION_EXPIRED) {
      setConnection("reconnecting", "Session expired: signing in again…");
      toSignIn("expired");
      return;
    }
    scheduleReconnect();
    // A refused upgrade looks like any network failure to a browser; one request tells a 401 apart.
    if (!opened) void checkSession();
  }

  function connect() {
    clearTimeout(live.timer);
    clearInterval(live.countdown);
    live.timer = null;
    if (live.socket) return;
    if (live.attempt === 0) setConnection("connecting", "Connecting…");
    else setConnection("reconnecting", "Reconnecting…");
    let socket;
    try {
      socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${LIVE_PATH}`);
    } catch {
      scheduleReconnect();
      return;
    }
    live.socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      if (live.socket !== socket) return;
      opened = true;
      live.attempt = 0;
      live.lastMessageAt = Date.now();
      setConnection("live", "Live");
      clearInterval(live.pinger);
      live.pinger = setInterval(() => {
        if (live.socket !== socket) return;
        if (Date.now() - live.lastMessageAt > STALE_AFTER_MS) {
          // Nothing heard for too long: treat the link as dead (its close may never arrive).
          dropped(socket, 1006, true);
          try {
            socket.close(4000, "stale");
          } catch {
            /* already closing */
          }
          return;
        }
        if (socket.readyState === WebSocket.OPEN) socket.send("ping");
      }, PING_EVERY_MS);
    });
    socket.addEventListener("message", (event) => {
      if (live.socket !== socket) return;
      live.lastMessageAt = Date.now();
      if (typeof event.data !== "string") return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && message.type === "snapshot") accept(message);
    });
    socket.addEventListener("close", (event) => dropped(socket, event.code, opened));
    // An "error" is always followed by "close", which does the work.
  }

  function reconnectSoon() {
    // Back online or visible again: do not sit out the rest of a long back-off.
    if (!live.socket && live.timer) {
      live.attempt = 0;
      connect();
    }
  }

  // ------------------------------------------------------------------ start

  async function start() {
    dialog.node = byId("confirm-dialog");
    byId("confirm-ok").addEventListener("click", () => settleDialog(true));
    byId("confirm-cancel").addEventListener("click", () => settleDialog(false));
    dialog.node.addEventListener("close", () => settleDialog(false));
    byId("chart-scope").addEventListener("change", (event) => {
      charts.scope = event.target.value;
      drawCharts();
    });
    window.addEventListener("online", reconnectSoon);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") reconnectSoon();
    });
    initCharts();

    try {
      const response = await fetch(STATE_URL, { credentials: "same-origin", headers: { accept: "application/json" } });
      if (response.status === 401) {
        toSignIn("expired");
        return;
      }
      if (response.ok) accept(await response.json());
      else toast(`Could not load the dashboard state (HTTP ${response.status}); waiting for the live connection.`, "error");
    } catch {
      toast("Could not load the dashboard state; waiting for the live connection.", "error");
    }
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => void start());
  else void start();
})();
