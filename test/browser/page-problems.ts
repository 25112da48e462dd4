/** What a page reports going wrong, for the browser tests: console.error (CSP violations and failed loads included) and uncaught exceptions. */
import type { Page } from "playwright-core";

export function collectProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console.error: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return problems;
}
