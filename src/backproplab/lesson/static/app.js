// The lesson page: reads a lesson document (embedded in an exported file, or from the server)
// and draws everything from it. No number is computed here; only chosen and formatted.
import { htmlEl, clearEl, staleSize, newLayout, readLayout } from "./draw.js";
import { asNumber, lossSymbol, shape } from "./format.js";
import { drawNetwork, paramKey } from "./network.js";
import { drawLossCurve, drawPredictions, drawLossHistory, curveNote } from "./charts.js";
import { renderLatex, renderText, renderSource, working, watchFactors } from "./derivation.js";
import { renderTable, renderForward } from "./table.js";
import { readHash, writeHash, packSettings, unpackSettings } from "./state.js";
import { wireOwn } from "./own.js";

const $ = (id) => document.getElementById(id);
const embedded = $("lesson-document");
// The notebook widget embeds the document too, but answers the page's requests as the server
// does, by messages to the notebook (see the widget's script, widget.js).
const hosted = Boolean(embedded && embedded.dataset.host === "widget");
const served = !embedded || hosted;
const PRESETS = ["statquest", "classic", "xor", "moons", "circles", "spiral", "regression"];

const ui = { doc: null, pos: 0, selected: null, view: "typeset", playing: false, timer: null, custom: null,
  log: false, pending: new Set(), busy: false, tableView: "steps", packed: null, renders: 0 };
// How many times the whole page has been drawn: a step draws it once (read by the page's tests).
window.backproplabRenders = () => ui.renders;

function iterations() { return ui.doc.trace.iterations; }
function current() { return iterations()[ui.pos]; }

function posOf(k) {
  const its = iterations();
  let best = 0;
  its.forEach((it, i) => { if (it.iteration <= k) best = i; });
  return best;
}

function banner(text, kind) {
  const b = $("banner");
  b.hidden = !text;
  b.textContent = text || "";
  b.className = kind || "";
}

function divergenceBanner() {
  const f = ui.doc.trace.final;
  if (f && f.stopped_by === "diverged") {
    banner(`The run diverged: ${f.message} The ${iterations().length} steps before it stay playable.`, "diverged");
  } else banner(null);
}

function scalarParams() {
  const names = new Set();
  const it = iterations()[0];
  if (!it) return [];
  return Object.keys(it.params).filter((n) => !Array.isArray(it.params[n]) && !names.has(n));
}

// --- settings and recomputing -------------------------------------------------------------
function settingsFromControls(extra = {}) {
  const s = {};
  if (ui.custom) { s.spec_text = ui.custom.spec_text; if (ui.custom.csv_text) s.csv_text = ui.custom.csv_text; }
  else s.preset = $("preset").value;
  const lr = $("lr").value;
  if (lr !== "") s.lr = Number(lr);
  s.optimizer = $("optimizer").value;
  const chosen = [...document.querySelectorAll("#optimize input.opt-box")].filter((b) => b.checked).map((b) => b.value);
  s.optimize = chosen;
  const start = {};
  for (const input of document.querySelectorAll("#optimize input.start")) {
    if (input.value !== "" && Number(input.value) !== asNumber(ui.doc.settings.start[input.dataset.param])) {
      start[input.dataset.param] = Number(input.value);
    }
  }
  if (Object.keys(start).length) s.start = start;
  if ($("min-step").value !== "") s.min_step = Number($("min-step").value);
  if ($("max-steps").value !== "") s.max_steps = Number($("max-steps").value);
  return Object.assign(s, extra);
}

const asked = new Map();
let asks = 0;

function askHost(url, body) {
  const id = ++asks;
  window.parent.postMessage({ backproplab: "request", id, url, body }, "*");
  return new Promise((resolve, reject) => asked.set(id, { resolve, reject }));
}

window.addEventListener("message", (ev) => {
  const m = ev.data || {};
  if (!hosted || ev.source !== window.parent) return;
  if (m.backproplab === "answer" && asked.has(m.id)) {
    const { resolve, reject } = asked.get(m.id);
    asked.delete(m.id);
    if (m.ok) resolve(m.data);
    else reject(Object.assign(new Error(m.error), { status: m.status }));
  } else if (m.backproplab === "document") {
    stop();
    load(m.doc, { iteration: current() ? current().iteration : 1, param: ui.selected && ui.selected.param });
  }
});

async function post(url, body) {
  if (hosted) return askHost(url, body);
  const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  let data = null;
  try { data = await res.json(); } catch (err) { data = { error: `the server answered ${res.status}` }; }
  if (!res.ok) {
    const e = new Error((data && data.error) || `the server answered ${res.status}`);
    e.status = res.status;
    throw e;
  }
  return data;
}

