// Runs side by side, drawn: each compared run's steps on the pink curve in its colour and marker, its loss per
// iteration beside the shown run's, a table with a column per run, and each run's worked chain rule beside the
// others. Every number is a run's own document's; a run that ended earlier holds its last state and says so.
import { $, served, ui, current } from "./page.js";
import { comparing, shownRuns, askRun, shownIteration } from "./compare.js";
import { svgEl, htmlEl, clearEl, pathData } from "./draw.js";
import { fmt, asNumber, entry } from "./format.js";
import { paramKey } from "./network.js";
import { renderLatex, renderText, renderSource, working } from "./derivation.js";

// A step's marker, the figures' own shape: o circle, s square, ^ triangle, D diamond.
function runMarker(parent, shape, x, y, attrs) {
  const r = 4.2;
  const d = { s: `M${x - r},${y - r}h${2 * r}v${2 * r}h${-2 * r}Z`, "^": `M${x},${y - r * 1.2}L${x + r * 1.1},${y + r * 0.8}L${x - r * 1.1},${y + r * 0.8}Z`,
    D: `M${x},${y - r * 1.25}L${x + r},${y}L${x},${y + r * 1.25}L${x - r},${y}Z` }[shape];
  return d ? svgEl("path", { d, ...attrs }, parent) : svgEl("circle", { cx: x, cy: y, r: 3.8, ...attrs }, parent);
}

// Whether a compared run holds the other parameters elsewhere than the slice (the shown run at this iteration).
function offSlice(row, param) {
  const here = current().params;
  return Object.keys(here).some((n) => n !== param && n in row.params &&
    JSON.stringify(row.params[n]) !== JSON.stringify(here[n]));
}

// A coordinate far off the chart (a diverging run's) kept to a number SVG can write; it is clipped either way.
const near = (v) => (Number.isFinite(v) ? Math.max(-1e6, Math.min(1e6, v)) : v);

// frame: the loss curve's scales and plot group (drawLossCurve's answer); the compared runs' steps on it.
export function drawCompareSteps(frame, param, index, redraw) {
  if (!frame || !comparing()) return;
  const { xs, ys, plot, box } = frame;
  const inside = ([x, y]) => x >= box.x && x <= box.x + box.w && y >= box.y && y <= box.y + box.h;
  for (const r of shownRuns().slice(1)) {
    const { doc } = r, row = r.at.row;
    if (!row || !doc.trace.optimize.includes(param)) { r.run.note = "does not train this parameter"; continue; }
    if (!r.at.exact && !r.at.ended) askRun(r.run, param, index, shownIteration(), redraw);
    const steps = doc.trace.iterations.filter((it) => it.iteration <= row.iteration);
    const off = offSlice(row, param);
    r.run.note = off ? "off this slice: its other parameters are elsewhere" : "";
    const pts = steps.map((s) => [xs(asNumber(entry(s.params[param], index))), ys(asNumber(s.loss))].map(near));
    const beyond = pts.filter((p) => !inside(p)).length;  // clipped: the pink curve keeps its own range
    if (beyond) r.run.note = [r.run.note, `${beyond} of ${pts.length} steps off the chart`].filter(Boolean).join("; ");
    const g = svgEl("g", { class: `compare-run${off ? " off-slice" : ""}`, "data-run": String(r.k) }, plot);
    svgEl("path", { d: pathData(pts), class: "compare-path", stroke: r.colour, "data-run": String(r.k),
      "data-iterations": steps.map((s) => s.iteration).join(","),
      "data-values": steps.map((s) => asNumber(entry(s.params[param], index))).join(","),
      "data-losses": steps.map((s) => asNumber(s.loss)).join(",") }, g);
    pts.forEach(([x, y], i) => {
      if (!Number.isFinite(x) || !Number.isFinite(y)) return;
      const last = i === pts.length - 1;
      runMarker(g, r.marker, x, y, { class: `compare-point${last ? " now" : ""}`, stroke: r.colour,
        fill: off ? "#fff" : r.colour, "data-iteration": String(steps[i].iteration) });
    });
  }
}

// The key under the curve's title: each run's swatch and marker, its name, and where it is.
export function drawCompareKey() {
  const key = $("compare-key");
  clearEl(key);
  key.hidden = !comparing();
  if (!comparing()) return;
  for (const r of shownRuns()) {
    const li = htmlEl("li", { "data-run": String(r.k) }, key);
    const name = htmlEl("span", { class: "run-name" }, li);  // its marker and name kept on one line
    const svg = svgEl("svg", { width: 14, height: 12, viewBox: "0 0 14 12", "aria-hidden": "true" }, name);
    runMarker(svg, r.marker, 7, 6, { fill: r.colour, stroke: r.colour });
    name.append(` ${r.name}`);
    const state = [r.at.held || (r.at.ended && r.k) ? `held at iteration ${r.at.row.iteration}` : "", r.k ? r.run.note : ""];
    if (r.doc.words.diverged && r.at.ended) state.unshift("diverged");
    const its = r.doc.trace.iterations, end = its[its.length - 1].iteration;
    if (r.k && runs0Ended() && end > shownIteration()) state.push(`goes on to iteration ${end}`);
    const said = state.filter(Boolean).join("; ");
    if (said) htmlEl("span", { class: "run-state" }, li, ` (${said})`);
  }
}

