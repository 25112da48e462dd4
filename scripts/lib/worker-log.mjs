/**
 * The Worker's JSON log lines as `npm start` treats them (scripts/start.mjs):
 * which belong in the terminal, and how they read there. Every one of them
 * also goes to the access log file, whatever is shown. Node built-ins only;
 * types in worker-log.d.mts.
 *
 * An access line (it has `status`) is shown only for a 5xx: a 4xx is the
 * client's business (a wrong key, an unknown service, a 429) and a terminal
 * line for each one buries the errors that matter. Other lines are shown at
 * level warn or error. Decided on `status` first and `level` second, so the
 * rule holds whatever level the Worker gives a 4xx.
 */

/**
 * The parsed entry when `line` is one of the Worker's JSON log lines, else null
 * (wrangler's own output, a stack trace: not this module's to judge).
 *
 * @param {string} line
 * @returns {Record<string, unknown> | null}
 */
export function parseWorkerLine(line) {
  if (!/^\s*\{/.test(line)) return null;
  try {
    const entry = JSON.parse(line);
    return typeof entry === "object" && entry !== null && !Array.isArray(entry) ? entry : null;
  } catch {
    return null;
  }
}

/**
 * Whether an entry belongs in the terminal by default.
 *
 * @param {Record<string, unknown>} entry
 */
export function showWorkerEntry(entry) {
  if (typeof entry.status === "number") return entry.status >= 500;
  return entry.level === "warn" || entry.level === "error";
}

/**
 * A Worker log entry shortened to what a person reads:
 * "error GET /api/x → 502 (upstream-unreachable)", or "warn message key=value …".
 *
 * @param {Record<string, unknown>} entry
 */
export function summarizeWorkerEntry(entry) {
  const level = String(entry.level ?? "log");
  if (entry.method && entry.path && entry.status !== undefined) {
    const type = typeof entry.errorType === "string" ? ` (${entry.errorType.split(":").pop()})` : "";
    return `${level} ${entry.method} ${entry.path} → ${entry.status}${type}`;
  }
  const rest = Object.entries(entry)
    .filter(([key]) => key !== "level" && key !== "message")
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  return `${level} ${entry.message ?? ""} ${rest}`.trim();
}