async function recompute(settings, keep = {}) {
  if (!served) return;
  stop();
  $("status").textContent = "working out the run …";
  try {
    const doc = await post("/api/lesson", settings);
    ui.settings = settings;
    await load(doc, keep);  // the status says "working" until the new run is drawn
    $("status").textContent = "";
    return true;
  } catch (err) {
    $("status").textContent = "";
    banner(err.message, err.status === 503 ? "busy" : "error");
    throw err;
  }
}

function load(doc, keep = {}) {
  ui.doc = doc;
  if (doc.colours) document.documentElement.style.setProperty("--pink", doc.colours.pink);  // the figures' pink
  const its = iterations();
  ui.pos = keep.iteration ? posOf(keep.iteration) : 0;
  const names = its.length ? Object.keys(its[0].params) : [];
  const want = keep.param && names.includes(keep.param) ? keep.param : null;
  ui.selected = withIndex(want || doc.trace.optimize[0] || names[0], want ? keep.index : null);
  fillControls();
  divergenceBanner();
  showGuide();
  // an iteration the document does not hold (a link, a new run) is asked for before the page is drawn, so that
  // it is drawn once, at that iteration
  const k = keep.iteration;
  if (Number.isInteger(k) && k <= lastIteration() && current() && current().iteration !== k) {
    return navigate(async () => {
      if (await fetchRow(k)) go(posOf(k));
      else if (ui.doc === doc) { render(); notKept(k); }
    });
  }
  render();
  return null;
}

// Where an iteration cannot be had, the page says which one it shows instead, until the next move.
function notKept(want) {
  const shown = current().iteration;
  if (want > shown && want <= lastIteration()) {
    banner(`Iteration ${want} is not kept in this page; showing ${shown}, the nearest kept one before it.`, "note");
    ui.skipNote = true;
  }
}

// A matrix parameter is selected together with one of its entries (the first, unless chosen).
function withIndex(param, index) {
  const value = iterations().length ? iterations()[0].params[param] : null;
  if (!Array.isArray(value)) return { param, index: null };
  const dims = shape(value);
  const ok = index && index.length === dims.length && index.every((i, k) => i >= 0 && i < dims[k]);
  return { param, index: ok ? index : dims.map(() => 0) };
}

function fillControls() {
  const doc = ui.doc;
  const preset = $("preset");
  if (!preset.options.length) for (const p of PRESETS) htmlEl("option", { value: p }, preset, p);
  if (doc.source.preset) preset.value = doc.source.preset;
  if (ui.custom && !preset.querySelector('option[value="__own"]')) htmlEl("option", { value: "__own" }, preset, "your own spec");
  if (ui.custom) preset.value = "__own";
  $("lr").value = doc.settings.lr;
  $("optimizer").value = doc.settings.optimizer;
  $("min-step").value = doc.settings.min_step;
  $("max-steps").value = doc.settings.max_steps;
  $("of").textContent = `/ ${lastIteration()}`;
  showHeld();
  $("iteration").max = lastIteration();
  const box = $("optimize");
  for (const el of [...box.querySelectorAll(".opt")]) el.remove();
  const its = iterations();
  const names = its.length ? Object.keys(its[0].params) : Object.keys(doc.trace.final.params);
  for (const name of names) {
    const span = htmlEl("span", { class: "opt" }, box);
    const id = `opt-${name}`;
    const cb = htmlEl("input", { type: "checkbox", id, value: name, class: "opt-box" }, span);
    cb.checked = doc.trace.optimize.includes(name);
    htmlEl("label", { for: id }, span, name);
    cb.addEventListener("change", () => changed());
    if (name in doc.settings.start) {
      const input = htmlEl("input", { type: "number", step: "any", class: "start", "data-param": name,
        "aria-label": `starting value of ${name}`, title: `starting value of ${name}` }, span);
      input.value = asNumber(doc.settings.start[name]);
      input.addEventListener("change", () => changed());
    }
    if (!served) { cb.disabled = true; span.title = "this file holds one run; 'backproplab serve' recomputes"; }
  }
  for (const id of ["preset", "lr", "optimizer", "min-step", "max-steps", "reset"]) {
    $(id).disabled = !served;
    if (!served) $(id).title = "this file holds one run; 'backproplab serve' recomputes it with new settings";
  }
  for (const input of box.querySelectorAll("input.start")) input.disabled = !served;
  const sel = $("param");
  clearEl(sel);
  for (const name of names) htmlEl("option", { value: name }, sel, name);
}

