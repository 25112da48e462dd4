// Operator actions with a confirmation dialog: lifecycle (stop, start,
// restart) and releases (promote, pause, resume, abort); and the page's status
// messages. The result arrives through the live socket; the toast says what
// the API answered. Each is a same-origin POST with the session cookie (the
// browser adds our Origin, which the orchestrator checks).

import { byId, setText } from "./dom.js";
import { fmtInt } from "./format.js";

export const ACTIONS = ["start", "stop", "restart"];
export const ACTION_VERB = { start: "Start", stop: "Stop", restart: "Restart" };
const ACTION_DONE = { start: "started", stop: "stopped", restart: "restarted" };
const ACTION_EXPLAIN = {
  start: "It goes back into rotation and receives traffic again.",
  stop: "It is taken out of rotation: new requests are refused, requests in flight are allowed to finish.",
  restart: "It is taken out of rotation, drained, its health state is reset and its restart hook (if any) is called; then it is started again.",
};
const SIGN_IN_URL = "/admin/dashboard";

/** Actions awaiting their answer, by target key ("svc" or "svc/instance"). */
export const pending = new Set();

let toastTimer = null;

export function toast(message, kind = "info") {
  const node = byId("toast");
  node.textContent = message;
  node.className = `notice notice-${kind}`;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(
    () => {
      node.hidden = true;
    },
    kind === "error" ? 15_000 : 8_000,
  );
}

export function toSignIn(reason) {
  location.assign(reason ? `${SIGN_IN_URL}?session=${encodeURIComponent(reason)}` : SIGN_IN_URL);
}

// ------------------------------------------------------------------ confirmation dialog

const dialog = { node: null, resolve: null, returnFocus: null };

function settleDialog(answer) {
  const resolve = dialog.resolve;
  dialog.resolve = null;
  if (dialog.node.open) dialog.node.close();
  if (resolve) resolve(answer);
  if (dialog.returnFocus && document.contains(dialog.returnFocus)) dialog.returnFocus.focus({ preventScroll: true });
  dialog.returnFocus = null;
}

export const dialogOpen = () => Boolean(dialog.node && dialog.node.open);

export function initDialog() {
  dialog.node = byId("confirm-dialog");
  byId("confirm-ok").addEventListener("click", () => settleDialog(true));
  byId("confirm-cancel").addEventListener("click", () => settleDialog(false));
  dialog.node.addEventListener("close", () => settleDialog(false));
}

function confirmAction(title, text, confirmLabel) {
  if (dialog.resolve) settleDialog(false);
  dialog.returnFocus = document.activeElement;
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

/** Problem details as one line; a traceId (when the orchestrator sends one) is shown so it can be looked up in the logs. */
function describeProblem(body, status) {
  const text = (body && (body.detail || body.title)) || `HTTP ${status}`;
  const trace = body && typeof body.traceId === "string" ? ` (trace ${body.traceId})` : body && typeof body.requestId === "string" ? ` (request ${body.requestId})` : "";
  return `${text}${trace}`;
}

/**
 * Asks, then POSTs; `key` marks the target as pending (its buttons disabled) until the
 * answer, `changed` re-renders them, `describe(body)` says what happened.
 */
async function confirmAndPost({ key, path, title, explain, verb, label, describe, changed }) {
  const ok = await confirmAction(title, explain, verb);
  if (!ok) return;
  pending.add(key);
  changed();
  toast(`${verb} ${label}: working…`, "info");
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
    if (response.ok) toast(describe(body), "ok");
    else toast(`${verb} ${label} failed: ${describeProblem(body, response.status)}`, "error");
  } catch (error) {
    toast(`${verb} ${label} failed: ${error && error.message ? error.message : "network error"}`, "error");
  } finally {
    pending.delete(key);
    changed();
  }
}

/** Asks, then calls the lifecycle API; `changed` re-renders the buttons while it is pending. */
export function runAction(service, instance, action, label, changed) {
  const path =
    instance === null
      ? `/admin/workers/${encodeURIComponent(service)}/${action}`
      : `/admin/workers/${encodeURIComponent(service)}/instances/${encodeURIComponent(instance)}/${action}`;
  return confirmAndPost({
    key: instance === null ? service : `${service}/${instance}`,
    path,
    title: `${ACTION_VERB[action]} ${label}?`,
    explain: ACTION_EXPLAIN[action],
    verb: ACTION_VERB[action],
    label,
    describe: (body) => describeResult(body, action, label),
    changed,
  });
}

// ------------------------------------------------------------------ release actions

export const RELEASE_VERB = { promote: "Promote", pause: "Pause", resume: "Resume", abort: "Abort" };

/** The key a release's buttons are pending under. */
export const releaseKey = (service) => `release:${service}`;

function releaseExplain(action, release) {
  switch (action) {
    case "promote":
      return `Every request goes to ${release.version} now (weight 100 %), without waiting for the remaining steps. The release ends as promoted; the other versions' instances stay registered, without traffic.`;
    case "pause":
      return `The canary keeps its weight (${release.weight} %) and the controller stops stepping it up. It still rolls the canary back if a threshold is crossed.`;
    case "resume":
      return "The controller goes on: the current step starts over with a fresh window.";
    default:
      return `The canary's weight goes to 0 % now: all traffic to the stable side. The release ends as aborted.`;
  }
}

/** Asks, then calls the release API (POST /admin/services/{name}/releases/{id}/{action}). */
export function runReleaseAction(service, release, action, changed) {
  const label = `the release of ${release.version} on ${service}`;
  return confirmAndPost({
    key: releaseKey(service),
    path: `/admin/services/${encodeURIComponent(service)}/releases/${encodeURIComponent(release.id)}/${action}`,
    title: `${RELEASE_VERB[action]} ${label}?`,
    explain: releaseExplain(action, release),
    verb: RELEASE_VERB[action],
    label,
    describe: (body) => `${RELEASE_VERB[action]}: ${label} is now ${body && body.state ? body.state : "updated"}${body && typeof body.weightPercent === "number" ? ` at ${body.weightPercent} %` : ""}.`,
    changed,
  });
}
