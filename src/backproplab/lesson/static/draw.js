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
  node.replaceChildren();  // at once, not child by child
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

// What the charts read from the page's layout (boxes, type sizes, text widths) is kept from one drawing to the next:
// reading it after writing the drawing makes the browser lay the page out again, once per read. A redraw of
// the whole page (a step, a resize, present mode) starts afresh with newLayout(); web fonts arriving do too.
let sizes = new WeakMap();  // svg -> its --chart-font
let boxes = new WeakMap();  // svg -> its box {w, h, shown}
let widths = new Map();  // "svg id|font size|class|text" -> width in px
export function newLayout() {
  sizes = new WeakMap();
  boxes = new WeakMap();
  if (widths.size > 5000) widths = new Map();  // a long session's labels: kept to a bounded number
}
if (typeof document !== "undefined" && document.fonts) {
  document.fonts.addEventListener("loadingdone", () => { sizes = new WeakMap(); boxes = new WeakMap(); widths = new Map(); });
}

// The charts' type size in px (the page's --chart-font: larger when presenting), so that the margins
// around a plot grow with the text they hold.
export function fontSize(svg) {
  if (sizes.has(svg)) return sizes.get(svg);
  const v = parseFloat(getComputedStyle(svg).getPropertyValue("--chart-font"));
  const size = Number.isFinite(v) && v > 0 ? v : 12;
  sizes.set(svg, size);
  return size;
}

// Room below a plot box for the x ticks and the x label.
export function bottomMargin(svg) {
  return Math.round(fontSize(svg) * 2.7 + 12);
}

// Axes with ticks and labels inside a plot box {x, y, w, h}. Fewer ticks where the box is narrow, so that
// their labels never touch.
export function axes(svg, box, xs, ys, xLabel, yLabel, yTickFormat = tickLabel) {
  const fs = fontSize(svg);
  const g = svgEl("g", { class: "axes" }, svg);
  svgEl("line", { x1: box.x, y1: box.y + box.h, x2: box.x + box.w, y2: box.y + box.h, class: "axis" }, g);
  svgEl("line", { x1: box.x, y1: box.y, x2: box.x, y2: box.y + box.h, class: "axis" }, g);
  let xt = ticks(xs.domain[0], xs.domain[1], Math.max(2, Math.min(5, Math.floor(box.w / (fs * 5)))));
  const widest = Math.max(...xt.map((t) => tickLabel(t).length)) * fs * 0.62 + fs;
  while (xt.length > 2 && (xt.length - 1) * widest > box.w) xt = xt.filter((_, i) => i % 2 === 0);
  for (const t of xt) {
    const x = xs(t);
    svgEl("line", { x1: x, y1: box.y + box.h, x2: x, y2: box.y + box.h + 4, class: "axis" }, g);
    svgEl("text", { x, y: box.y + box.h + fs + 4, "text-anchor": "middle", class: "tick" }, g, tickLabel(t));
  }
  const yt = ys.ticks || ticks(ys.domain[0], ys.domain[1], yTickCount(svg, box.h));
  for (const t of yt) {
    const y = ys(t);
    svgEl("line", { x1: box.x - 4, y1: y, x2: box.x, y2: y, class: "axis" }, g);
    svgEl("text", { x: box.x - 6, y: y + fs / 3, "text-anchor": "end", class: "tick" }, g, yTickFormat(t));
  }
  svgEl("text", { x: box.x + box.w / 2, y: box.y + box.h + 2 * fs + 8, "text-anchor": "middle", class: "label" }, g,
    xLabel);
  const lx = fs + 2;
  svgEl("text", { x: lx, y: box.y + box.h / 2, "text-anchor": "middle", class: "label",
    transform: `rotate(-90 ${lx} ${box.y + box.h / 2})` }, g, yLabel);
  return g;
}

function yTickCount(svg, height) {
  return Math.max(2, Math.min(4, Math.floor(height / (fontSize(svg) * 3))));
}

// Room left of a plot for its y ticks' labels (from lo to hi, in a plot `height` high) and the y label beside
// them: at least `least`, more where the labels are long (0.2728).
export function leftMargin(svg, lo, hi, height, least, format = tickLabel) {
  const widest = Math.max(0, ...ticks(lo, hi, yTickCount(svg, height)).map((t) => measure(svg, format(t), "tick")));
  return Math.max(least, Math.ceil(widest + 2 * fontSize(svg) + 14));
}

// Lines of text, one under another from the baseline y, each kept inside the chart: a line too long for
// [x, right] starts further left (down to `left`), and one still too long breaks between words onto the
// next line. lines: [{text, cls, title}]. Returns the baseline of the line after the last.
export function textLines(svg, lines, { x, y, right, left = 4 }) {
  const step = fontSize(svg) + 4;
  let at = y;
  for (const line of lines) {
    if (!line.text) continue;
    for (const part of fitted(svg, line, x, left, right)) {
      const node = svgEl("text", { x: part.x, y: at, class: line.cls }, svg, part.text);
      if (line.title) svgEl("title", {}, node, line.title);
      at += step;
    }
  }
  return at;
}

function measure(svg, text, cls) {
  const key = `${svg.id}|${fontSize(svg)}|${cls}|${text}`;
  if (widths.has(key)) return widths.get(key);
  const probe = svgEl("text", { x: 0, y: -100, class: cls }, svg, text);
  const width = probe.getComputedTextLength();
  probe.remove();
  widths.set(key, width);
  return width;
}

// The width of a text element already in a chart (its class and attributes as drawn), kept like measure()'s.
export function textWidth(svg, node, key) {
  const at = `${svg.id}|${fontSize(svg)}|${key}`;
  if (!widths.has(at)) widths.set(at, node.getComputedTextLength());
  return widths.get(at);
}

function fitted(svg, line, x, left, right) {
  const whole = measure(svg, line.text, line.cls);
  if (x + whole <= right) return [{ text: line.text, x }];
  if (left + whole <= right) return [{ text: line.text, x: right - whole }];
  const out = [];
  let cur = "";
  for (const word of line.text.split(" ")) {
    const next = cur ? `${cur} ${word}` : word;
    if (cur && left + measure(svg, next, line.cls) > right) { out.push({ text: cur, x: left }); cur = word; }
    else cur = next;
  }
  if (cur) out.push({ text: cur, x: left });
  return out;
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

function boxSize(svg) {
  const r = svg.getBoundingClientRect();
  return { w: Math.max(200, Math.round(r.width)), h: Math.max(60, Math.round(r.height)), shown: svg.getClientRects().length > 0 };
}

// A chart's box as the page was laid out when its drawing began (see newLayout); read once, not after each write.
function laidOut(svg) {
  if (!boxes.has(svg)) boxes.set(svg, boxSize(svg));
  return boxes.get(svg);
}

// Every chart's box and type size read together, before any is drawn: the page is laid out once for all of them.
export function readLayout(svgs) {
  for (const svg of svgs) {
    laidOut(svg);
    fontSize(svg);
  }
}

// Whether a chart takes room on the page (present mode hides some): a hidden one is not drawn.
export function isShown(svg) {
  return laidOut(svg).shown;
}

export function svgSize(svg) {
  const { w, h } = laidOut(svg);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  return { w, h };
}

// A shown chart drawn for another size than its box has now (the guide closed, a tab opened): its text would be
// scaled with it, so it is drawn again.
export function staleSize(svg) {
  if (!svg.getAttribute("viewBox") || !svg.getBoundingClientRect().width) return false;
  const { w, h } = boxSize(svg);
  return svg.getAttribute("viewBox") !== `0 0 ${w} ${h}`;
}
