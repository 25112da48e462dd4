/** Numbers as the bench reports them. */

export function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function fmtInt(x) {
  return Math.round(x).toLocaleString("en-US");
}

export function fmtMs(x) {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}
