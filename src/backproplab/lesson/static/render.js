// Drawing the page at the current iteration: the network, the charts, the table, the derivation.
import { $, hosted, served, ui, iterations, current, withIndex, banner } from "./page.js";
import { fetchDetail } from "./ask.js";
import { changed } from "./controls.js";
import { renderForwardTab, showCommand } from "./guide.js";
import { writeLink } from "./link.js";
import { htmlEl, clearEl, newLayout, readLayout } from "./draw.js";
import { drawNetwork, paramKey } from "./network.js";
import { drawLossCurve, drawPredictions, drawLossHistory, curveNote } from "./charts.js";
import { renderLatex, renderText, renderSource, renderHidden, working } from "./derivation.js";
import { renderTable } from "./table.js";
import { hiding, renderPredict } from "./predict.js";
import { fillCompare, shownIteration } from "./compare.js";
import { drawCompareSteps, drawCompareKey, drawCompareTable, drawCompareWorkings, comparedLosses } from "./sidebyside.js";
import { renderCheckBox } from "./checkbox.js";

const STEP_MS = 300;
export const reducedMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

// One step forward or back moves the point along the loss curve and the green curve towards
// the data over about 300 ms; everything else (and every number) is at the new iteration at once.
export function animate(from) {
  const start = performance.now();
  const id = (ui.animation = {});
  const frame = (now) => {
    if (ui.animation !== id) return;
    const t = Math.min(1, (now - start) / STEP_MS);
    drawCharts({ from, t: 1 - (1 - t) * (1 - t) });
    if (t < 1) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

// An animation frame draws again only what moves: the loss curve's point, and the green curve (a decision
// boundary does not move between two snapshots, nor does the note under the curve's title).
export function drawCharts(anim = null) {
  const doc = ui.doc;
  const param = ui.selected.param;
  const index = ui.selected.index;
  const key = paramKey(param, index);
  const slice = curveSlice(param, index, !anim);  // a frame of the step's animation asks nothing of the server
  drawCompareSteps(drawLossCurve($("curve"), doc, ui.pos, param, slice, index, key, anim), param, index, render);
  if (anim && doc.boundary) return null;
  const note = curveNote(doc, key, slice);
  if ($("curve-note").textContent !== note) $("curve-note").textContent = note;
  return drawPredictions($("predictions"), doc, ui.pos, anim);
}

export function render() {
  ui.renders += 1;
  newLayout();  // the type sizes are read afresh (a resize, present mode): once, not once per label
  const refocus = focusKeeper();
  const doc = ui.doc;
  const its = iterations();
  if (!its.length) { banner("The run has no iterations to show.", "error"); return; }
  const it = current();
  const hide = hiding();  // predict, then reveal: this iteration's step is hidden until predicted
  if (!ui.typing) $("iteration").value = shownIteration();  // not over a number being typed
  const param = ui.selected.param;
  $("param").value = param;
  $("curve-title").textContent = doc.words.loss.symbol;
  $("pred-title").textContent = doc.boundary ? "Decision boundary (heat map) and data" : "Predictions";
  readLayout(document.querySelectorAll("main svg"));  // every chart's box at once, then only writes
  drawNetwork($("network"), doc, it, ui.selected, { select, hover });
  ui.animation = null;
  predictionNote(drawCharts());
  askSnapshot(it.iteration);
  drawTable();
  const said = it.announce || {};  // one short line for a screen reader, not the whole derivation
  $("announce").textContent = hide ? `iteration ${it.iteration}: predict its step` : said[param] || said[doc.trace.optimize[0]] || "";
  drawLossHistory($("history"), doc, ui.pos, ui.log, comparedLosses());
  drawCompared();
  renderDerivation();
  renderForwardTab();
  renderPredict();
  renderCheckBox();
  if (hosted) window.parent.postMessage({ backproplab: "state", iteration: it.iteration, param }, "*");
  else writeLink();  // in the widget the address is the notebook's, not the page's
  refocus();
}

// Runs side by side: their list, the key under the curve's title, their table and their worked chain rules.
export function drawCompared() {
  fillCompare(render);
  drawCompareKey();
  drawCompareTable();
  drawCompareWorkings(render);
}

// The iteration's table; a parameter's row selects it everywhere, by click or from the keyboard.
export function drawTable() {
  const param = ui.selected.param;
  renderTable($("table"), ui.doc, ui.pos, ui.hideNext);
  for (const tr of document.querySelectorAll("table.steps tr[data-param]")) {
    tr.classList.toggle("selected", tr.dataset.param === param);
    tr.addEventListener("click", () => select(tr.dataset.param, null));  // selects it everywhere
    tr.tabIndex = 0;  // and from the keyboard: Enter or Space
    tr.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" && ev.key !== " ") return;
      ev.preventDefault();
      ev.stopPropagation();
      select(tr.dataset.param, null);
    });
  }
}

