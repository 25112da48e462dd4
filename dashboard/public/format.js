// Formatting for the page: numbers, times, targets and errors.

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

export const isNum = (x) => typeof x === "number" && Number.isFinite(x);

export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function fmtTime(value) {
  const date = toDate(value);
  if (!date) return "—";
  return Math.abs(Date.now() - date.getTime()) > 20 * 3600_000 ? dateTimeFormat.format(date) : timeFormat.format(date);
}

export const fmtClock = (seconds) => timeFormat.format(new Date(seconds * 1000));

export function fmtMs(x) {
  if (!isNum(x)) return "—";
  return `${x < 10 ? x.toFixed(1) : Math.round(x).toLocaleString()} ms`;
}

export const fmtRps = (x) => (isNum(x) ? (x >= 100 ? Math.round(x).toLocaleString() : x.toFixed(x >= 10 ? 1 : 2)) : "—");
export const fmtPct = (x) => (isNum(x) ? `${x.toFixed(x >= 10 ? 1 : 2)} %` : "—");
export const fmtInt = (x) => (isNum(x) ? Math.round(x).toLocaleString() : "—");
export const fmtWeight = (x) => (isNum(x) ? String(Math.round(x * 100) / 100) : "—");
export const shortId = (id) => (String(id).length > 8 ? String(id).slice(0, 8) : String(id));

/** In flight, and of those the open WebSockets when there are any. */
export const fmtInflight = (inflight, sockets) => (isNum(sockets) && sockets > 0 ? `${fmtInt(inflight || 0)} (${fmtInt(sockets)} WS)` : fmtInt(inflight || 0));

/** "binding:API" → "binding API"; URLs as they are. */
export const fmtTarget = (target) => (typeof target === "string" ? (target.startsWith("binding:") ? `binding ${target.slice(8)}` : target) : "—");

const ERROR_CLASS = /^(dns|refused|reset|tls|timeout|http|other):\s*/;

/**
 * A probe error of any shape, as { cls, text, traceId }: a string (perhaps
 * "<class>: message"), an object { class, message, traceId }, or anything else.
 */
export function describeError(error) {
  if (error === null || error === undefined || error === "") return null;
  if (typeof error === "string") {
    const m = ERROR_CLASS.exec(error);
    return m ? { cls: m[1], text: error.slice(m[0].length), traceId: null } : { cls: null, text: error, traceId: null };
  }
  if (typeof error === "object") {
    const cls = typeof error.class === "string" ? error.class : typeof error.kind === "string" ? error.kind : null;
    const message = typeof error.message === "string" ? error.message : JSON.stringify(error);
    const m = cls ? null : ERROR_CLASS.exec(message);
    return {
      cls: cls || (m ? m[1] : null),
      text: m ? message.slice(m[0].length) : message,
      traceId: typeof error.traceId === "string" ? error.traceId : null,
    };
  }
  return { cls: null, text: String(error), traceId: null };
}

/** One line: "[class] message (trace …)". */
export function fmtError(error) {
  const d = describeError(error);
  if (!d) return "";
  return `${d.cls ? `[${d.cls}] ` : ""}${d.text}${d.traceId ? ` (trace ${d.traceId})` : ""}`;
}
