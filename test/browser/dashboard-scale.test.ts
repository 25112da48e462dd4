/**
 * The dashboard at the size of issue #19's trial: 500 instances in 25
 * services (the demo fleet's 12 in six, and 488 more in 19 services registered
 * here, all on one loopback HTTP server with a base path each; some of them
 * answer their health checks with 503, one points at a port nobody listens
 * on). In Chromium, against the real orchestrator of global-setup.ts:
 *
 * - the signed-in page is at most three screens tall at 1280×800 before
 *   anything is expanded, and fits a phone's width;
 * - a search narrows the table to one instance;
 * - an alert's link scrolls to its instance and highlights it;
 * - a stop arrives live, as a delta of at most 32 KB;
 * - no console errors; no long task to speak of during live updates.
 *
 * Timing targets (first render ≤ 1 s, no long task over 50 ms) belong in
 * benchmarks, not tests: here the bounds are generous and the measured values
 * are printed ([dashboard-scale] lines).
 *
 * Also: ten reloads within a minute must not be refused with 429, on a second
 * orchestrator with the default rate limits.
 */
import { type AddressInfo } from "node:net";
import { createServer, type Server } from "node:http";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { collectProblems } from "./page-problems";

const ROOT = new URL("../..", import.meta.url).pathname;
const ARTIFACTS = join(ROOT, "test-artifacts");
const baseUrl = inject("browserBaseUrl");
const strictBaseUrl = inject("browserStrictBaseUrl");
const adminKey = inject("browserAdminKey");
const registrationToken = inject("browserRegistrationToken");

/** With the demo fleet's 12 instances in 6 services: 500 in 25. */
const EXTRA_SERVICES = 19;
const EXTRA_INSTANCES = 488;
const SCREEN = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const LIVE_TIMEOUT_MS = 20_000;
/** Generous bounds only (see the header); the targets are in the report and the bench notes. */
const FIRST_RENDER_BOUND_MS = 5_000;
const LONG_TASK_BOUND_MS = 250;
const DELTA_MAX_BYTES = 32 * 1024;

interface Registered {
  readonly id: string;
  readonly service: string;
  readonly sick: boolean;
}

let browser: Browser;
let upstream: Server;
let registered: Registered[] = [];
let traffic: ReturnType<typeof setInterval> | undefined;

const serviceName = (i: number) => `scale-${String(i + 1).padStart(2, "0")}`;

/** Which instances fail their health checks: three of scale-04, all of scale-13; scale-09's sixth has nothing listening. */
function plan(): { service: string; index: number; sick: boolean; refused: boolean }[] {
  const out: { service: string; index: number; sick: boolean; refused: boolean }[] = [];
  for (let n = 0; n < EXTRA_INSTANCES; n++) {
    const s = n % EXTRA_SERVICES;
    const index = Math.floor(n / EXTRA_SERVICES);
    const service = serviceName(s);
    out.push({ service, index, sick: (service === "scale-04" && index < 3) || service === "scale-13", refused: service === "scale-09" && index === 5 });
  }
  return out;
}

