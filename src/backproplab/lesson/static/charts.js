// The pink loss curve, the predictions (or the decision boundary) and the loss per iteration.
import { svgEl, clearEl, scale, axes, pathData, svgSize, ticks, tickLabel } from "./draw.js";
import { textLines, bottomMargin, fontSize, leftMargin, textWidth, isShown } from "./draw.js";
import { fmt, asNumber, entry } from "./format.js";
import { ui } from "./page.js";

export const GREY = "#8a8a8a";

function finiteRange(values) {
  const f = values.filter(Number.isFinite);
  if (!f.length) return [0, 1];
  let lo = Math.min(...f);
  let hi = Math.max(...f);
  if (hi - lo < 1e-12) { lo -= 1; hi += 1; }
  return [lo, hi];
}

function message(svg, text, w, h) {
  const lines = text.split("\n");
  lines.forEach((line, i) => svgEl("text", { x: w / 2, y: h / 2 - (lines.length - 1) * 9 + i * 18,
    "text-anchor": "middle", class: "empty" }, svg, line));
}

// slice: {iteration, grid, loss, minimum}; path: the kept iterations up to the current one.
// anim = {from, t}: partway (t from 0 to 1) from the kept iteration ``from`` to ``pos``; only the
// marker moves, the numbers shown are those of ``pos``.
export function drawLossCurve(svg, doc, pos, param, slice, index = null, key = param, anim = null) {
  clearEl(svg);
  const { w, h } = svgSize(svg);
  const sym = doc.words.loss.symbol;
  const its = doc.trace.iterations;
  const it = its[pos];
  if (!slice) {
    const why = `This file holds no loss curve for ${key}:\n'backproplab serve' draws one for any parameter.`;
    message(svg, slice === undefined ? "working out the loss curve …" : why, w, h);
    return;
  }
  const trained = doc.trace.optimize.includes(param);  // a held parameter has its slice and tangent, but no steps
  const off = doc.trace.optimize.length > 1 ? " off-slice" : "";
  const legend = off && pos > 0 && trained;  // a line of its own above the plot says what the hollow points are
  const grid = slice.grid.map(asNumber);
  const loss = slice.loss.map(asNumber);
  const cur = asNumber(entry(it.params[param], index));
  const curLoss = asNumber(it.loss);
  // predict, then reveal (ui.hideNext): the tangent's slope is the gradient to predict, so it waits too
  const g = !ui.hideNext && it.gradients && param in it.gradients ? asNumber(entry(it.gradients[param], index)) : NaN;
  // the lines above the plot: each whole inside the chart, moved left or wrapped where it is narrow
  const lines = [
    { text: Number.isFinite(g) ? `tangent slope = gradient = ${fmt(g)}` : ui.hideNext ? "tangent: hidden until you predict" : "",
      cls: "slope-label" },
    { text: `● iteration ${it.iteration}: ${key} = ${fmt(cur)}, ${sym} = ${fmt(curLoss)}`, cls: "note-label" },
  ];
  if (legend) {  // the hollow points' loss is the run's own, when the other parameters had other values too
    lines.push({ text: "○ earlier steps, at the run's own loss: off this slice", cls: "off-slice-label",
      title: "Each earlier step is drawn at its own loss, when the other parameters had other values too; the " +
        "pink curve holds them at this iteration's values, so those points are not on it." });
  }
  const fs = fontSize(svg);
  const top = textLines(svg, lines, { x: 58, y: fs + 1, right: w - 4 }) - 7;
  const plotH = h - bottomMargin(svg) - top;
  let [ylo, yhi] = finiteRange(loss);
  if (Number.isFinite(curLoss) && curLoss > yhi) yhi = curLoss;
  if (Number.isFinite(curLoss) && curLoss < ylo) ylo = curLoss;
  const pad = (yhi - ylo) * 0.08;
  const left = leftMargin(svg, ylo - pad * 0.3, yhi + pad, plotH, 58);
  const box = { x: left, y: top, w: w - left - 14, h: plotH };
  const xs = scale(grid[0], grid[grid.length - 1], box.x, box.x + box.w);
  const ys = scale(ylo - pad * 0.3, yhi + pad, box.y + box.h, box.y);
  axes(svg, box, xs, ys, `${key} (parameter value)`, sym);
  const clip = svgEl("clipPath", { id: "curve-clip" }, svgEl("defs", {}, svg));
  svgEl("rect", { x: box.x, y: box.y, width: box.w, height: box.h }, clip);
  const plot = svgEl("g", { "clip-path": "url(#curve-clip)" }, svg);
  svgEl("path", { d: pathData(grid.map((g, i) => [xs(g), ys(loss[i])])), class: "loss-curve", stroke: doc.colours.pink }, plot);
  const m = slice.minimum;
  if (m && m.at !== null && Number.isFinite(asNumber(m.at))) {
    const mx = xs(asNumber(m.at));
    const my = ys(asNumber(m.loss));
    svgEl("path", { d: star(mx, my, 9), class: "minimum" }, plot);
  }
  // numbered steps so far (the kept iterations up to now); where other parameters move too, each step's
  // loss is the run's own, not this slice's: drawn dotted and hollow, as the figures draw it
  const steps = trained ? its.slice(0, pos + 1) : [];
  const pts = steps.map((s) => [xs(asNumber(entry(s.params[param], index))), ys(asNumber(s.loss))]);
  const run0 = ui.compare && ui.compare.length ? { "data-run": "0", stroke: doc.compare.colours[0] } : {};  // runs side by side
  svgEl("path", { d: pathData(pts), class: `descent${off}`, "data-iterations": steps.map((s) => s.iteration).join(","), ...run0 }, plot);
  let lastLabel = -Infinity;
  steps.forEach((s, i) => {
    const [px, py] = pts[i];
    if (!Number.isFinite(px) || !Number.isFinite(py)) return;
    svgEl("circle", { cx: px, cy: py, r: 3.5, class: `step-point${off}` }, plot);
    const inPlot = px >= box.x && px <= box.x + box.w && py >= box.y && py <= box.y + box.h;
    if (inPlot && i < pos && Math.abs(px - lastLabel) > 22 && steps.length <= 40) {  // above and right of its point
      const label = svgEl("text", { x: px + 5, y: py - 6, class: "step-label" }, plot, String(s.iteration));
      const width = textWidth(svg, label, `step-label|${s.iteration}`);
      if (px + 5 + width > box.x + box.w) label.setAttribute("x", px - 5 - width);
      if (py - 6 - fs < box.y) label.setAttribute("y", py + fs + 4);
      lastLabel = px;
    }
  });
  // the tangent at the current point: its slope is the gradient
  if (Number.isFinite(cur) && Number.isFinite(curLoss)) {
    let [px, py] = [xs(cur), ys(curLoss)];
    if (anim && anim.t < 1) {
      const was = its[anim.from];
      const fx = xs(asNumber(entry(was.params[param], index)));
      const fy = ys(asNumber(was.loss));
      if (Number.isFinite(fx) && Number.isFinite(fy)) [px, py] = [fx + (px - fx) * anim.t, fy + (py - fy) * anim.t];
    }
    if (Number.isFinite(g) && !(anim && anim.t < 1)) {
      const half = 0.14 * (grid[grid.length - 1] - grid[0]);
      svgEl("line", { x1: xs(cur - half), y1: ys(curLoss - g * half), x2: xs(cur + half), y2: ys(curLoss + g * half),
        class: "tangent" }, plot);
    }
    svgEl("circle", { cx: px, cy: py, r: 6, class: "current-point" }, plot);
  }
  return { xs, ys, plot, box };
}

