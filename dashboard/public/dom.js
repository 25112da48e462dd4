// Small DOM helpers. Server data goes into the DOM through textContent and
// setAttribute only (the page's CSP allows no inline script or style, and
// nothing is ever parsed as HTML).

export const byId = (id) => document.getElementById(id);

/** Creates an element. `text` goes through textContent; attributes through setAttribute (never style). */
export function h(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined && options.text !== null) node.textContent = String(options.text);
  if (options.attrs) for (const [name, value] of Object.entries(options.attrs)) if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

/** A sparkline: an SVG polyline drawn by setSpark. */
export function spark(className) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", `spark ${className || ""}`.trim());
  svg.setAttribute("viewBox", "0 0 60 16");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const line = document.createElementNS(SVG, "polyline");
  svg.append(line);
  return svg;
}

/** Draws the last 60 values of `values` (nulls are gaps drawn as 0) scaled to the largest. */
export function setSpark(svg, values) {
  const line = svg.firstChild;
  const n = values.length;
  if (n < 2) {
    if (line.getAttribute("points")) line.setAttribute("points", "");
    return;
  }
  let max = 0;
  for (const v of values) if (typeof v === "number" && v > max) max = v;
  const scale = max > 0 ? 14 / max : 0;
  const step = 60 / (n - 1);
  let points = "";
  for (let i = 0; i < n; i++) {
    const v = typeof values[i] === "number" ? values[i] : 0;
    points += `${(i * step).toFixed(1)},${(15 - v * scale).toFixed(1)} `;
  }
  line.setAttribute("points", points);
}

export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function setClass(node, className) {
  if (node.className !== className) node.className = className;
}

export function setAttr(node, name, value) {
  if (value === null || value === undefined) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else if (node.getAttribute(name) !== String(value)) node.setAttribute(name, String(value));
}

export function setHidden(node, hidden) {
  if (node.hidden !== hidden) node.hidden = hidden;
}
