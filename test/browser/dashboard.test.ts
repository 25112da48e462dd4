/**
 * The live dashboard in a real browser (Debian's chromium driven by
 * playwright-core) against a real orchestrator and the demo fleet, both
 * started by global-setup.ts. The page runs under the Worker's real CSP, so a
 * CSP violation (an inline style or script) shows up as a console error and
 * fails the test.
 */
import { mkdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { type Browser, type BrowserContext, type Page, type WebSocketRoute, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { collectProblems, watchReloads } from "./page-problems";

const ROOT = new URL("../..", import.meta.url).pathname;
const ARTIFACTS = join(ROOT, "test-artifacts");
const SERVICES = ["main-bot", "api", "banking", "security", "frontend", "analytics"];
const STATUSES = /^(healthy|degraded|unhealthy|stopped|no-instances)$/;
const PUSH_TIMEOUT_MS = 20_000;

const baseUrl = inject("browserBaseUrl");
const adminKey = inject("browserAdminKey");

let browser: Browser;
let traffic: ReturnType<typeof setInterval> | undefined;

/** A GET with WebSocket upgrade headers through node:http (undici's fetch refuses an `upgrade` header). */
function upgradeStatus(path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, baseUrl);
    const req = httpRequest(url, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": Buffer.from("0123456789abcdef").toString("base64"),
        origin: baseUrl,
        ...headers,
      },
    });
    req.setTimeout(10_000, () => req.destroy(new Error("upgrade request timed out")));
    req.on("upgrade", (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    req.on("response", (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Signs in through the form; returns on the dashboard. */
async function signIn(page: Page): Promise<void> {
  await page.goto(`${baseUrl}/admin/dashboard`);
  await page.getByLabel("Admin key").fill(adminKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${baseUrl}/admin/dashboard`);
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: inject("browserExecutable"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // A little proxied traffic, so the metrics and trend charts have something to show.
  let n = 0;
  traffic = setInterval(() => {
    const service = ["api", "banking", "main-bot", "frontend"][n++ % 4];
    fetch(`${baseUrl}/${service}/hello?n=${n}`)
      .then((response) => response.arrayBuffer())
      .catch(() => undefined);
  }, 150);
});

afterAll(async () => {
  clearInterval(traffic);
  await browser?.close();
});

describe("dashboard WebSocket", () => {
  it("refuses an upgrade to /admin/dashboard/live without a session (401)", async () => {
    expect(await upgradeStatus("/admin/dashboard/live")).toBe(401);
    expect(await upgradeStatus("/admin/dashboard/live", { cookie: "orch_session=forged.signature" })).toBe(401);
  });
});

describe("dashboard in chromium", () => {
  it("signs in, shows the fleet live, stops and starts a service over the live socket, and fits a phone", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems = collectProblems(page);
    // Every snapshot the live socket delivers, to show that changes arrive by push.
    const pushed: Array<{ at: number; data: string }> = [];
    page.on("websocket", (socket) => {
      if (!socket.url().endsWith("/admin/dashboard/live")) return;
      socket.on("framereceived", (frame) => pushed.push({ at: Date.now(), data: String(frame.payload) }));
    });

    try {
      // ---- sign-in page, a refused key, then the right one
      await page.goto(`${baseUrl}/admin/dashboard`);
      const keyField = page.getByLabel("Admin key");
      await keyField.waitFor();
      expect(await keyField.getAttribute("type")).toBe("password");
      expect(await keyField.getAttribute("autocomplete")).toBe("current-password");
      expect(await page.locator("#login-error").isVisible()).toBe(false);
      await keyField.fill("not-the-key");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(/\?login=failed$/);
      await page.getByText("That key was not accepted").waitFor();
      await page.screenshot({ path: join(ARTIFACTS, "login-failed.png") });

      await page.getByLabel("Admin key").fill(adminKey);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(`${baseUrl}/admin/dashboard`);

      // ---- the six demo services, each a row with a status, over a live connection
      for (const name of SERVICES) {
        await page.locator(`[data-testid="service-${name}"]`).waitFor();
        expect(await page.locator(`[data-testid="status-${name}"]`).textContent()).toMatch(STATUSES);
      }
      await page.locator('[data-testid="connection"]', { hasText: /^Live$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });
      // The fleet's health checks pass within a few sweeps: wait for analytics to be healthy before stopping it.
      await page.locator('[data-testid="status-analytics"]', { hasText: /^healthy$/ }).waitFor({ timeout: 30_000 });
      // Rows are collapsed until opened (click or Enter); then each instance shows its health and last check.
      const analytics = page.locator('[data-testid="service-analytics"]');
      const analyticsRow = analytics.locator("tr.svc-row");
      expect(await analyticsRow.getAttribute("aria-expanded")).toBe("false");
      expect(await analytics.locator("tr.inst").count()).toBe(0);
      await analyticsRow.click();
      expect(await analyticsRow.getAttribute("aria-expanded")).toBe("true");
      expect(await analytics.locator("tr.inst").count()).toBe(2);
      await analytics.locator("tr.inst", { hasText: "pass" }).first().waitFor({ timeout: PUSH_TIMEOUT_MS });

      // ---- stop analytics from the UI; the change must arrive over the socket, without a reload or a state fetch
      const { stateFetches, navigations } = watchReloads(page);
      const dialog = page.locator("#confirm-dialog");
      const stopClickedAt = Date.now();
      await page.locator('[data-testid="action-analytics-stop"]').click();
      await dialog.waitFor({ state: "visible" });
      expect(await dialog.textContent()).toContain("Stop service analytics?");
      await page.locator('[data-testid="confirm-action"]').click();
      await dialog.waitFor({ state: "hidden" });
      await page.locator('[data-testid="status-analytics"]', { hasText: /^stopped$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });
      await page.locator("#toast", { hasText: "now stopped" }).waitFor();
      expect(navigations()).toBe(0);
      expect(stateFetches).toEqual([]);
      // It came as a delta that replaced the analytics entry.
      const stoppedPush = pushed.some(({ at, data }) => {
        if (at < stopClickedAt) return false;
        const message = JSON.parse(data) as { type?: string; put?: { services?: Record<string, { status: string }> } };
        return message.type === "delta" && message.put?.services?.analytics?.status === "stopped";
      });
      expect(stoppedPush).toBe(true);
      // A stopped service heads the list of what needs attention, as a link to its row.
      await page.locator('[data-testid="attention"] a.jump', { hasText: /^analytics$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-analytics-stopped.png") });

      // ---- start it again: it leaves "stopped"
      await page.locator('[data-testid="action-analytics-start"]').click();
      await dialog.waitFor({ state: "visible" });
      await page.locator('[data-testid="confirm-action"]').click();
      await page.locator('[data-testid="status-analytics"]', { hasText: /^(healthy|degraded|unhealthy|no-instances)$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });
      expect(navigations()).toBe(0);
      expect(stateFetches).toEqual([]);

      // ---- one instance: stop and start it from its own buttons
      const instanceRow = analytics.locator("tr.inst", { hasText: "analytics-1" });
      const instanceTestId = (await instanceRow.getAttribute("data-testid")) ?? "";
      const instanceId = instanceTestId.replace(/^instance-/, "");
      expect(instanceId).not.toBe("");
      await page.locator(`[data-testid="instance-action-${instanceId}-stop"]`).click();
      await dialog.waitFor({ state: "visible" });
      expect(await dialog.textContent()).toContain("analytics-1");
      await page.locator('[data-testid="confirm-action"]').click();
      await instanceRow.locator(".inst-state", { hasText: /^stopped$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });
      await page.locator(`[data-testid="instance-action-${instanceId}-start"]`).click();
      await dialog.waitFor({ state: "visible" });
      await page.locator('[data-testid="confirm-action"]').click();
      await instanceRow.locator(".inst-state", { hasText: /^active$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });
      expect(navigations()).toBe(0);

      // ---- a cancelled confirmation does nothing
      await page.locator('[data-testid="service-api"] tr.svc-row').click();
      await page.locator('[data-testid="action-api-restart"]').click();
      await dialog.waitFor({ state: "visible" });
      await page.locator('[data-testid="cancel-action"]').click();
      await dialog.waitFor({ state: "hidden" });
      expect(await page.locator('[data-testid="status-api"]').textContent()).not.toBe("stopped");

      // ---- the keyboard: "/" focuses the search; Enter on a focused row opens and closes it
      await page.locator("body").click({ position: { x: 5, y: 5 } });
      await page.keyboard.press("/");
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("search");
      await page.keyboard.type("bank");
      await page.locator('[data-testid="service-api"]').waitFor({ state: "detached" });
      expect(await page.locator("tbody.svc").count()).toBe(1);
      await page.keyboard.press("Escape");
      await page.locator('[data-testid="service-api"]').waitFor();
      const bankingRow = page.locator('[data-testid="service-banking"] tr.svc-row');
      await bankingRow.focus();
      await page.keyboard.press("Enter");
      expect(await bankingRow.getAttribute("aria-expanded")).toBe("true");
      await page.keyboard.press("Enter");
      expect(await bankingRow.getAttribute("aria-expanded")).toBe("false");

      // ---- the trend charts: one service, then all again
      const scope = page.getByTestId("chart-scope");
      for (const name of SERVICES) expect(await scope.locator(`option[value="${name}"]`).count()).toBe(1);
      await scope.selectOption("api");
      await page.locator('[data-testid="chart-latency"] canvas').waitFor();
      await scope.selectOption("");

      expect(await page.locator('[data-testid="connection"]').textContent()).toBe("Live");
      // Let the charts and sparklines gather a few more points for the screenshot.
      await page.waitForTimeout(3_000);
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-desktop.png"), fullPage: true });

      // ---- phone width: one column, no horizontal scrolling, even with a service open
      await page.setViewportSize({ width: 375, height: 812 });
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.waitForTimeout(500);
      const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      expect(widths.scroll).toBeLessThanOrEqual(375);
      const boxes = await Promise.all(SERVICES.map((name) => page.locator(`[data-testid="service-${name}"] tr.svc-row`).boundingBox()));
      for (const box of boxes) expect((box?.x ?? 0) + (box?.width ?? 0)).toBeLessThanOrEqual(375);
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-phone.png") });
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-phone-full.png"), fullPage: true });

      // ---- the session cookie: state-changing requests need our Origin; signing out ends it
      const noOrigin = await context.request.post(`${baseUrl}/admin/workers/analytics/restart`, { headers: { "content-type": "application/json" }, data: "{}" });
      expect(noOrigin.status()).toBe(403);
      expect((await context.request.get(`${baseUrl}/admin/dashboard/state`)).status()).toBe(200);
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByLabel("Admin key").waitFor();
      expect((await context.request.get(`${baseUrl}/admin/dashboard/state`)).status()).toBe(401);

      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe("dashboard live connection", () => {
  it("shows Reconnecting… after a drop, reconnects with back-off, and sends an expired session to sign-in", async () => {
    const context: BrowserContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems = collectProblems(page);
    // The socket passes through the test (to the real server), so the test can cut it like a network or server
    // would, and hold the real server's messages back while it plays a server of its own.
    const sockets: WebSocketRoute[] = [];
    const relay = { held: false, fromPage: [] as string[] };
    await page.routeWebSocket(/\/admin\/dashboard\/live$/, (socket) => {
      const server = socket.connectToServer();
      sockets.push(socket);
      server.onMessage((message) => {
        if (!relay.held) socket.send(message);
      });
      socket.onMessage((message) => {
        relay.fromPage.push(String(message));
        if (!relay.held) server.send(message);
      });
    });
    const banner = page.locator('[data-testid="connection"]');
    try {
      await signIn(page);
      await banner.filter({ hasText: /^Live$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });
      expect(sockets).toHaveLength(1);

      // A drop (1012: the server restarts): the banner says so at once, and the page reconnects after about 1 s.
      const droppedAt = Date.now();
      await sockets[0]?.close({ code: 1012, reason: "service restart" });
      await banner.filter({ hasText: /^Reconnecting…/ }).waitFor({ timeout: 5_000 });
      await banner.filter({ hasText: /^Live$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });
      const reconnectedAfterMs = Date.now() - droppedAt;
      expect(sockets).toHaveLength(2);
      expect(reconnectedAfterMs).toBeGreaterThanOrEqual(700);
      expect(reconnectedAfterMs).toBeLessThan(10_000);
      await page.locator('[data-testid="service-analytics"]').waitFor();

      // Whatever the server sends is shown as text, never parsed as HTML; alerts link to what they name; history renders.
      const evil = '<img src=x data-evil="1">';
      const now = Date.now();
      const stats = { requests: 10, rps: 1, errorRate: 50, recent: { errorRate: 50, p50: 5, p95: 9, p99: 12 } };
      const service = `svc${evil}`;
      const labels = { name: "InstanceUnhealthy", service, instance: "inst-1", severity: "critical" };
      const snapshot = {
        type: "snapshot",
        version: 1,
        at: now,
        view: {
          environment: `env${evil}`,
          global: { ...stats, inflight: 0, websockets: 0 },
          loop: { lastSweepAt: now, probed: 1, shards: 1, vantagePoints: ["local"], discounted: [], sweepFailures: 0, alertFailures: 0 },
          services: { [service]: { ...stats, status: "unhealthy", admin: "active", strategy: "round-robin", inflight: 0, panic: true } },
          instances: {
            "inst-1": {
              service,
              target: `http://x/${evil}`,
              health: "unhealthy",
              check: "fail",
              // Classified errors with a trace id (another engineer's work) render too.
              error: { class: "refused", message: `boom${evil}`, traceId: "4bf92f3577b34da6a3ce929d0e0e4736" },
              ejectedUntil: now + 30_000,
              name: `name${evil}`,
            },
          },
          alerts: { fp1: { ...labels, state: "active", summary: `summary${evil}`, startsAt: now - 5_000 } },
          history: {
            entries: [
              { at: now - 1_000, status: "resolved", groupKey: "g2", alerts: [{ name: "InstanceUnhealthy", status: "resolved", service, instance: "inst-1" }], summary: "resolved one" },
              { at: now - 4_000, status: "firing", groupKey: "g1", alerts: [{ name: "InstanceUnhealthy", status: "firing", service, instance: "inst-1" }], summary: "fired" },
            ],
            total: 2,
            dropped: 0,
          },
          autoscaling: [],
        },
      };
      relay.held = true;
      sockets[1]?.send(JSON.stringify(snapshot));
      await page.locator('[data-testid="alerts-active"] li').first().waitFor({ timeout: 5_000 });
      expect(await page.locator('[data-testid="alerts-active"] li').count()).toBe(1);
      expect(await page.locator('[data-testid="alerts-active"]').textContent()).toContain(`summary${evil}`);
      const history = page.locator('[data-testid="alerts-history"] li');
      expect(await history.count()).toBe(2);
      expect(await history.first().textContent()).toContain("resolved"); // newest first
      expect(await page.getByTestId(`status-${service}`).textContent()).toBe("unhealthy");
      // The alert's instance link opens its service and highlights the instance, with its error and trace id.
      await page.locator('[data-testid="alerts-active"] a.jump-instance').click();
      const row = page.locator('[data-testid="instance-inst-1"]');
      await row.waitFor();
      expect(await row.getAttribute("class")).toContain("highlight");
      expect(await row.textContent()).toContain(`boom${evil}`);
      expect(await row.textContent()).toContain("trace 4bf92f3577b34da6a3ce929d0e0e4736");
      expect(await row.locator(".badge-error").textContent()).toBe("refused");
      expect(await page.locator("[data-evil]").count()).toBe(0);
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-alerts.png"), fullPage: true });

      // A delta that skips a version is not applied: the page asks for a snapshot instead.
      relay.fromPage.length = 0;
      sockets[1]?.send(JSON.stringify({ type: "delta", from: 5, to: 6, at: now + 1, put: { services: { [service]: { ...stats, status: "healthy", admin: "active", strategy: "round-robin", inflight: 0 } } } }));
      await expect.poll(() => relay.fromPage.includes("refresh"), { timeout: 5_000 }).toBe(true);
      expect(await page.getByTestId(`status-${service}`).textContent()).toBe("unhealthy");
      // The next delta on top of version 1 applies.
      sockets[1]?.send(JSON.stringify({ type: "delta", from: 1, to: 2, at: now + 2, set: { environment: "patched" } }));
      await page.locator("#environment", { hasText: /^patched$/ }).waitFor({ timeout: 5_000 });

      // 4001 (the session expired): straight to the sign-in page.
      await context.clearCookies();
      await sockets[1]?.close({ code: 4001, reason: "session expired" });
      await page.waitForURL(/\/admin\/dashboard\?session=expired$/);
      await page.getByLabel("Admin key").waitFor();
      await page.getByText("Your session has ended").waitFor();
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