// The line under the loss curve's title: the true minimum, and what the slice holds fixed.
export function curveNote(doc, param, slice) {
  if (!slice) return "";
  const m = slice.minimum;
  let text = "";
  if (m && m.at !== null && Number.isFinite(asNumber(m.at))) {
    const where = m.where === "outside" ? " (beyond this range)" : m.where === "edge" ? " (lowest at the range's edge)" : "";
    text = `★ true minimum ${param} = ${fmt(m.at)}${where}`;
  } else if (m && m.where === "none") text = `no lowest point: the loss keeps falling as ${param} moves`;
  if (doc.trace.optimize.length > 1 || !doc.trace.optimize.includes(param)) text += ` · others held at iteration ${slice.iteration}`;
  return text;
}

function star(x, y, r) {
  let d = "";
  for (let i = 0; i < 10; i++) {
    const rr = i % 2 ? r * 0.45 : r;
    const a = -Math.PI / 2 + (i * Math.PI) / 5;
    d += `${i ? "L" : "M"}${(x + rr * Math.cos(a)).toFixed(1)},${(y + rr * Math.sin(a)).toFixed(1)}`;
  }
  return d + "Z";
}

function snapshotIndex(iterations, k) {
  let best = 0;
  iterations.forEach((n, i) => { if (n <= k) best = i; });
  return best;
}