// Whether the shown run is at its last iteration (the iteration controls go no further).
function runs0Ended() {
  return ui.pos === ui.doc.trace.iterations.length - 1;
}

// One table, a column per run: its iteration and the selected parameter's numbers there.
export function drawCompareTable() {
  const box = $("compare-table");
  clearEl(box);
  box.hidden = !comparing();
  if (!comparing()) return;
  const { param, index } = ui.selected;
  const runs = shownRuns();
  const table = htmlEl("table", { class: "numbers compare" }, box);
  htmlEl("caption", {}, table, `${paramKey(param, index)} in each run at iteration ${shownIteration()}`);
  const head = htmlEl("tr", {}, htmlEl("thead", {}, table));
  htmlEl("th", { scope: "col" }, head, "");
  for (const r of runs) {
    const th = htmlEl("th", { scope: "col", "data-run": String(r.k) }, head);
    htmlEl("span", { class: "swatch", style: `background:${r.colour}`, "aria-hidden": "true" }, th);
    th.append(r.name);
  }
  const body = htmlEl("tbody", {}, table);
  const rows = [["iteration", (r, it) => String(it.iteration) + (r.at.held || (r.at.ended && r.k) ? " (its last)" : "")],
    ["value", (r, it) => fmt(entry(it.params[param], index))],
    ["gradient", (r, it) => (ui.hideNext ? "?" : cellOf(it.gradients, param, index))],
    ["step size", (r, it) => (ui.hideNext ? "?" : cellOf(it.step_sizes, param, index))],
    ["new value", (r, it) => (ui.hideNext ? "?" : cellOf(it.new_values, param, index))],
    [ui.doc.words.loss.symbol, (r, it) => fmt(it.loss)]];
  for (const [name, cell] of rows) {
    const tr = htmlEl("tr", { "data-row": name === ui.doc.words.loss.symbol ? "loss" : name }, body);
    htmlEl("th", { scope: "row" }, tr, name);
    for (const r of runs) htmlEl("td", { "data-run": String(r.k) }, tr, r.at.row ? cell(r, r.at.row) : "—");
  }
  const ended = runs.filter((r) => r.k && r.at.ended);  // the shown run's sentence is the table's own, below
  for (const r of ended) htmlEl("p", { class: "run-said", "data-run": String(r.k) }, box, `${r.name}: ${r.doc.words.stopped}`);
}

function cellOf(values, param, index) {
  if (!values || !(param in values)) return "—";
  return fmt(entry(values[param], index));
}

// Each run's worked chain rule beside the shown run's (stacked where the page is narrow).
export function drawCompareWorkings(redraw) {
  const box = $("compare-workings");
  const panel = $("derivation-panel");
  panel.classList.toggle("comparing", comparing());
  clearEl(box);
  box.hidden = !comparing();
  const shownName = $("shown-run-name");
  shownName.hidden = !comparing();
  if (!comparing()) return;
  const runs = shownRuns();
  runName(shownName, runs[0], current().iteration);
  const { param, index } = ui.selected;
  const key = served && index ? paramKey(param, index) : param;
  for (const r of runs.slice(1)) {
    const col = htmlEl("div", { class: "working-column", "data-run": String(r.k) }, box);
    const it = r.at.row;
    runName(htmlEl("p", { class: "run-name" }, col), r, it ? it.iteration : null);
    const body = htmlEl("div", { class: "run-working" }, col);
    const e = it && (r.doc.explanations[key] || {})[String(it.iteration)];
    if (ui.hideNext) htmlEl("p", { class: "missing" }, body, "hidden until you predict the shown run's step");
    else if (e && e.error) htmlEl("p", { class: "missing" }, body, e.error);
    else if (e) show(body, working(e));
    else if (served && it) {
      htmlEl("p", { class: "missing" }, body, "working it out …");
      askRun(r.run, param, index, it.iteration, redraw);
    } else htmlEl("p", { class: "missing" }, body, "This file holds no worked gradient of this run at this iteration.");
  }
}

function runName(el, r, iteration) {
  clearEl(el);
  htmlEl("span", { class: "swatch", style: `background:${r.colour}`, "aria-hidden": "true" }, el);
  const last = r.at.held || (r.k && r.at.ended);
  el.append(`${r.name}${iteration ? ` · iteration ${iteration}` : ""}${last ? " (its last)" : ""}`);
}

function show(box, e) {
  if (ui.view === "text") renderText(box, e.text);
  else if (ui.view === "latex") renderSource(box, e.latex);
  else renderLatex(box, e.latex);
}

// The loss per iteration of every compared run, for the loss chart (the shown run's is its own).
export function comparedLosses() {
  if (!comparing()) return [];
  return shownRuns().slice(1).map((r) => ({ losses: r.doc.losses, colour: r.colour, k: r.k, at: r.at.row }));
}