async function api(path: string, init: { method: string; token: string; body?: unknown }): Promise<Response> {
  return fetch(`${baseUrl}${path}`, {
    method: init.method,
    headers: { authorization: `Bearer ${init.token}`, "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

/** Runs `work` over `items`, `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

async function signIn(page: Page, url = baseUrl): Promise<void> {
  await page.goto(`${url}/admin/dashboard`);
  await page.getByLabel("Admin key").fill(adminKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${url}/admin/dashboard`);
}

/** Every text frame the live socket delivers, with its size in bytes. */
function recordFrames(page: Page): { at: number; bytes: number; message: { type?: string; [key: string]: unknown } }[] {
  const frames: { at: number; bytes: number; message: { type?: string } }[] = [];
  page.on("websocket", (socket) => {
    if (!socket.url().endsWith("/admin/dashboard/live")) return;
    socket.on("framereceived", ({ payload }) => {
      const text = typeof payload === "string" ? payload : payload.toString("utf8");
      try {
        frames.push({ at: Date.now(), bytes: Buffer.byteLength(text), message: JSON.parse(text) as { type?: string } });
      } catch {
        // not JSON: not ours
      }
    });
  });
  return frames;
}

const log = (line: string) => console.log(`[dashboard-scale] ${line}`);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // One server for all 488: /sick/… answers 503, anything else 200.
  upstream = createServer((request, response) => {
    const sick = (request.url ?? "").startsWith("/sick/");
    response.writeHead(sick ? 503 : 200, { "content-type": "application/json" });
    response.end(sick ? '{"status":"sick"}' : '{"status":"ok"}');
  });
  upstream.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const port = (upstream.address() as AddressInfo).port;
  // A port that was free a moment ago: nothing listens on it.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));

  const registeredAt = Date.now();
  const results: Registered[] = [];
  await pool(plan(), 8, async ({ service, index, sick, refused }) => {
    const url = refused ? `http://127.0.0.1:${deadPort}/${service}/i-${index}` : `http://127.0.0.1:${port}/${sick ? "sick/" : ""}${service}/i-${index}`;
    const response = await api("/registry/instances", { method: "POST", token: registrationToken, body: { service, url, ttlSeconds: 3600, metadata: { name: `${service}-i${String(index).padStart(2, "0")}` } } });
    if (response.status !== 201 && response.status !== 200) throw new Error(`registering ${url}: HTTP ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { id: string };
    results.push({ id: body.id, service, sick: sick || refused });
  });
  registered = results;
  // Probing 500 instances every second would load this machine more than the dashboard does: every 3 s for these.
  await pool(
    Array.from({ length: EXTRA_SERVICES }, (_, i) => serviceName(i)),
    4,
    async (name) => {
      const response = await api(`/admin/services/${name}`, { method: "PUT", token: adminKey, body: { healthCheck: { intervalMs: 3_000 } } });
      if (!response.ok) throw new Error(`PUT /admin/services/${name}: HTTP ${response.status} ${await response.text()}`);
    },
  );
  log(`registered ${registered.length} instances in ${EXTRA_SERVICES} services in ${Date.now() - registeredAt} ms`);

  browser = await chromium.launch({
    executablePath: inject("browserExecutable"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // Some traffic, so rates, latencies and sparklines move (and updates keep coming).
  let n = 0;
  traffic = setInterval(() => {
    const service = serviceName(n++ % 6);
    fetch(`${baseUrl}/${service}/hello?n=${n}`)
      .then((response) => response.arrayBuffer())
      .catch(() => undefined);
  }, 100);
}, 240_000);

afterAll(async () => {
  clearInterval(traffic);
  await browser?.close();
  // Leave the orchestrator as the other browser tests expect it: the demo fleet only.
  await pool(registered, 8, async ({ id }) => {
    await api(`/registry/instances/${encodeURIComponent(id)}`, { method: "DELETE", token: registrationToken })
      .then((response) => response.arrayBuffer())
      .catch(() => undefined);
  });
  await new Promise<void>((resolve) => upstream?.close(() => resolve()));
}, 240_000);

describe("dashboard at 500 instances in 25 services", () => {
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let frames: ReturnType<typeof recordFrames>;

  beforeAll(async () => {
    context = await browser.newContext({ viewport: SCREEN });
    // Long tasks from the start, to tell the first render's apart from the updates'.
    await context.addInitScript(() => {
      const tasks: { start: number; duration: number }[] = [];
      (window as unknown as { __longTasks: typeof tasks }).__longTasks = tasks;
      // How long each animation-frame callback runs: the page renders each live update in one.
      const frames: { start: number; duration: number }[] = [];
      (window as unknown as { __frameWork: typeof frames }).__frameWork = frames;
      const raf = window.requestAnimationFrame.bind(window);
      window.requestAnimationFrame = (callback) =>
        raf((time) => {
          const start = performance.now();
          callback(time);
          frames.push({ start, duration: performance.now() - start });
        });
      try {
        new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) tasks.push({ start: entry.startTime, duration: entry.duration });
        }).observe({ type: "longtask", buffered: true });
      } catch {
        // no longtask support: the list stays empty
      }
    });
    page = await context.newPage();
    problems = collectProblems(page);
    frames = recordFrames(page);
  });

  afterAll(async () => {
    await context?.close();
  });

  it("renders the fleet within three screens at 1280×800, in well under a second", async () => {
    await signIn(page);
    await page.locator("body[data-ready]").waitFor({ timeout: LIVE_TIMEOUT_MS });
    await page.locator('[data-testid="connection"]', { hasText: /^Live$/ }).waitFor({ timeout: LIVE_TIMEOUT_MS });
    // Every service is a row, collapsed.
    await expect.poll(() => page.locator("tbody.svc").count(), { timeout: LIVE_TIMEOUT_MS }).toBeGreaterThanOrEqual(25);
    expect(await page.locator("tr.inst").count()).toBe(0);
    // What is wrong is named at the top: the all-sick service, as a link to its row.
    await page.locator('[data-testid="attention"] a.jump', { hasText: /^scale-13$/ }).waitFor({ timeout: 60_000 });

    const measured = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
      const mark = performance.getEntriesByName("dashboard:first-render")[0];
      return {
        firstRenderMs: mark ? Math.round(mark.startTime) : null,
        domContentLoadedMs: nav ? Math.round(nav.domContentLoadedEventEnd) : null,
        height: document.documentElement.scrollHeight,
        nodes: document.getElementsByTagName("*").length,
      };
    });
    const first = frames.find((f) => f.message.type === "snapshot");
    const state = await page.request.get(`${baseUrl}/admin/dashboard/state`);
    const stateBytes = (await state.body()).byteLength;
    log(`first render ${measured.firstRenderMs} ms after navigation start (DOMContentLoaded ${measured.domContentLoadedMs} ms)`);
    log(`page height ${measured.height} px at ${SCREEN.width}×${SCREEN.height} (${(measured.height / SCREEN.height).toFixed(2)} screens), ${measured.nodes} DOM elements`);
    log(`first snapshot ${first?.bytes} bytes on the live socket; GET /admin/dashboard/state ${stateBytes} bytes`);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-scale-desktop.png"), fullPage: true });

    expect(measured.height).toBeLessThanOrEqual(3 * SCREEN.height);
    expect(measured.firstRenderMs).not.toBeNull();
    expect(measured.firstRenderMs as number).toBeLessThan(FIRST_RENDER_BOUND_MS);
    expect(first?.bytes ?? Infinity).toBeLessThan(stateBytes);
    expect(problems).toEqual([]);
  });

  it("narrows to one instance when its id is searched, and lists it under its opened service", async () => {
    const target = registered.find((r) => r.service === "scale-07" && !r.sick) as Registered;
    await page.keyboard.press("Escape");
    await page.locator("body").click({ position: { x: 2, y: 2 } });
    await page.keyboard.press("/");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("search");
    await page.keyboard.type(target.id);
    await expect.poll(() => page.locator("tbody.svc").count()).toBe(1);
    expect(await page.locator("tr.inst").count()).toBe(1);
    const row = page.locator(`[data-testid="instance-${target.id}"]`);
    expect(await row.isVisible()).toBe(true);
    expect(await page.locator('[data-testid="service-scale-07"] tr.svc-row').getAttribute("aria-expanded")).toBe("true");
    // A name or a target narrows too; a state filter combines with it.
    await page.locator("#search").fill("scale-04-i0");
    await expect.poll(() => page.locator("tr.inst").count()).toBeGreaterThanOrEqual(10);
    await page.locator("#state-filter").selectOption("unhealthy");
    await expect.poll(() => page.locator("tr.inst").count(), { timeout: 30_000 }).toBe(3);
    await page.locator("#clear-filter").click();
    await expect.poll(() => page.locator("tr.inst").count()).toBe(0);
    expect(await page.locator("tbody.svc").count()).toBeGreaterThanOrEqual(25);
    expect(problems).toEqual([]);
  });

  it("scrolls to and highlights the instance an alert names, opening its service", async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    const link = page.locator('[data-testid="alerts-active"] a.jump-instance').first();
    // InstanceUnhealthy fires after two failed checks (3 s apart) and an evaluation (every 10 s).
    await link.waitFor({ timeout: 60_000 });
    const href = (await link.getAttribute("href")) ?? "";
    const id = decodeURIComponent(href.replace(/^#instance=/, ""));
    const service = registered.find((r) => r.id === id)?.service;
    expect(service).toBeDefined();
    await link.click();
    const row = page.locator(`[data-testid="instance-${id}"]`);
    await row.waitFor();
    expect(await row.getAttribute("class")).toContain("highlight");
    expect(await page.locator(`[data-testid="service-${service}"] tr.svc-row`).getAttribute("aria-expanded")).toBe("true");
    const box = await row.boundingBox();
    expect(box).not.toBeNull();
    expect((box?.y ?? -1) >= 0 && (box?.y ?? Infinity) + (box?.height ?? 0) <= SCREEN.height).toBe(true);
    expect(await page.evaluate(() => location.hash)).toBe(href);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-scale-alert-link.png") });
    // Its error is on the row.
    expect(await row.locator(".i-check").textContent()).toMatch(/http|refused|fail|timeout/);
    expect(problems).toEqual([]);
  });

  it("shows a stop live, sent as a delta under 32 KB, with no long task to speak of", async () => {
    const target = registered.find((r) => r.service === "scale-02" && !r.sick) as Registered;
    await page.locator("#clear-filter").click();
    await page.locator("#search").fill(target.id);
    const row = page.locator(`[data-testid="instance-${target.id}"]`);
    await row.waitFor();
    const since = Date.now();
    const before = frames.length;
    await page.locator(`[data-testid="instance-action-${target.id}-stop"]`).click();
    await page.locator("#confirm-dialog").waitFor({ state: "visible" });
    const confirmedAt = Date.now();
    await page.locator('[data-testid="confirm-action"]').click();
    await row.locator(".inst-state", { hasText: /^stopped$/ }).waitFor({ timeout: 5_000 });
    const shownAfterMs = Date.now() - confirmedAt;
    const delta = frames.slice(before).find((f) => {
      const put = (f.message as { put?: { instances?: Record<string, { admin?: string }> } }).put;
      return f.message.type === "delta" && put?.instances !== undefined && Object.hasOwn(put.instances, target.id) && put.instances[target.id]?.admin === "stopped";
    });
    expect(delta).toBeDefined();

    // A few more live updates, to see the usual delta and the page's long tasks.
    const mark = await page.evaluate(() => performance.now());
    await page.waitForTimeout(8_000);
    const updates = frames.filter((f) => f.at >= since && f.message.type === "delta");
    const sizes = updates.map((f) => f.bytes).sort((a, b) => a - b);
    const tasks = await page.evaluate((from) => (window as unknown as { __longTasks: { start: number; duration: number }[] }).__longTasks.filter((t) => t.start >= from), mark);
    const allTasks = await page.evaluate(() => (window as unknown as { __longTasks: { start: number; duration: number }[] }).__longTasks);
    const longest = tasks.reduce((max, t) => Math.max(max, t.duration), 0);
    const work = (await page.evaluate((from) => (window as unknown as { __frameWork: { start: number; duration: number }[] }).__frameWork.filter((f) => f.start >= from).map((f) => f.duration), mark)).sort((a, b) => a - b);
    log(`stop shown ${shownAfterMs} ms after confirming; its delta ${delta?.bytes} bytes`);
    log(`${sizes.length} deltas in ${Math.round((Date.now() - since) / 1000)} s: median ${sizes[Math.floor(sizes.length / 2)]} bytes, max ${sizes[sizes.length - 1]} bytes`);
    log(`render per update: median ${work[Math.floor(work.length / 2)]?.toFixed(1)} ms, max ${work[work.length - 1]?.toFixed(1)} ms over ${work.length} frames`);
    const firstRender = await page.evaluate(() => performance.getEntriesByName("dashboard:first-render")[0]?.startTime ?? 0);
    log(`long tasks during updates: ${tasks.length} (longest ${Math.round(longest)} ms)`);
    log(`long tasks since navigation (the first render, searches, opening services): ${allTasks.map((t) => `${Math.round(t.duration)} ms at ${Math.round(t.start - firstRender)} ms after the first render`).join("; ") || "none"}`);

    expect(delta?.bytes ?? Infinity).toBeLessThanOrEqual(DELTA_MAX_BYTES);
    expect(updates.length).toBeGreaterThanOrEqual(3);
    expect(longest).toBeLessThan(LONG_TASK_BOUND_MS);

    // Start it again, from the API this time: that shows live too.
    const start = await api(`/admin/workers/scale-02/instances/${encodeURIComponent(target.id)}/start`, { method: "POST", token: adminKey, body: {} });
    expect(start.status).toBe(200);
    await row.locator(".inst-state", { hasText: /^active$/ }).waitFor({ timeout: 5_000 });
    await page.locator("#clear-filter").click();
    expect(problems).toEqual([]);
  });

  it("fits a phone's width, with a service open", async () => {
    await page.locator("#clear-filter").click();
    await page.locator("#collapse-all").click();
    await page.setViewportSize(PHONE);
    await page.locator('[data-testid="service-scale-04"] tr.svc-row').click();
    await page.locator('[data-testid="service-scale-04"] tr.inst').first().waitFor();
    await page.waitForTimeout(300);
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth, height: document.documentElement.scrollHeight }));
    log(`phone ${PHONE.width}×${PHONE.height}: scrollWidth ${widths.scroll}, page height ${widths.height} px with one service open`);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-scale-phone.png"), fullPage: true });
    expect(widths.scroll).toBeLessThanOrEqual(widths.inner);
    await page.setViewportSize(SCREEN);
    expect(problems).toEqual([]);
  });
});

describe("dashboard reloads", () => {
  it("are not refused (429) ten times within a minute, with the default rate limits", async () => {
    const context = await browser.newContext({ viewport: SCREEN });
    const page = await context.newPage();
    const problems = collectProblems(page);
    const refused: string[] = [];
    page.on("response", (response) => {
      if (response.status() === 429) refused.push(`${response.request().method()} ${new URL(response.url()).pathname}`);
    });
    try {
      const startedAt = Date.now();
      await signIn(page, strictBaseUrl);
      await page.locator('[data-testid="connection"]', { hasText: /^Live$/ }).waitFor({ timeout: LIVE_TIMEOUT_MS });
      for (let i = 0; i < 10; i++) {
        const response = await page.reload();
        expect(response?.status(), `reload ${i + 1}`).toBe(200);
        // The live socket's upgrade is an admin request too: Live means it was not refused.
        await page.locator('[data-testid="connection"]', { hasText: /^Live$/ }).waitFor({ timeout: 10_000 });
      }
      log(`ten reloads in ${Math.round((Date.now() - startedAt) / 1000)} s; refused: ${refused.length ? refused.join(", ") : "none"}`);
      expect(Date.now() - startedAt).toBeLessThan(60_000);
      expect(refused).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