export function drawPredictions(svg, doc, pos, anim = null) {
  clearEl(svg);
  if (!isShown(svg)) return null;  // not shown (present mode): nothing to draw
  const { w, h } = svgSize(svg);
  const it = doc.trace.iterations[pos];
  if (doc.boundary) return drawBoundary(svg, doc, it, w, h);
  const data = doc.trace.data || {};
  const xsData = (data.x || []).map((v) => asNumber(Array.isArray(v) ? v[0] : v));
  const ysData = (data.y || []).map((v) => asNumber(Array.isArray(v) ? v[0] : v));
  const box = { x: 52, y: 12, w: w - 66, h: h - bottomMargin(svg) - 12 };
  if (!doc.predictions) {
    // several inputs or outputs: predicted against observed, sample by sample
    const yhat = (it.predictions || []).flat(Infinity).map(asNumber);
    ysData.length = 0;
    ysData.push(...(data.y || []).flat(Infinity).map(asNumber));
    const [lo, hi] = finiteRange(ysData.concat(yhat));
    box.x = leftMargin(svg, lo, hi, box.h, 52);
    box.w = w - box.x - 14;
    const xs = scale(lo, hi, box.x, box.x + box.w);
    const ys = scale(lo, hi, box.y + box.h, box.y);
    axes(svg, box, xs, ys, "observed y", "predicted ŷ");
    svgEl("line", { x1: xs(lo), y1: ys(lo), x2: xs(hi), y2: ys(hi), class: "diagonal" }, svg);
    yhat.forEach((v, i) => svgEl("circle", { cx: xs(ysData[i]), cy: ys(v), r: 4, fill: doc.colours.green }, svg));
    return;
  }
  const p = doc.predictions;
  const grid = p.grid.map(asNumber);
  const i = snapshotIndex(p.iterations, it.iteration);
  let now = p.curves[i].map(asNumber);
  if (anim && anim.t < 1) {  // the green curve moves from where it was
    const was = p.curves[snapshotIndex(p.iterations, doc.trace.iterations[anim.from].iteration)].map(asNumber);
    now = now.map((v, j) => was[j] + (v - was[j]) * anim.t);
  }
  const before = i > 0 ? p.curves[i - 1].map(asNumber) : null;
  // the document's y-range, the same at every iteration, so that a step is seen as the curve moving
  const [lo, hi] = p.y_range || finiteRange(ysData.concat(now, before || []).filter((v) => Math.abs(v) < 1e6));
  const pad = (hi - lo) * 0.1;
  box.x = leftMargin(svg, lo - pad, hi + pad, box.h, 52);  // room for long tick labels
  box.w = w - box.x - 14;
  const xs = scale(grid[0], grid[grid.length - 1], box.x, box.x + box.w);
  const ys = scale(lo - pad, hi + pad, box.y + box.h, box.y);
  axes(svg, box, xs, ys, doc.labels.x, doc.labels.y);
  const clip = svgEl("clipPath", { id: "pred-clip" }, svgEl("defs", {}, svg));
  svgEl("rect", { x: box.x, y: box.y, width: box.w, height: box.h }, clip);
  const plot = svgEl("g", { "clip-path": "url(#pred-clip)" }, svg);
  if (before) svgEl("path", { d: pathData(grid.map((g, j) => [xs(g), ys(before[j])])), class: "before", stroke: GREY }, plot);
  svgEl("path", { d: pathData(grid.map((g, j) => [xs(g), ys(now[j])])), class: "now", stroke: doc.colours.green }, plot);
  // each sample's residual y_i − ŷ_i, a line from the data point to the prediction (moving with the curve)
  const at = (row, j) => asNumber([row.predictions[j]].flat(Infinity)[0]);
  const was = anim && anim.t < 1 ? doc.trace.iterations[anim.from] : null;
  if (p.residuals) xsData.forEach((x, j) => {
    const yh = was ? at(was, j) + (at(it, j) - at(was, j)) * anim.t : at(it, j);
    if (Number.isFinite(yh)) svgEl("line", { x1: xs(x), y1: ys(ysData[j]), x2: xs(x), y2: ys(yh), class: "residual",
      stroke: GREY, "stroke-width": 1.5, "stroke-dasharray": "4 3" }, plot);
  });
  xsData.forEach((x, j) => svgEl("circle", { cx: xs(x), cy: ys(ysData[j]), r: 5, class: "data-point" }, plot));
  return { now: p.iterations[i], before: before ? p.iterations[i - 1] : null };
}