// How many of the run's iterations the page holds, when not all: the rest are asked for (served) or not here.
function showHeld() {
  const held = iterations().length, total = ui.doc.trace.iterations_total ?? held;
  $("kept").textContent = held < total ? (served ? ` (${held} held)` : ` (${held} kept)`) : "";
  $("kept").title = held >= total ? "" : `This page holds ${held} of the run's ${total} iterations (a size ` +
    "budget): the first few, the last, evenly spaced ones between" + (served ? " and those asked for. " : ". ") +
    "The loss chart has every iteration. " +
    (served ? "Stepping one at a time or typing an iteration asks for any other one; play goes from held one " +
      "to held one."
      : "This file cannot work out the others: play and step go from kept one to kept one; 'backproplab serve' " +
        "or 'backproplab run --json' has every one.");
}

function lastIteration() {
  const its = iterations();
  return its.length ? its[its.length - 1].iteration : 0;
}

async function changed(extra = {}) {
  const keep = { iteration: current() ? current().iteration : 1, param: ui.selected && ui.selected.param,
    index: ui.selected && ui.selected.index };
  try { await recompute(settingsFromControls(extra), keep); } catch (err) { fillControls(); }
}

// --- drawing ------------------------------------------------------------------------------
const STEP_MS = 300;
const reducedMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

