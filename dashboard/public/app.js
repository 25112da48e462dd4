// The live dashboard. Plain browser ES modules, no build step, no framework.
//
// Data flow: a WebSocket to /admin/dashboard/live sends a versioned snapshot
// of the live view on connect, then deltas (src/core/dashboard/delta.ts;
// applied by live-state.js). A delta that does not follow the version held is
// a gap: the page asks for a snapshot ("refresh"). Each update is rendered in
// the next animation frame, touching only the rows on screen.
//
// The page is served with a strict CSP (no inline script or style): every style
// is a class from dashboard.css, and every piece of server data goes into the
// DOM through textContent or setAttribute.

import { dialogOpen, initDialog, toSignIn, toast } from "./actions.js";
import { drawCharts, initCharts, record, syncScopeOptions } from "./charts.js";
import { byId, setText } from "./dom.js";
import { fmtTime } from "./format.js";
import { applyMessage, createLiveState } from "./live-state.js";
import { SORT_KEYS, STATE_FILTERS, attention, normalizeQuery, summarize } from "./model.js";
import { renderAlerts, renderAutoscaling, renderOverview } from "./panels.js";
import { initReleases, renderReleases } from "./releases.js";
import { initTable, renderTable, reveal } from "./table.js";

const STATE_URL = "/admin/dashboard/state";
const LIVE_PATH = "/admin/dashboard/live";
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const PING_EVERY_MS = 20_000;
// The server pushes at least every 10 s (idle heartbeat) and answers pings: silence this long means a dead link.
const STALE_AFTER_MS = 45_000;
const REFRESH_AT_MOST_EVERY_MS = 2_000;
const SESSION_EXPIRED = 4001;
const SAVED = "orchestrator-dashboard-view";

// ------------------------------------------------------------------ page state

const ctx = {
  live: createLiveState(),
  summaries: new Map(),
  filter: { q: "", state: "all" },
  sort: { key: "status", dir: 1 },
  /** Services the operator opened, and ones they closed that a search would open. */
  expanded: new Set(),
  collapsed: new Set(),
  /** Expanded services listing all their instances (past the first hundred). */
  showAll: new Set(),
  filterActive() {
    return normalizeQuery(this.filter.q) !== "" || this.filter.state !== "all";
  },
  clearFilter() {
    setFilter({ q: "", state: "all" });
  },
  setSort(key, dir) {
    this.sort = { key, dir };
    save();
    this.render();
  },
  /** Renders now (after a click: the operator sees the result at once). */
  render() {
    renderNow();
  },
  /** Renders in the next animation frame (after a live update: many in a frame cost one render). */
  requestRender() {
    if (frame === null) frame = requestAnimationFrame(renderNow);
  },
};

let frame = null;
const stale = { alerts: true, autoscaling: true };
let firstRenderDone = false;

function save() {
  try {
    localStorage.setItem(SAVED, JSON.stringify({ filter: ctx.filter, sort: ctx.sort }));
  } catch {
    // Storage is optional (private windows, quotas).
  }
}

function restore() {
  try {
    const saved = JSON.parse(localStorage.getItem(SAVED) || "null");
    if (saved && saved.sort && SORT_KEYS.includes(saved.sort.key)) ctx.sort = { key: saved.sort.key, dir: saved.sort.dir === -1 ? -1 : 1 };
    if (saved && saved.filter) ctx.filter = { q: typeof saved.filter.q === "string" ? saved.filter.q : "", state: STATE_FILTERS.includes(saved.filter.state) ? saved.filter.state : "all" };
  } catch {
    // A corrupt entry is ignored.
  }
}

function setFilter(filter) {
  ctx.filter = { q: filter.q, state: STATE_FILTERS.includes(filter.state) ? filter.state : "all" };
  const search = byId("search");
  if (search.value !== ctx.filter.q) search.value = ctx.filter.q;
  byId("state-filter").value = ctx.filter.state;
  // A new search opens the services it narrows again, even ones closed under the last one.
  ctx.collapsed.clear();
  save();
  ctx.render();
}

// ------------------------------------------------------------------ rendering

function renderNow() {
  if (frame !== null) {
    cancelAnimationFrame(frame);
    frame = null;
  }
  const live = ctx.live;
  const view = live.view;
  if (!view) return;
  const now = Date.now();
  setText(byId("environment"), view.environment || "unknown");
  const generatedAt = byId("generated-at");
  setText(generatedAt, fmtTime(live.at));
  generatedAt.setAttribute("datetime", new Date(live.at).toISOString());

  ctx.summaries = summarize(view, now);
  renderOverview(view, ctx.summaries, attention(view, ctx.summaries, now));
  renderReleases(now);
  renderTable(now);
  if (stale.alerts) renderAlerts(view);
  if (stale.autoscaling) renderAutoscaling(view);
  stale.alerts = false;
  stale.autoscaling = false;
  syncScopeOptions([...view.services.keys()].sort());
  drawCharts();
  if (!firstRenderDone) {
    firstRenderDone = true;
    performance.mark("dashboard:first-render");
    document.body.setAttribute("data-ready", "true");
    const hash = parseHash(location.hash);
    if (hash) reveal(hash.service, hash.instance);
  }
}