function mix(a, b, t) {
  const pa = [1, 3, 5].map((k) => parseInt(a.slice(k, k + 2), 16));
  const pb = [1, 3, 5].map((k) => parseInt(b.slice(k, k + 2), 16));
  return `rgb(${pa.map((v, k) => Math.round(v + (pb[k] - v) * t)).join(",")})`;
}

// A snapshot's heat map, one square per grid cell: built once for a snapshot and a plot box, and put back as it
// was when the chart is drawn again (a step, an animation frame) at the same size; classes: the two classes' colours.
const heats = new WeakMap();  // a snapshot's values -> {key: the box it was built for, heat: its <g>}

function heatMap(values, box, nx, ny, top, classes) {
  const key = `${box.x},${box.y},${box.w},${box.h},${nx},${ny},${top}`;
  const had = heats.get(values);
  if (had && had.key === key) return had.heat;
  const cw = box.w / nx;
  const ch = box.h / ny;
  const heat = svgEl("g", { class: "heat" });
  for (let r = 0; r < ny; r++) {
    for (let c = 0; c < nx; c++) {
      const v = values[r * nx + c] / top;
      const colour = v < 0.5 ? mix("#ffffff", classes[0], Math.min(1, (0.5 - v) * 1.6))
        : mix("#ffffff", classes[1], Math.min(1, (v - 0.5) * 1.6));
      svgEl("rect", { x: (box.x + c * cw).toFixed(1), y: (box.y + box.h - (r + 1) * ch).toFixed(1),
        width: (cw + 0.6).toFixed(1), height: (ch + 0.6).toFixed(1), fill: colour }, heat);
    }
  }
  heats.set(values, { key, heat });
  return heat;
}

function drawBoundary(svg, doc, it, w, h) {
  const b = doc.boundary;
  const longest = Math.max(...["P(class 1)", `iteration ${b.iterations[b.iterations.length - 1]}`].map((t) => t.length));
  const legend = longest * fontSize(svg) * 0.62;  // room on the right for the legend
  const side = Math.min(w - 52 - 14 - legend, h - bottomMargin(svg) - 6);
  const box = { x: 52, y: 10, w: side, h: side };
  const gx = b.xs.map(asNumber);
  const gy = b.ys.map(asNumber);
  const xs = scale(gx[0], gx[gx.length - 1], box.x, box.x + box.w);
  const ys = scale(gy[0], gy[gy.length - 1], box.y + box.h, box.y);
  const i = snapshotIndex(b.iterations, it.iteration);
  const values = b.values[i];
  const classes = [doc.colours.class0, doc.colours.class1];
  svg.appendChild(heatMap(values, box, gx.length, gy.length, b.kind === "class" ? Math.max(1, ...values) : 1, classes));
  axes(svg, box, xs, ys, doc.labels.x, doc.labels.y);
  const data = doc.trace.data;
  data.x.forEach((p, j) => {
    const label = asNumber(Array.isArray(data.y[j]) ? data.y[j][0] : data.y[j]);
    svgEl("circle", { cx: xs(asNumber(p[0])), cy: ys(asNumber(p[1])), r: 3.6,
      fill: classes[label >= 0.5 ? 1 : 0], stroke: "#000", "stroke-width": 0.7 }, svg);
  });
  const lx = box.x + box.w + 10, fs = fontSize(svg);
  const row = (k) => box.y + fs + k * (fs + 5);
  svgEl("text", { x: lx, y: row(0), class: "legend-text" }, svg, b.kind === "class" ? "class" : "P(class 1)");
  svgEl("text", { x: lx, y: row(1), class: "legend-text" }, svg, `iteration ${b.iterations[i]}`);
  [1, 0].forEach((c, k) => {  // the classes' key: 1, then 0
    svgEl("circle", { cx: lx + 5, cy: row(2 + k) - fs / 3, r: 4, fill: classes[c], stroke: "#000", "stroke-width": 0.7 }, svg);
    svgEl("text", { x: lx + 14, y: row(2 + k), class: "legend-text" }, svg, String(c));
  });
}