// A weight, bias or table row that had the keyboard's focus has it again after a redraw replaced it.
export function focusKeeper() {
  const had = document.activeElement;
  const where = had && had.closest && had.closest("#network, table.steps");
  if (!where || !had.dataset.param) return () => {};
  const sel = `${where.matches("#network") ? "#network" : "table.steps"} [data-param="${had.dataset.param}"]` +
    (had.dataset.index ? `[data-index="${had.dataset.index}"]` : "") + '[tabindex="0"]';
  return () => {
    const again = document.contains(had) ? null : document.querySelector(sel);
    if (again) again.focus({ preventScroll: true });
  };
}

// The document keeps the decision boundary (or prediction curve) at some iterations; a served page asks for
// the one of the iteration it shows, once, so that stepping moves the picture with the table.
export function askSnapshot(iteration) {
  const doc = ui.doc;
  const snaps = doc.boundary || doc.predictions;
  if (!served || ui.playing || !snaps || snaps.iterations.includes(iteration)) return;
  doc.snapshotsAsked = doc.snapshotsAsked || new Set();
  if (doc.snapshotsAsked.has(iteration)) return;
  doc.snapshotsAsked.add(iteration);
  fetchDetail(ui.selected.param, iteration, ui.selected.index);
}

export function predictionNote(shown) {
  const note = $("pred-note");
  clearEl(note);
  if (!shown || !shown.now) return;
  const key = (cls, text) => { htmlEl("span", { class: `key ${cls}` }, note); note.appendChild(document.createTextNode(text)); };
  key("dot", "data  ");
  if (ui.doc.predictions && ui.doc.predictions.residuals) key("residual", `residual ${ui.doc.columns.y} − ${ui.doc.columns.output}  `);
  key("green", `iteration ${shown.now}  `);
  if (shown.before) key("grey", `iteration ${shown.before} (before)`);
}

// The loss against any parameter, the others held at this iteration: a parameter that is not trained has its
// slice and tangent too (only the numbered steps need training). One slice serves the whole run only where
// the parameter is the one that moves.
export function curveSlice(param, index, ask = true) {
  const doc = ui.doc;
  const it = current();
  const slices = doc.curves[paramKey(param, index)] || [];
  const alone = doc.trace.optimize.length === 1 && doc.trace.optimize[0] === param;
  if (alone && slices.length) return slices[0];
  const exact = slices.find((s) => s.iteration === it.iteration);
  if (exact) return exact;
  if (served && !ui.playing && ask) fetchDetail(param, it.iteration, index);
  let best = null;
  for (const s of slices) if (s.iteration <= it.iteration && (!best || s.iteration > best.iteration)) best = s;
  return best || slices[0] || (served ? undefined : null);
}