// ------------------------------------------------------------------ links to rows (#service=… / #instance=…)

function parseHash(hash) {
  const match = /^#(service|instance)=(.+)$/.exec(hash || "");
  if (!match) return null;
  let value;
  try {
    value = decodeURIComponent(match[2]);
  } catch {
    return null;
  }
  return match[1] === "service" ? { service: value, instance: null } : { service: null, instance: value };
}

function onJump(event) {
  const link = event.target.closest && event.target.closest("a.jump");
  // With a modifier the browser opens the link in a new tab or window, where the hash opens the row.
  if (link && (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0)) return;
  if (link) {
    event.preventDefault();
    history.replaceState(null, "", link.getAttribute("href"));
    reveal(link.getAttribute("data-service"), link.getAttribute("data-instance"));
    return;
  }
  const more = event.target.closest && event.target.closest("[data-filter-service], [data-filter-state]");
  if (more) {
    const service = more.getAttribute("data-filter-service");
    setFilter(service !== null ? { q: service, state: "problems" } : { q: "", state: more.getAttribute("data-filter-state") });
    byId("services-title").scrollIntoView({ block: "start" });
  }
}

// ------------------------------------------------------------------ live connection

const live = { socket: null, attempt: 0, timer: null, countdown: null, retryAt: 0, lastMessageAt: 0, pinger: null, refreshAskedAt: 0 };

function setConnection(state, text) {
  const node = byId("connection");
  const className = `connection connection-${state}`;
  if (node.className !== className) node.className = className;
  setText(node, text);
}

function askForSnapshot(socket) {
  const now = Date.now();
  if (now - live.refreshAskedAt < REFRESH_AT_MOST_EVERY_MS) return;
  live.refreshAskedAt = now;
  if (socket.readyState === WebSocket.OPEN) socket.send("refresh");
}

function onMessage(socket, message) {
  const result = applyMessage(ctx.live, message);
  if (result.kind === "ignored") return;
  if (result.kind === "gap") {
    askForSnapshot(socket);
    return;
  }
  const view = ctx.live.view;
  if (result.kind === "snapshot") {
    stale.alerts = true;
    stale.autoscaling = true;
  } else {
    const c = result.changed;
    if (c.alerts.size > 0 || c.whole.has("history")) stale.alerts = true;
    // Alert links name instances: redraw when one of those changed (a name, or it went away).
    else if (c.instances.size > 0) for (const alert of view.alerts.values()) if (alert.instance && c.instances.has(alert.instance)) stale.alerts = true;
    if (c.whole.has("autoscaling")) stale.autoscaling = true;
  }
  record(view, ctx.live.at / 1000);
  ctx.requestRender();
}

/** Only when the link is down: is it the network, or has the session ended? (HEAD: no body to download.) */
async function checkSession() {
  try {
    const response = await fetch(STATE_URL, { method: "HEAD", credentials: "same-origin" });
    if (response.status === 401) toSignIn("expired");
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
    onMessage(socket, message);
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

function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function start() {
  initDialog();
  initCharts();
  initTable(ctx);
  initReleases(ctx);
  restore();
  byId("search").value = ctx.filter.q;
  byId("state-filter").value = ctx.filter.state;

  byId("search").addEventListener("input", (event) => {
    ctx.filter = { ...ctx.filter, q: event.target.value };
    ctx.collapsed.clear();
    save();
    ctx.requestRender();
  });
  byId("search").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && event.target.value !== "") {
      event.preventDefault();
      setFilter({ ...ctx.filter, q: "" });
    }
  });
  byId("state-filter").addEventListener("change", (event) => setFilter({ ...ctx.filter, state: event.target.value }));
  byId("clear-filter").addEventListener("click", () => ctx.clearFilter());
  byId("collapse-all").addEventListener("click", () => {
    ctx.expanded.clear();
    for (const name of ctx.summaries.keys()) ctx.collapsed.add(name);
    ctx.render();
  });
  byId("attention-more").addEventListener("click", () => {
    setFilter({ q: "", state: "problems" });
    byId("services-title").scrollIntoView({ block: "start" });
  });
  document.addEventListener("click", onJump);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target) || dialogOpen()) return;
    event.preventDefault();
    byId("search").focus();
    byId("search").select();
  });
  window.addEventListener("hashchange", () => {
    const hash = parseHash(location.hash);
    if (hash) reveal(hash.service, hash.instance);
  });
  window.addEventListener("online", reconnectSoon);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectSoon();
  });
  if (typeof WebSocket !== "function") {
    toast("This browser cannot open the live connection (no WebSocket).", "error");
    return;
  }
  connect();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
