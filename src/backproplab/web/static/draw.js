// Small SVG helpers: elements, linear scales, nice ticks.
export const SVGNS = "http://www.w3.org/2000/svg";

export function svgEl(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

export function clearEl(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

export function htmlEl(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

export function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  const f = (v) => r0 + ((v - d0) / span) * (r1 - r0);
  f.domain = [d0, d1];
  return f;
}

export function ticks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi <= lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

export function tickLabel(v) {
  const a = Math.abs(v);
  let text = a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(0) : String(Number(v.toPrecision(6)));
  return text.replace(/-/g, "\u2212");
}

// Axes with ticks and labels inside a plot box {x, y, w, h}.
export function axes(svg, box, xs, ys, xLabel, yLabel, yTickFormat = tickLabel) {
  const g = svgEl("g", { class: "axes" }, svg);
  svgEl("line", { x1: box.x, y1: box.y + box.h, x2: box.x + box.w, y2: box.y + box.h, class: "axis" }, g);
  svgEl("line", { x1: box.x, y1: box.y, x2: box.x, y2: box.y + box.h, class: "axis" }, g);
  for (const t of ticks(xs.domain[0], xs.domain[1], 5)) {
    const x = xs(t);
    svgEl("line", { x1: x, y1: box.y + box.h, x2: x, y2: box.y + box.h + 4, class: "axis" }, g);
    svgEl("text", { x, y: box.y + box.h + 16, "text-anchor": "middle", class: "tick" }, g, tickLabel(t));
  }
  const yt = ys.ticks || ticks(ys.domain[0], ys.domain[1], 4);
  for (const t of yt) {
    const y = ys(t);
    svgEl("line", { x1: box.x - 4, y1: y, x2: box.x, y2: y, class: "axis" }, g);
    svgEl("text", { x: box.x - 6, y: y + 4, "text-anchor": "end", class: "tick" }, g, yTickFormat(t));
  }
  svgEl("text", { x: box.x + box.w / 2, y: box.y + box.h + 32, "text-anchor": "middle", class: "label" }, g, xLabel);
  svgEl("text", { x: 14, y: box.y + box.h / 2, "text-anchor": "middle", class: "label",
    transform: `rotate(-90 14 ${box.y + box.h / 2})` }, g, yLabel);
  return g;
}

export function pathData(points) {
  let d = "";
  let pen = false;
  for (const [x, y] of points) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) { pen = false; continue; }
    d += `${pen ? "L" : "M"}${x.toFixed(2)},${y.toFixed(2)}`;
    pen = true;
  }
  return d;
}

export function svgSize(svg) {
  const r = svg.getBoundingClientRect();
  const w = Math.max(200, Math.round(r.width));
  const h = Math.max(60, Math.round(r.height));
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  return { w, h };
}