// One step forward or back moves the point along the loss curve and the green curve towards
// the data over about 300 ms; everything else (and every number) is at the new iteration at once.
function animate(from) {
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
function drawCharts(anim = null) {
  const doc = ui.doc;
  const param = ui.selected.param;
  const index = ui.selected.index;
  const key = paramKey(param, index);
  const slice = curveSlice(param, index, !anim);  // a frame of the step's animation asks nothing of the server
  drawLossCurve($("curve"), doc, ui.pos, param, slice, index, key, anim);
  if (anim && doc.boundary) return null;
  const note = curveNote(doc, key, slice);
  if ($("curve-note").textContent !== note) $("curve-note").textContent = note;
  return drawPredictions($("predictions"), doc, ui.pos, anim);
}

function render() {
  ui.renders += 1;
  newLayout();  // the type sizes are read afresh (a resize, present mode): once, not once per label
  const refocus = focusKeeper();
  const doc = ui.doc;
  const its = iterations();
  if (!its.length) { banner("The run has no iterations to show.", "error"); return; }
  const it = current();
  if (!ui.typing) $("iteration").value = it.iteration;  // not over a number being typed
  const param = ui.selected.param;
  $("param").value = param;
  $("curve-title").textContent = lossSymbol(doc.trace.loss);
  $("pred-title").textContent = doc.boundary ? "Decision boundary (heat map) and data" : "Predictions";
  readLayout(document.querySelectorAll("main svg"));  // every chart's box at once, then only writes
  drawNetwork($("network"), doc, it, ui.selected, { select, hover });
  ui.animation = null;
  predictionNote(drawCharts());
  askSnapshot(it.iteration);
  drawTable();
  const said = it.announce || {};  // one short line for a screen reader, not the whole derivation
  $("announce").textContent = said[param] || said[doc.trace.optimize[0]] || "";
  drawLossHistory($("history"), doc, ui.pos, ui.log);
  renderDerivation();
  renderForwardTab();
  if (hosted) window.parent.postMessage({ backproplab: "state", iteration: it.iteration, param }, "*");
  else writeLink();  // in the widget the address is the notebook's, not the page's
  refocus();
}

// The iteration's table; a parameter's row selects it everywhere, by click or from the keyboard.
function drawTable() {
  const param = ui.selected.param;
  renderTable($("table"), ui.doc, ui.pos);
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
function focusKeeper() {
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
function askSnapshot(iteration) {
  const doc = ui.doc;
  const snaps = doc.boundary || doc.predictions;
  if (!served || ui.playing || !snaps || snaps.iterations.includes(iteration)) return;
  doc.snapshotsAsked = doc.snapshotsAsked || new Set();
  if (doc.snapshotsAsked.has(iteration)) return;
  doc.snapshotsAsked.add(iteration);
  fetchDetail(ui.selected.param, iteration, ui.selected.index);
}

function predictionNote(shown) {
  const note = $("pred-note");
  clearEl(note);
  if (!shown || !shown.now) return;
  const key = (cls, text) => { htmlEl("span", { class: `key ${cls}` }, note); note.appendChild(document.createTextNode(text)); };
  key("dot", "data  ");
  if (ui.doc.predictions && ui.doc.predictions.residuals) key("residual", `residual ${ui.doc.columns.y} − ${ui.doc.columns.output}  `);
  key("green", `iteration ${shown.now}  `);
  if (shown.before) key("grey", `iteration ${shown.before} (before)`);
}

function hashState() {
  const s = { it: current().iteration, param: ui.selected.param,
    entry: ui.selected.index ? ui.selected.index.map((i) => i + 1).join(",") : null };
  if (served && ui.custom) Object.assign(s, { own: ownCode() });
  if (served && !ui.custom) {
    const doc = ui.doc;
    Object.assign(s, { preset: doc.source.preset, lr: doc.settings.lr, optimizer: doc.settings.optimizer,
      optimize: doc.trace.optimize.join(","), min_step: doc.settings.min_step, max_steps: doc.settings.max_steps });
    const start = ui.settings && ui.settings.start;
    if (start) s.start = Object.entries(start).map(([k, v]) => `${k}:${v}`).join(",");
  }
  return s;
}

// The loss against any parameter, the others held at this iteration: a parameter that is not trained has its
// slice and tangent too (only the numbered steps need training). One slice serves the whole run only where
// the parameter is the one that moves.
function curveSlice(param, index, ask = true) {
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

function renderDerivation() {
  const doc = ui.doc;
  const it = current();
  const param = ui.selected.param;
  const sym = lossSymbol(doc.trace.loss);
  const key = workingKey();
  $("derivation-title").textContent = `d${sym}/d${key} at iteration ${it.iteration}`;
  const box = $("derivation");
  const e = (doc.explanations[key] || {})[String(it.iteration)];
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
function workingKey() {
  return served && ui.selected.index ? paramKey(ui.selected.param, ui.selected.index) : ui.selected.param;
}

function showWorking(box, shown) {
  const e = working(shown);  // the exact-factors form when that switch is on
  if (ui.view === "text") renderText(box, e.text);
  else if (ui.view === "latex") renderSource(box, e.latex);
  else renderLatex(box, e.latex);
}

// Clicking a weight also lets you type its starting value (the run is then worked out again).
function startEditor(box, param) {
  const header = document.querySelector(`#optimize input.start[data-param="${param}"]`);
  if (!header || !served) return;
  const p = htmlEl("p", { class: "start-edit" }, null);
  const label = htmlEl("label", {}, p, `starting value of ${param} `);
  const input = htmlEl("input", { type: "number", step: "any", class: "num", "aria-label": `starting value of ${param}` }, label);
  input.value = header.value;
  input.addEventListener("change", () => { header.value = input.value; changed(); });
  box.insertBefore(p, box.firstChild);
}

// Worked gradients are asked for one at a time, as the server works them out; a wish the page has moved
// past by the time its turn comes is dropped, so stepping quickly asks only for where it stops.
function askDetail(body, stillWanted = () => true) {
  const turn = (ui.lane || Promise.resolve()).then(() => (stillWanted() ? post("/api/detail", body) : null));
  ui.lane = turn.catch(() => {});
  return turn;
}

async function fetchDetail(param, iteration, index = null) {
  const key = `${paramKey(param, index)}@${iteration}`;
  if (ui.pending.has(key)) return;
  ui.pending.add(key);
  const doc = ui.doc, moves = ui.moves;
  const here = () => ui.doc === doc && current() && current().iteration === iteration;
  let wait = 0, retry = false;  // after an error the key stays asked for a moment; "busy" is asked again
  try {
    const d = await askDetail({ settings: ui.settings || {}, param, iteration, index }, () => here() && ui.moves === moves);
    if (!d) {  // the page was asked to move before its turn came: where it stops is asked for instead
      if (doc.snapshotsAsked) doc.snapshotsAsked.delete(iteration);
      (ui.nav || Promise.resolve()).then(() => { if (here()) render(); });
      return;
    }
    if (ui.doc !== doc) return;  // a new run came meanwhile: this answer is about the old one
    keepDetail(doc, param, iteration, d);
    if (here()) redrawDetail(d);
  } catch (err) {
    if (doc.snapshotsAsked) doc.snapshotsAsked.delete(iteration);
    wait = err503Delay();
    retry = err.status === 503;
    if (!retry) {
      clearEl($("derivation"));
      htmlEl("p", { class: "missing" }, $("derivation"), err.message);
    }
  } finally {
    if (!wait) ui.pending.delete(key);
    else setTimeout(() => { ui.pending.delete(key); if (retry && here()) render(); }, wait);
  }
}

// A worked gradient's answer, drawn where it shows: the derivation, the table (its command-line lines), the
// forward pass, and the charts where it brought a loss curve or a snapshot; the rest of the page stays as drawn.
function redrawDetail(d) {
  const refocus = focusKeeper();
  if (d.curve || d.boundary || d.prediction) predictionNote(drawCharts());  // at the sizes the page was drawn at
  if (!(ui.selected.param in (current().gradients || {}))) {  // its gradient, from the worked one
    drawNetwork($("network"), ui.doc, current(), ui.selected, { select, hover });
  }
  drawTable();
  renderDerivation();
  renderForwardTab();
  refocus();
}

// Where k goes in an ascending list of iteration numbers.
function placeOf(numbers, k) {
  const at = numbers.findIndex((n) => n > k);
  return at < 0 ? numbers.length : at;
}

// Snapshots are kept in iteration order, numbers and values side by side.
function insertSnapshot(iterations, values, iteration, value) {
  if (iterations.includes(iteration)) return;
  const at = placeOf(iterations, iteration);
  iterations.splice(at, 0, iteration);
  values.splice(at, 0, value);
}

function keepDetail(doc, param, iteration, d) {
  if (d.boundary && doc.boundary) insertSnapshot(doc.boundary.iterations, doc.boundary.values, iteration, d.boundary);
  if (d.prediction && doc.predictions) insertSnapshot(doc.predictions.iterations, doc.predictions.curves, iteration, d.prediction);
  (doc.explanations[param] = doc.explanations[param] || {})[String(iteration)] = d.explanation;
  if (d.entry) (doc.explanations[d.entry_key] = doc.explanations[d.entry_key] || {})[String(iteration)] = d.entry;
  (doc.cli_lines = doc.cli_lines || {})[String(iteration)] = d.cli_lines;
  if (d.forward) (doc.forward = doc.forward || {})[String(iteration)] = d.forward;
  if (d.curve) {
    const list = (doc.curves[d.curve_key] = doc.curves[d.curve_key] || []);
    if (!list.some((s) => s.iteration === d.curve.iteration)) list.push(d.curve);
  }
}

function err503Delay() { return 800; }

function select(param, index) {
  ui.selected = withIndex(param, index || null);
  render();
}

function hover(text, ev) {
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

// --- playing ------------------------------------------------------------------------------
function go(pos) {
  if (ui.skipNote) { divergenceBanner(); ui.skipNote = false; }
  const n = iterations().length;
  const from = ui.pos;
  ui.pos = Math.max(0, Math.min(n - 1, pos));
  render();
  if (Math.abs(ui.pos - from) === 1 && !ui.playing && !reducedMotion) animate(from);
}

// A typed iteration the document does not hold is asked for (served), or the nearest kept one before it
// is shown, and the page says so.
async function goTyped() {
  stop();
  const want = Number($("iteration").value);
  if (Number.isInteger(want) && want >= 1 && want <= lastIteration()) await fetchRow(want);
  go(posOf(want));
  if (Number.isInteger(want)) notKept(want);  // says nothing where the iteration was had
}

// Moves through the run happen one after another: a step that waits for an asked-for iteration is not
// overtaken by the next key press.
function navigate(move) {
  ui.moves = (ui.moves || 0) + 1;  // a worked gradient asked for before this move may no longer be wanted
  ui.nav = (ui.nav || Promise.resolve()).then(move).catch(() => {});
  return ui.nav;
}

// ← and → move one iteration; on a served page an iteration between two held ones is asked for first.
// Presses that come while a step waits for the server are added up into one move, so a held key asks
// for the iteration it ends on, not for every one it passes.
function stepKey(delta) {
  ui.ahead = (ui.ahead || 0) + delta;
  if (ui.stepQueued) return ui.nav;
  ui.stepQueued = true;
  return navigate(async () => {
    ui.stepQueued = false;
    const by = ui.ahead;
    ui.ahead = 0;
    if (by) await stepBy(by);
  });
}

async function stepBy(delta) {
  stop();
  const it = current(), its = iterations();
  if (!it) return;
  const want = Math.max(its[0].iteration, Math.min(lastIteration(), it.iteration + delta));
  const next = its[ui.pos + delta];
  if (want !== it.iteration && (!next || next.iteration !== want) && await fetchRow(want)) {
    go(posOf(want));
    return;
  }
  go(ui.pos + delta);
}

// The row of an iteration the document does not hold, from the server (or the notebook's Python), put in
// its place with the selected parameter's worked gradient; false where there is no one to ask.
async function fetchRow(iteration) {
  const doc = ui.doc, sel = ui.selected;
  if (!served) return false;
  if (iterations().some((it) => it.iteration === iteration)) return true;
  let d = null;
  for (let tries = 0; !d && tries < 40; tries++) {  // the server may be busy with a worked gradient: wait for it
    try {
      d = await askDetail({ settings: ui.settings || {}, param: sel.param, iteration, index: sel.index });
    } catch (err) {
      if (err.status !== 503) return false;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  if (!d) return false;
  if (ui.doc !== doc || !d.row || d.row.iteration !== iteration) return false;  // a new run came meanwhile
  const its = doc.trace.iterations;
  if (!its.some((it) => it.iteration === iteration)) {
    const at = placeOf(its.map((it) => it.iteration), iteration);
    its.splice(at, 0, d.row);
    if (at <= ui.pos) ui.pos += 1;  // the same iteration stays current until go() moves
    showHeld();
  }
  keepDetail(doc, sel.param, iteration, d);
  return true;
}

function stop() {
  ui.playing = false;
  clearTimeout(ui.timer);
  $("play").classList.remove("playing");
  $("play").setAttribute("aria-label", "play");
}

function tick() {
  if (!ui.playing) return;
  if (ui.pos >= iterations().length - 1) { stop(); render(); return; }
  go(ui.pos + 1);
  ui.timer = setTimeout(tick, 1000 / Number($("speed").value));
}

function togglePlay() {
  if (ui.playing) { stop(); render(); return; }
  if (ui.pos >= iterations().length - 1) ui.pos = 0;
  ui.playing = true;
  $("play").classList.add("playing");
  $("play").setAttribute("aria-label", "pause");
  tick();
}

function wire() {
  $("step").addEventListener("click", () => stepKey(1));
  $("back").addEventListener("click", () => stepKey(-1));
  $("first").addEventListener("click", () => navigate(() => { stop(); go(0); }));
  $("last").addEventListener("click", () => navigate(() => { stop(); go(iterations().length - 1); }));
  $("play").addEventListener("click", () => navigate(togglePlay));
  $("iteration").addEventListener("input", () => { ui.typing = true; });
  $("iteration").addEventListener("blur", () => { ui.typing = false; });
  $("iteration").addEventListener("change", () => { ui.typing = false; navigate(goTyped); });
  $("param").addEventListener("change", () => select($("param").value, null));
  for (const id of ["lr", "optimizer", "min-step", "max-steps"]) $(id).addEventListener("change", () => changed());
  $("preset").addEventListener("change", () => {
    if ($("preset").value === "__own") return;
    ui.custom = null;
    const own = $("preset").querySelector('option[value="__own"]');
    if (own) own.remove();
    recompute({ preset: $("preset").value }).catch(() => fillControls());
  });
  $("reset").addEventListener("click", () => {
    const s = ui.custom ? { spec_text: ui.custom.spec_text, csv_text: ui.custom.csv_text } : { preset: $("preset").value };
    recompute(s).catch(() => {});
  });
  $("log").addEventListener("change", () => { ui.log = $("log").checked; render(); });
  wireGuideAndTabs();
  for (const b of document.querySelectorAll(".tabs button[data-view]")) {
    b.addEventListener("click", () => {
      ui.view = b.dataset.view;
      for (const o of document.querySelectorAll(".tabs button[data-view]")) o.classList.toggle("on", o === b);
      renderDerivation();
    });
  }
  watchFactors(renderDerivation);
  $("copy").addEventListener("click", () => {
    const e = working((ui.doc.explanations[workingKey()] || {})[String(current().iteration)]);
    if (e && navigator.clipboard) navigator.clipboard.writeText(ui.view === "text" ? e.text : e.latex).catch(() => {});
  });
  document.addEventListener("keydown", (ev) => {
    const tag = (ev.target && ev.target.tagName) || "";
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || !$("own-panel").hidden) return;
    if (ev.key === " " && tag === "BUTTON") return;
    const steps = { ArrowRight: 1, ArrowLeft: -1 };
    const keys = { " ": togglePlay, Home: () => { stop(); go(0); }, End: () => { stop(); go(iterations().length - 1); } };
    if (steps[ev.key]) { ev.preventDefault(); stepKey(steps[ev.key]); }
    if (keys[ev.key]) { ev.preventDefault(); navigate(keys[ev.key]); }
  });
  window.addEventListener("resize", () => render());
  wirePresent();
  // a chart whose box changed without the window (the guide closed, the table grew) is drawn again for its new
  // size, that chart alone: nothing is asked of the server
  const watch = new ResizeObserver(() => requestAnimationFrame(() => {
    if (!ui.doc || !current()) return;
    newLayout();
    if (staleSize($("network"))) drawNetwork($("network"), ui.doc, current(), ui.selected, { select, hover });
    if (staleSize($("history"))) drawLossHistory($("history"), ui.doc, ui.pos, ui.log);
    if (staleSize($("curve")) || staleSize($("predictions"))) predictionNote(drawCharts());
  }));
  for (const svg of document.querySelectorAll("main svg")) watch.observe(svg);
  window.addEventListener("hashchange", () => window.location.reload());  // a link typed or pasted in
  wireOwn({
    served, post, doc: () => ui.doc,
    loadCustom: (doc, custom) => {
      ui.custom = custom;
      ui.settings = { spec_text: custom.spec_text, csv_text: custom.csv_text };
      load(doc);
    },
  });
}


// "present": large type and fewer panels, for a projector; ?present=1 in the address opens the page so.
function wirePresent() {
  const on = (value) => {
    document.body.classList.toggle("present", value);
    $("present").checked = value;
  };
  on(new URLSearchParams(window.location.search).get("present") === "1");
  $("present").addEventListener("change", () => {
    on($("present").checked);
    const url = new URL(window.location.href);
    if ($("present").checked) url.searchParams.set("present", "1");
    else url.searchParams.delete("present");
    if (!hosted && url.protocol !== "about:") history.replaceState(null, "", url);
    if (ui.doc) render();
  });
}

function settingsFromHash(h) {
  const s = {};
  if (h.preset) s.preset = h.preset;
  if (h.lr) s.lr = Number(h.lr);
  if (h.optimizer) s.optimizer = h.optimizer;
  if (h.optimize) s.optimize = h.optimize === "all" ? "all" : h.optimize.split(",").filter(Boolean);
  if (h.min_step) s.min_step = Number(h.min_step);
  if (h.max_steps) s.max_steps = Number(h.max_steps);
  if (h.start) {
    s.start = {};
    for (const part of h.start.split(",")) {
      const [k, v] = part.split(":");
      if (k && v !== undefined) s.start[k] = Number(v);
    }
  }
  return s;
}

async function main() {
  wire();
  const h = readHash();
  const keep = { iteration: h.it ? Number(h.it) : 1, param: h.param || null,
    index: h.entry ? h.entry.split(",").map((v) => Number(v) - 1) : null };
  if (embedded) {
    ui.doc = JSON.parse(embedded.textContent);
    load(ui.doc, keep);
    return;
  }
  const own = h.own ? await ownFromLink(h.own) : null;
  const settings = own ? own.settings : settingsFromHash(h);
  try {
    if (Object.keys(settings).length) {
      await recompute(settings, keep);
    } else {
      // both asked at once: the small answer does not wait behind the lesson
      const [res, initial] = await Promise.all([fetch("/api/lesson"), fetch("/api/initial").then((r) => r.json())]);
      const doc = await res.json();
      if (!res.ok) throw new Error(doc.error || `the server answered ${res.status}`);
      ui.settings = initial.settings;  // all of them: a later request is about this same run
      if (initial.custom) ui.custom = { spec_text: doc.source.spec_text, csv_text: initial.settings.csv_text || null };
      load(doc, keep);
    }
    if (own && own.problem) banner(ui.doc.link[own.problem], own.problem === "unreadable" ? "error" : "note");
  } catch (err) {
    banner(err.message, "error");
  }
}

// --- the forward-pass tab, the guide and links to your own network --------------------------------------
// The forward pass of the iteration shown, as the document (or the server) has it from 'backproplab forward'.
function renderForwardTab() {
  const box = $("forward");
  if (ui.tableView !== "forward") return;
  const it = current();
  const view = (ui.doc.forward || {})[String(it.iteration)];
  if (view) { renderForward(box, view, it.iteration); return; }
  clearEl(box);
  if (served) {
    htmlEl("p", { class: "missing" }, box, "working it out …");
    if (!ui.playing) fetchDetail(ui.selected.param, it.iteration, ui.selected.index);
  } else {
    htmlEl("p", { class: "missing" }, box, ui.doc.guide.forward_missing.replace("{iteration}", it.iteration));
  }
}

function showTable(view) {
  ui.tableView = view;
  for (const b of document.querySelectorAll("#table-panel .tabs button[data-table]")) {
    b.classList.toggle("on", b.dataset.table === view);
    b.setAttribute("aria-pressed", String(b.dataset.table === view));
  }
  $("table").hidden = view !== "steps";
  $("forward").hidden = view !== "forward";
  render();  // the loss chart below takes the room the tab leaves
}

// The guide's words, the command line and the article's numbers are the document's; the page shows them
// until the reader closes the guide (remembered for the example, where the browser keeps storage).
function guideKey() { return `backproplab.guide.${ui.doc.source.preset || "own"}`; }

function remembered(key, value) {
  try {
    if (value === undefined) return window.localStorage.getItem(key);
    window.localStorage.setItem(key, value);
  } catch (err) { /* no storage here (a sandboxed frame): the guide simply opens again */ }
  return null;
}

function showGuide() {
  const g = ui.doc.guide;
  if (!g) return;
  $("guide").hidden = remembered(guideKey()) === "closed";
  $("guide-title").textContent = g.title;
  $("guide-lead").textContent = g.lead;
  const list = $("guide-steps");
  clearEl(list);
  for (const step of g.steps) {
    const li = htmlEl("li", { "data-control": step.control || null }, list, step.text);
    const target = step.control && $(step.control);
    if (!target) continue;
    const point = (on) => target.classList.toggle("pointed", on);
    li.addEventListener("mouseenter", () => point(true));
    li.addEventListener("mouseleave", () => point(false));
  }
  $("guide-article").hidden = !g.article.length;
  $("guide-article-title").textContent = g.article_title ? `Compared with the article (${g.article_title})` : "";
  const box = $("guide-article-table");
  clearEl(box);
  if (g.article.length) {
    const table = htmlEl("table", { class: "numbers article" }, box);
    const head = htmlEl("tr", {}, htmlEl("thead", {}, table));
    for (const c of g.article_columns) htmlEl("th", { scope: "col" }, head, c);
    const body = htmlEl("tbody", {}, table);
    for (const r of g.article) {
      const tr = htmlEl("tr", {}, body);
      for (const k of ["what", "article", "exact", "why"]) htmlEl(k === "what" ? "th" : "td", k === "what" ? { scope: "row" } : {}, tr, r[k]);
    }
  }
  $("link-note").textContent = served && !hosted ? ui.doc.link.note : "";
}

// The command line that prints this view, under the derivation: the document's template, with the shown
// parameter and iteration.
function showCommand() {
  const g = ui.doc.guide;
  const box = $("derivation");
  if (!g || !box.firstChild) return;
  const sel = ui.selected;
  const entry = sel.index ? g.command.entry.replace("{entry}", sel.index.map((i) => i + 1).join(",")) : "";
  const p = htmlEl("p", { class: "command-line" }, box, g.command.lead);
  const code = htmlEl("code", { id: "command" }, p);
  const words = (g.command.template.replace("{param}", sel.param)
    .replace("{iteration}", String(current().iteration)) + entry).split(" ");
  words.forEach((w, i) => {  // a line breaks between words only, never inside --param
    htmlEl("span", { class: "word" }, code, w);
    if (i < words.length - 1) code.appendChild(document.createTextNode(" "));
  });
  if (g.command.note) htmlEl("span", { class: "command-note" }, p, ` ${g.command.note}`);
}

function wireGuideAndTabs() {
  for (const b of document.querySelectorAll("#table-panel .tabs button[data-table]")) {
    b.addEventListener("click", () => showTable(b.dataset.table));
  }
  $("guide-close").addEventListener("click", () => { $("guide").hidden = true; remembered(guideKey(), "closed"); });
  $("guide-open").addEventListener("click", () => { $("guide").hidden = false; remembered(guideKey(), "open"); });
}

// A link to your own network carries its settings packed into the address (state.js). Packing takes a
// moment: the address is written once it is ready. Past the document's limit the address says so instead,
// and the page says it too: a link never opens on other numbers in silence.
function ownCode() {
  const text = JSON.stringify(ui.settings || {});
  if (ui.packed && ui.packed.text === text) return ui.packed.code;
  const mine = (ui.packed = { text, code: null });
  packSettings(ui.settings || {}).then((code) => {
    const size = window.location.href.split("#")[0].length + code.length + 64;
    mine.code = size <= ui.doc.link.max_chars ? code : "too-large";
    if (mine.code === "too-large") banner(ui.doc.link.too_large.replace("{chars}", String(size)), "note");
    if (ui.packed === mine) writeLink();
  }).catch(() => { mine.code = "too-large"; if (ui.packed === mine) writeLink(); });
  return null;
}

function writeLink() {
  const s = hashState();
  if (ui.custom && served && !s.own) return;  // the packed settings are on their way
  writeHash(s);
}

// The settings a link to your own network carries, or which of the document's sentences says why there are none.
async function ownFromLink(code) {
  if (code === "too-large") return { settings: {}, problem: "opened_too_large" };
  try {
    const settings = await unpackSettings(code);
    ui.custom = { spec_text: settings.spec_text, csv_text: settings.csv_text || null };
    return { settings, problem: null };
  } catch (err) {
    return { settings: {}, problem: "unreadable" };
  }
}

main();
