/**
 * The dashboard's release panel (issue #20 item 6) in Chromium, against the
 * real orchestrator and demo fleet of global-setup.ts: a v2 instance of
 * `security` (a loopback server of this test) joins the fleet's two, a release
 * of v2 is started through the API, and the panel shows it at the top with its
 * versions, weight, steps, metrics and buttons; Pause changes its state badge
 * live (over the socket, no reload), Abort (from the keyboard) takes the
 * weight to 0. The instance row shows its version. Phone width, no console
 * errors (the page runs under the Worker's real CSP).
 */
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { collectProblems, watchReloads } from "./page-problems";

const ROOT = new URL("../..", import.meta.url).pathname;
const ARTIFACTS = join(ROOT, "test-artifacts");
const SERVICE = "security";
const PUSH_TIMEOUT_MS = 20_000;

const baseUrl = inject("browserBaseUrl");
const adminKey = inject("browserAdminKey");
const registrationToken = inject("browserRegistrationToken");

let browser: Browser;
let canary: Server;
let canaryId = "";
let traffic: ReturnType<typeof setInterval> | undefined;

async function signIn(page: Page): Promise<void> {
  await page.goto(`${baseUrl}/admin/dashboard`);
  await page.getByLabel("Admin key").fill(adminKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${baseUrl}/admin/dashboard`);
}

async function api(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown> };
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // The canary: answers everything, its health check included.
  canary = createServer((request, response) => {
    request.resume();
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ ok: true, version: "v2" }));
  });
  await new Promise<void>((resolve) => canary.listen(0, "127.0.0.1", resolve));
  const port = (canary.address() as AddressInfo).port;
  const registered = await api("POST", "/registry/instances", registrationToken, { service: SERVICE, url: `http://127.0.0.1:${port}/`, version: "v2", metadata: { name: `${SERVICE}-v2` }, ttlSeconds: 3600 });
  expect(registered.status).toBe(201);
  canaryId = registered.body.id as string;
  browser = await chromium.launch({
    executablePath: inject("browserExecutable"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // Traffic for the release's window: most of it to the stable side, 5 % to the canary.
  let n = 0;
  traffic = setInterval(() => {
    fetch(`${baseUrl}/${SERVICE}/hello?n=${n++}`)
      .then((response) => response.arrayBuffer())
      .catch(() => undefined);
  }, 40);
});

afterAll(async () => {
  clearInterval(traffic);
  await browser?.close();
  // Leave the fleet as global-setup made it (the ended release stays on the panel for an hour).
  if (canaryId) await api("DELETE", `/registry/instances/${canaryId}`, registrationToken).catch(() => undefined);
  await new Promise((resolve) => canary?.close(resolve));
});

describe("the release panel in chromium", () => {
  it("shows a release started through the API, pauses it live and aborts it from the keyboard, at desktop and phone width", async () => {
    const started = await api("POST", `/admin/services/${SERVICE}/releases`, adminKey, {
      version: "v2",
      steps: [5, 25, 50, 100],
      stepIntervalSeconds: 600,
      analysis: { minRequests: 20, maxErrorRatePercent: 50, maxP95Ms: 5_000, maxP95VsStable: 20 },
    });
    expect(started.status).toBe(201);
    const releaseId = started.body.id as string;

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems = collectProblems(page);
    const pushed: Array<{ at: number; data: string }> = [];
    page.on("websocket", (socket) => {
      if (socket.url().endsWith("/admin/dashboard/live")) socket.on("framereceived", (frame) => pushed.push({ at: Date.now(), data: String(frame.payload) }));
    });
    try {
      await signIn(page);
      await page.locator('[data-testid="connection"]', { hasText: /^Live$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });

      // ---- the panel, above the services table
      const card = page.getByTestId(`release-${SERVICE}`);
      await card.waitFor({ timeout: PUSH_TIMEOUT_MS });
      const panelBox = await page.getByTestId("releases").boundingBox();
      const tableBox = await page.getByTestId("services-table").boundingBox();
      expect((panelBox?.y ?? Infinity) < (tableBox?.y ?? 0)).toBe(true);
      expect(await page.getByTestId(`release-state-${SERVICE}`).textContent()).toBe("running");
      expect(await page.getByTestId(`release-weight-${SERVICE}`).textContent()).toBe("5 %");
      // The fleet's two instances: whatever version the demo gives them (none, or v1), against the canary's one.
      expect(await page.getByTestId(`release-versions-${SERVICE}`).textContent()).toMatch(/^v2 ×1 vs (unversioned|v1) ×2$/);
      expect(await card.locator(".rel-step-current").textContent()).toBe("5 %");
      expect(await card.locator(".rel-meter").getAttribute("aria-label")).toBe("Canary weight 5 %, step 1 of 4 (steps 5, 25, 50, 100 %)");
      expect(await page.getByTestId(`release-timing-${SERVICE}`).textContent()).toMatch(/^Step ends in (9|10) m \d\d s \(to 25 % if it holds\)$/);
      const metrics = page.getByTestId(`release-metrics-${SERVICE}`);
      expect(await metrics.locator("tbody tr").count()).toBe(3);
      expect(await metrics.locator('tr[data-metric="errorRate"] .rel-threshold').textContent()).toBe("≤ 50 %");
      expect(await metrics.locator('tr[data-metric="p95"] .rel-limit').allTextContents()).toEqual(["≤ 5000 ms", expect.stringMatching(/^≤ 20× stable \+ 10 ms( = [\d.]+ ms)?$/)]);
      // The window fills as traffic is reported: the stable side's requests show up live.
      await expect.poll(async () => Number.parseInt((await metrics.locator('tr[data-metric="requests"] td').nth(1).textContent()) ?? "0", 10), { timeout: 30_000 }).toBeGreaterThan(0);
      expect(await card.locator(".rel-history li").first().textContent()).toContain("started");
      for (const action of ["promote", "pause-resume", "abort"]) expect(await page.getByTestId(`release-${SERVICE}-${action}`).isEnabled()).toBe(true);
      expect(await page.getByTestId(`release-${SERVICE}-pause-resume`).textContent()).toBe("Pause");

      // ---- the service row counts its versions; the canary's instance row carries its version
      expect(await page.getByTestId(`versions-${SERVICE}`).textContent()).toMatch(/^(unversioned|v1) ×2 · v2 ×1$/);
      await page.locator(`[data-testid="service-${SERVICE}"] tr.svc-row`).click();
      const canaryRow = page.getByTestId(`instance-${canaryId}`);
      await canaryRow.waitFor();
      expect(await canaryRow.locator(".badge-version").textContent()).toBe("v2");
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-release.png"), fullPage: true });

      // ---- Pause: confirmed, then the badge changes over the socket (no reload, no state fetch)
      const { stateFetches, navigations } = watchReloads(page);
      const dialog = page.locator("#confirm-dialog");
      const pausedAt = Date.now();
      await page.getByTestId(`release-${SERVICE}-pause-resume`).click();
      await dialog.waitFor({ state: "visible" });
      expect(await dialog.textContent()).toContain(`Pause the release of v2 on ${SERVICE}?`);
      await page.locator('[data-testid="confirm-action"]').click();
      await page.getByTestId(`release-state-${SERVICE}`).filter({ hasText: /^paused$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });
      await page.locator("#toast", { hasText: "is now paused at 5 %" }).waitFor();
      expect(await page.getByTestId(`release-${SERVICE}-pause-resume`).textContent()).toBe("Resume");
      expect(await page.getByTestId(`release-timing-${SERVICE}`).textContent()).toMatch(/^Paused by an operator/);
      expect(await card.locator(".rel-history li").first().textContent()).toContain("paused");
      const pauseDelta = pushed.find(({ at, data }) => {
        if (at < pausedAt) return false;
        const message = JSON.parse(data) as { type?: string; put?: { releases?: Record<string, { state: string }> } };
        return message.type === "delta" && message.put?.releases?.[SERVICE]?.state === "paused";
      });
      expect(pauseDelta).toBeDefined();
      console.log(`[dashboard-release] the pause arrived as a delta of ${pauseDelta?.data.length ?? 0} bytes`);
      const runningDeltas = pushed.filter(({ at, data }) => at < pausedAt && data.includes('"releases"') && data.startsWith('{"type":"delta"')).map(({ data }) => data.length);
      if (runningDeltas.length) console.log(`[dashboard-release] deltas carrying the running release: ${runningDeltas.length}, ${Math.min(...runningDeltas)}-${Math.max(...runningDeltas)} bytes`);

      // ---- Abort from the keyboard: focus the button, Enter, confirm with Enter on the dialog's button
      await page.getByTestId(`release-${SERVICE}-abort`).focus();
      await page.keyboard.press("Enter");
      await dialog.waitFor({ state: "visible" });
      expect(await dialog.textContent()).toContain("weight goes to 0 %");
      await page.locator('[data-testid="confirm-action"]').focus();
      await page.keyboard.press("Enter");
      await page.getByTestId(`release-state-${SERVICE}`).filter({ hasText: /^aborted$/ }).waitFor({ timeout: PUSH_TIMEOUT_MS });
      expect(await page.getByTestId(`release-weight-${SERVICE}`).textContent()).toBe("0 %");
      expect(await page.getByTestId(`release-timing-${SERVICE}`).textContent()).toMatch(/^Aborted at /);
      for (const action of ["promote", "pause-resume", "abort"]) expect(await page.getByTestId(`release-${SERVICE}-${action}`).isDisabled()).toBe(true);
      expect(navigations()).toBe(0);
      expect(stateFetches).toEqual([]);
      // The API agrees.
      const after = await api("GET", `/admin/services/${SERVICE}/releases/${releaseId}`, adminKey);
      expect(after.body).toMatchObject({ state: "aborted", weightPercent: 0 });

      // ---- phone width: the panel fits, no horizontal scrolling
      await page.setViewportSize({ width: 375, height: 812 });
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.waitForTimeout(300);
      const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      expect(widths.scroll).toBeLessThanOrEqual(375);
      const box = await card.boundingBox();
      expect((box?.x ?? 0) + (box?.width ?? 0)).toBeLessThanOrEqual(375);
      await card.screenshot({ path: join(ARTIFACTS, "dashboard-release-phone.png") });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