export function renderDerivation() {
  const doc = ui.doc;
  const it = current();
  const param = ui.selected.param;
  const sym = doc.words.loss.symbol;
  const key = workingKey();
  $("derivation-title").textContent = `d${sym}/d${key} at iteration ${it.iteration}`;
  const box = $("derivation");
  const e = (doc.explanations[key] || {})[String(it.iteration)];
  $("copy").disabled = Boolean(ui.hideNext);
  if (ui.hideNext) {  // predict, then reveal: asked for meanwhile, shown once revealed
    renderHidden(box, `The chain rule of iteration ${it.iteration} is hidden until you predict its step ` +
      "(the box above), or press “show me”.");
    if (!e && served && !ui.playing) fetchDetail(param, it.iteration, ui.selected.index);
    return;
  }
  if (!e) {
    clearEl(box);
    if (served) {
      htmlEl("p", { class: "missing" }, box, "working it out …");
      if (!ui.playing) fetchDetail(param, it.iteration, ui.selected.index);
    } else {
      const have = Object.keys(doc.explanations[param] || {});
      htmlEl("p", { class: "missing" }, box, `This file holds the worked gradient of ${param} for ${have.length} ` +
        `iteration(s) (a size budget); iteration ${it.iteration} is not among them. 'backproplab explain' or ` +
        `'backproplab serve' works out any iteration.`);
    }
    return;
  }
  if (e.error) { clearEl(box); htmlEl("p", { class: "missing" }, box, e.error); return; }
  const whole = key !== param && (doc.explanations[param] || {})[String(it.iteration)];
  if (!whole || whole.error) {
    showWorking(box, e);
  } else {
    clearEl(box);
    showWorking(htmlEl("div", { class: "entry-working" }, box), e);
    const fold = htmlEl("details", { class: "whole-working" }, box);
    htmlEl("summary", {}, fold, `d${sym}/d${param} as a whole, layer by layer: how δ comes down from the loss`);
    showWorking(htmlEl("div", {}, fold), whole);
  }
  startEditor(box, param);
  showCommand();
}

// Served, a selected entry of a matrix has its own chain rule; the whole matrix's, layer by layer, folds below it.
export function workingKey() {
  return served && ui.selected.index ? paramKey(ui.selected.param, ui.selected.index) : ui.selected.param;
}

export function showWorking(box, shown) {
  const e = working(shown);  // the exact-factors form when that switch is on
  if (ui.view === "text") renderText(box, e.text);
  else if (ui.view === "latex") renderSource(box, e.latex);
  else renderLatex(box, e.latex);
}

// Clicking a weight also lets you type its starting value (the run is then worked out again).
export function startEditor(box, param) {
  const header = document.querySelector(`#optimize input.start[data-param="${param}"]`);
  if (!header || !served) return;
  const p = htmlEl("p", { class: "start-edit" }, null);
  const label = htmlEl("label", {}, p, `starting value of ${param} `);
  const input = htmlEl("input", { type: "number", step: "any", class: "num", "aria-label": `starting value of ${param}` }, label);
  input.value = header.value;
  input.addEventListener("change", () => { header.value = input.value; changed(); });
  box.insertBefore(p, box.firstChild);
}

// A worked gradient's answer, drawn where it shows: the derivation, the table (its command-line lines), the
// forward pass, and the charts where it brought a loss curve or a snapshot; the rest of the page stays as drawn.
export function redrawDetail(d) {
  const refocus = focusKeeper();
  hiding();
  if (d.curve || d.boundary || d.prediction) predictionNote(drawCharts());  // at the sizes the page was drawn at
  if (!(ui.selected.param in (current().gradients || {}))) {  // its gradient, from the worked one
    drawNetwork($("network"), ui.doc, current(), ui.selected, { select, hover });
  }
  drawTable();
  drawCompared();
  renderDerivation();
  renderForwardTab();
  renderPredict();
  renderCheckBox();
  refocus();
}

export function select(param, index) {
  ui.selected = withIndex(param, index || null);
  render();
}

export function hover(text, ev) {
  const tip = $("tooltip");
  if (!text) { tip.hidden = true; return; }
  tip.textContent = text;
  tip.hidden = false;
  let x = 14;
  let y = 14;
  if (ev && ev.clientX !== undefined && ev.type !== "focus") { x += ev.clientX; y += ev.clientY; }
  else if (ev && ev.target && ev.target.getBoundingClientRect) {
    const r = ev.target.getBoundingClientRect();
    x += r.right; y += r.top;
  }
  tip.style.left = `${Math.min(x, window.innerWidth - 260)}px`;
  tip.style.top = `${Math.min(y, window.innerHeight - 70)}px`;
}
