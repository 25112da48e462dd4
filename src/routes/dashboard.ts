/**
 * The live dashboard at /admin/dashboard.
 *
 * GET  /admin/dashboard              the dashboard (signed in) or the sign-in page
 * POST /admin/login                  exchanges the admin key for a session cookie
 * POST /admin/logout                 ends the session
 * GET  /admin/dashboard/state        everything the page shows, as JSON
 * GET  /admin/dashboard/live         WebSocket (served by MetricsDO) pushing changes
 * GET  /admin/dashboard/assets/...   the page's static files (ours and uPlot)
 */
import * as v from "valibot";
import { adminKeyPrincipal, authorize, crossOriginProblem, currentSession } from "../middleware/auth";
import { problem, ProblemType } from "../http/problem";
import { metricsStub, registryStub } from "../platform/stubs";
import { clearedSessionCookie, issueSession, sessionCookie } from "../http/session";
import { LoginFormSchema } from "../http/schemas";
import { json, type Handler } from "./context";

const ASSET_PATH = /^\/admin\/dashboard\/assets\/((?:vendor\/)?[A-Za-z0-9][A-Za-z0-9._-]{0,100})$/;
const LOGIN_BODY_MAX_BYTES = 4096;

function asset(env: Env, file: string): Promise<Response> {
  return env.ASSETS.fetch(new Request(`https://assets.invalid/${file}`));
}

/** Assets' responses are immutable; copy them so the edge can add its headers. */
async function page(env: Env, file: string, status = 200): Promise<Response> {
  const response = await asset(env, file);
  const copy = new Response(response.body, { status: response.ok ? status : 500, headers: response.headers });
  copy.headers.set("cache-control", "no-store");
  return copy;
}

export const getDashboard: Handler = async (request, env, _ctx, meta) => {
  const signedIn = (await authorize(request, meta.config, env, "viewer")).ok;
  return page(env, signedIn ? "dashboard.html" : "login.html");
};

export const getDashboardAsset: Handler = async (request, env) => {
  const match = ASSET_PATH.exec(new URL(request.url).pathname);
  if (!match) return problem(404, ProblemType.notFound, "Not found", "No such dashboard file.");
  const response = await asset(env, match[1] as string);
  if (!response.ok) return problem(404, ProblemType.notFound, "Not found", "No such dashboard file.");
  const copy = new Response(response.body, response);
  copy.headers.set("cache-control", "public, max-age=300");
  return copy;
};

export const postLogin: Handler = async (request, _env, _ctx, meta) => {
  const config = meta.config;
  // Sessions are signed with a key derived from ORCHESTRATOR_API_KEY: without it there is nothing to sign
  // them with, whatever ADMIN_KEYS holds (bearer access with those keys still works).
  if (!config.apiKey) return problem(503, ProblemType.notConfigured, "Authentication not configured", "Dashboard sign-in needs ORCHESTRATOR_API_KEY: sessions are signed with a key derived from it.", { field: "ORCHESTRATOR_API_KEY" });
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) {
    return problem(415, ProblemType.unsupportedMediaType, "Unsupported media type", "Sign in with the form (application/x-www-form-urlencoded).", { field: "content-type" });
  }
  const text = await request.text();
  if (text.length > LOGIN_BODY_MAX_BYTES) return problem(413, ProblemType.payloadTooLarge, "Payload too large", "The sign-in form is too large.", { field: "(body)" });
  const form = v.safeParse(LoginFormSchema, Object.fromEntries(new URLSearchParams(text)));
  // Any admin key may sign in (ORCHESTRATOR_API_KEY, its _PREVIOUS companion, ADMIN_KEYS); the session keeps its role.
  const principal = form.success ? await adminKeyPrincipal(form.output.key, config) : null;
  if (principal === null || principal.role === null) {
    // 303 back to the page with a flag the page shows; the attempt was charged to the admin rate limit like any /admin request.
    return new Response(null, { status: 303, headers: { location: "/admin/dashboard?login=failed", "cache-control": "no-store" } });
  }
  const session = (await issueSession(config, Date.now(), principal.role, principal.fingerprint)) as string;
  return new Response(null, {
    status: 303,
    headers: { location: "/admin/dashboard", "set-cookie": sessionCookie(session, config), "cache-control": "no-store" },
  });
};

/**
 * Ends the session everywhere: the id is revoked in the registry (so a copied
 * cookie stops working too) and any dashboard socket on it is closed.
 */
export const postLogout: Handler = async (request, env, _ctx, meta) => {
  const session = await currentSession(request, meta.config, env);
  // Signing someone out is a state change like any other: only from the dashboard's own origin.
  const crossOrigin = session === null ? null : crossOriginProblem(request);
  if (crossOrigin !== null) return crossOrigin;
  if (session !== null) {
    await registryStub(env).revokeSession(session.id, session.expiresAt);
    await metricsStub(env).closeSession(session.id);
  }
  return new Response(null, { status: 303, headers: { location: "/admin/dashboard", "set-cookie": clearedSessionCookie(meta.config), "cache-control": "no-store" } });
};

export const getDashboardState: Handler = async (_request, env) => json(await metricsStub(env).dashboardState(), 200, { "cache-control": "no-store" });

/** Authenticated at the edge (routes through `admin`), so an unauthenticated upgrade never reaches MetricsDO. */
export const getDashboardLive: Handler = async (request, env, _ctx, meta) => {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return problem(426, ProblemType.validation, "Upgrade required", "Connect with a WebSocket.", { field: "upgrade", errors: [{ field: "upgrade", message: "must be websocket" }] }, { upgrade: "websocket" });
  }
  const headers = new Headers({ upgrade: "websocket" });
  // Bearer-authenticated clients have no session to expire; cookie sessions end at their expiry.
  const session = request.headers.get("authorization") === null ? await currentSession(request, meta.config, env) : null;
  if (session !== null) {
    headers.set("x-session-expires-at", String(session.expiresAt));
    headers.set("x-session-id", session.id);
  }
  return metricsStub(env).fetch(new Request("https://metrics.internal/live", { headers }));
};
