/** Watching a page in the browser tests: what it reports going wrong, and whether it reloaded or fetched its state again. */
import type { Page } from "playwright-core";

/** Errors the page reports: console.error (CSP violations and failed loads included) and uncaught exceptions. */
export function collectProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console.error: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return problems;
}

/**
 * From now on, the page's reloads and fetches of /admin/dashboard/state: a
 * change that must arrive over the live socket leaves both at zero.
 */
export function watchReloads(page: Page): { readonly stateFetches: string[]; navigations(): number } {
  const stateFetches: string[] = [];
  let navigations = 0;
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === "/admin/dashboard/state") stateFetches.push(request.url());
  });
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) navigations++;
  });
  return { stateFetches, navigations: () => navigations };
}