// others: runs drawn beside this one ({losses, colour, k, at: the row each shows}), each a line of its colour.
export function drawLossHistory(svg, doc, pos, log, others = []) {
  clearEl(svg);
  if (!isShown(svg)) return null;  // not shown (present mode): nothing to draw
  const { w, h } = svgSize(svg);
  const it = doc.trace.iterations[pos];
  // predict, then reveal (ui.hideNext): the chart ends at the iteration shown; its future waits
  const losses = (ui.hideNext ? doc.losses.slice(0, it.iteration) : doc.losses).map(asNumber);
  const box = { x: 52, y: 8, w: w - 72, h: h - bottomMargin(svg) };  // room on the right for the last tick's label ("2000")
  const every = losses.concat(...others.map((o) => o.losses.map(asNumber))), shownLosses = log ? every.filter((v) => v > 0) : every;
  let [lo, hi] = finiteRange(shownLosses);
  if (hi > 1e12) hi = Math.min(hi, Math.max(...losses.slice(0, 20).filter(Number.isFinite)) * 10);
  const f = log ? (v) => (v > 0 ? Math.log10(v) : NaN) : (v) => v;
  const xs = scale(1, Math.max(2, doc.losses.length, ...others.map((o) => o.losses.length)), box.x, box.x + box.w);
  const ys = scale(f(log ? lo : Math.min(lo, 0)), f(hi), box.y + box.h, box.y);
  if (log) ys.ticks = ticks(ys.domain[0], ys.domain[1], 3).filter((t) => Number.isInteger(t));
  axes(svg, box, xs, ys, "iteration", doc.words.loss.symbol + (log ? " (log)" : ""),
    log ? (t) => `1e${t}`.replace("-", "\u2212") : tickLabel);
  const step = Math.max(1, Math.floor(losses.length / 600));
  const pts = [];
  for (let i = 0; i < losses.length; i += step) pts.push([xs(i + 1), ys(f(Math.min(losses[i], hi * 10)))]);
  svgEl("path", { d: pathData(pts), class: "history", stroke: others.length ? doc.compare.colours[0] : doc.colours.blue,
    "data-run": others.length ? "0" : null }, svg);
  for (const o of others) {  // each compared run's whole loss line, and its point at the iteration it shows
    const line = [];
    for (let i = 0; i < o.losses.length; i += step) line.push([xs(i + 1), Math.max(-1e6, ys(f(Math.min(asNumber(o.losses[i]), hi * 10))))]);
    svgEl("path", { d: pathData(line), class: "history compared", stroke: o.colour, "data-run": String(o.k) }, svg);
    if (o.at) svgEl("circle", { cx: xs(o.at.iteration), cy: ys(f(asNumber(o.at.loss))), r: 3.5, fill: o.colour }, svg);
  }
  const x = xs(it.iteration);
  svgEl("line", { x1: x, y1: box.y, x2: x, y2: box.y + box.h, class: "now-line" }, svg);
  svgEl("circle", { cx: x, cy: ys(f(asNumber(it.loss))), r: 4, class: "current-point" }, svg);
}
