// Runs side by side: up to three more runs beside the shown one, on one pink curve, in one table and one loss
// chart, stepping together. Each run's colour, marker and name parts are the figures' own (doc.compare, from
// plots.curves): the shown run is the first, each added run takes the next free one. A served page (and the
// notebook) asks for a compared run's document at /api/compare, written in the settings language of
// lesson/runs.py ("lr=0.34"); an exported file offers the runs it holds (export --runs).
import { $, served, hosted, ui, current, banner, divergenceBanner, iterations, lastIteration } from "./page.js";
import { post, askDetail, keepDetail, placeOf } from "./ask.js";
import { unpackRun } from "./state.js";
import { htmlEl, clearEl } from "./draw.js";
import { paramKey } from "./network.js";

ui.compare = [];  // {label, settings, doc, k (its colour and marker), asked: Set}

export const comparing = () => ui.compare.length > 0;

// The iteration the runs are shown at: the shown run's own, or past its end where a compared run goes on
// (ui.beyond; the shown run then holds its last state, as a compared run that ended does).
export function shownIteration() {
  return ui.beyond || current().iteration;
}

function longest() {
  const ends = ui.compare.map((r) => r.doc.trace.iterations[r.doc.trace.iterations.length - 1].iteration);
  return Math.max(lastIteration(), ...ends);
}

// A step past the shown run's end (or back towards it) while a compared run goes on; false where the shown run's
// own iterations take the step.
export function stepBeyond(delta) {
  if (!comparing() || ui.pos !== iterations().length - 1) return false;
  const want = Math.min(longest(), shownIteration() + delta);
  if (want > lastIteration()) { ui.beyond = want; return true; }
  if (!ui.beyond) return false;
  ui.beyond = null;
  return true;
}

// A typed iteration past the shown run's end, where a compared run reaches it.
export function typedBeyond(want) {
  if (!comparing() || !(want > lastIteration())) return false;
  ui.beyond = Math.min(want, longest());
  return true;
}

export const atTheEnd = () => !comparing() || shownIteration() >= longest();

// Its iteration's row in a compared run: that iteration, or the nearest held one before it; a run that ended
// (or diverged) earlier holds its last row.
export function rowAt(doc, k) {
  const its = doc.trace.iterations;
  let row = its[0];
  for (const it of its) if (it.iteration <= k) row = it;
  const last = its[its.length - 1];
  const ended = row === last && k >= last.iteration;
  return { row, ended, held: ended && k > last.iteration, exact: Boolean(row && row.iteration === k) };
}

// Each run, the shown one first, with its colour, marker and state at the shown iteration.
export function shownRuns() {
  const k = shownIteration(), c = ui.doc.compare;
  const runs = [{ label: null, doc: ui.doc, k: 0, run: {}, at: { row: current(), exact: !ui.beyond,
    ended: ui.pos === ui.doc.trace.iterations.length - 1, held: Boolean(ui.beyond) } }, ...ui.compare.map((r) => ({ ...r, run: r, at: rowAt(r.doc, k) }))];
  const names = runNames(runs.map((r) => r.doc), ui.selected.param);
  return runs.map((r, i) => ({ ...r, name: names[i], colour: c.colours[r.k], marker: c.markers[r.k] }));
}

// Runs named by only what sets them apart (all of it when nothing does), as plots.curves.run_labels names them.
export function runNames(docs, param) {
  const parts = (d) => ({ method: d.compare.name.method, lr: d.compare.name.lr, start: d.compare.name.start[param] || "" });
  const every = ["method", "lr", "start"];
  const differ = every.filter((p) => new Set(docs.map((d) => parts(d)[p])).size > 1);
  return docs.map((d) => (differ.length ? differ : every).map((p) => parts(d)[p]).filter(Boolean).join(", "));
}

// --- adding and removing -------------------------------------------------------------------------------------
function freeStyle() {
  const used = new Set(ui.compare.map((r) => r.k));
  for (let k = 1; k < ui.doc.compare.most; k++) if (!used.has(k)) return k;
  return -1;
}

// A run to compare with, by its text ("lr=0.34"): asked of the server (or the notebook), or one of the file's runs.
export async function addRun(text, redraw, quiet = false) {
  const label = String(text || "").trim().split(/\s+/).join(" ");
  const k = freeStyle();
  if (!label) return false;
  if (k < 0) { say(`At most ${ui.doc.compare.most} runs are drawn together; remove one first.`, quiet); return false; }
  if (ui.compare.some((r) => r.label === label)) { say(`${label} is compared already.`, quiet); return false; }
  let got = null;
  try {
    got = served ? await post("/api/compare", { settings: ui.settings || {}, run: label }) : await fileRun(label);
  } catch (err) {
    say(err.message, quiet, "error");
    return false;
  }
  if (!got || ui.compare.some((r) => r.k === k)) return false;
  ui.compare.push({ label, settings: got.settings, doc: got.document, k, asked: new Set() });
  ui.compare.sort((a, b) => a.k - b.k);
  divergenceBanner();  // a refused run's line goes; the shown run's divergence stays said
  redraw();
  return true;
}

function say(text, quiet, kind = "note") {
  if (!quiet) banner(text, kind);
}

async function fileRun(label) {
  const list = ui.runs ? ui.runs.list : [];
  const i = list.findIndex((r) => r.label === label);
  if (i < 0) throw new Error(`this file holds no run ${label}; choose one of its runs`);
  if (!ui.runs.docs[i]) ui.runs.docs[i] = await unpackRun(list[i].packed, ui.runs.docs[0]);
  return { settings: list[i].settings, document: ui.runs.docs[i] };
}

export function removeRun(label, redraw) {
  ui.compare = ui.compare.filter((r) => r.label !== label);
  redraw();
}

// A new shown run of another network (another example, your own spec) leaves the compared runs behind.
export function keepComparable(doc) {
  const same = (d) => d.source.preset === doc.source.preset && d.source.spec_text === doc.source.spec_text;
  ui.compare = ui.compare.filter((r) => same(r.doc));
}

// --- the control ---------------------------------------------------------------------------------------------
export function fillCompare(redraw) {
  const box = $("compare");
  if (!box) return;
  const fileRuns = !served && ui.runs ? ui.runs.list.filter((r, i) => r.label && i !== (ui.run || 0)) : [];
  box.hidden = !served && !fileRuns.length;
  $("compare-text").hidden = !served;
  const choice = $("compare-choice");
  choice.hidden = served;
  if (!served) {
    clearEl(choice);
    for (const r of fileRuns) htmlEl("option", { value: r.label }, choice, r.label);
  }
  $("compare-add").disabled = freeStyle() < 0;
  const end = comparing() ? longest() : lastIteration();  // stepping goes on to the longest run's end
  $("of").textContent = `/ ${end}`;
  $("iteration").max = end;
  const list = $("compare-list");
  clearEl(list);
  if (!comparing()) return;
  for (const r of shownRuns()) {
    const li = htmlEl("li", { "data-run": String(r.k) }, list);
    htmlEl("span", { class: "swatch", style: `background:${r.colour}`, "aria-hidden": "true" }, li);
    htmlEl("span", { class: "run-name" }, li, r.name);
    if (r.label === null) { htmlEl("span", { class: "run-shown" }, li, " (shown)"); continue; }
    const b = htmlEl("button", { class: "remove", "aria-label": `remove ${r.name}`, title: `remove ${r.label}` }, li, "×");
    b.addEventListener("click", () => removeRun(r.label, redraw));
  }
}

export function wireCompare(redraw) {
  const add = async () => {
    const text = served ? $("compare-text").value : $("compare-choice").value;
    if (await addRun(text, redraw) && served) $("compare-text").value = "";
  };
  $("compare-add").addEventListener("click", add);
  $("compare-text").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); add(); } });
}

// --- asking for what a compared run's document does not hold (served, not the notebook's whole documents) -----
export function askRun(run, param, index, iteration, redraw) {
  if (!served || hosted || ui.playing) return;
  const key = `${paramKey(param, index)}@${iteration}`;
  if (run.asked.has(key)) return;
  run.asked.add(key);
  askDetail({ settings: run.settings, param, iteration, index }).then((d) => {
    if (!d || !ui.compare.includes(run)) return;
    const its = run.doc.trace.iterations;
    if (d.row && !its.some((it) => it.iteration === d.row.iteration)) {
      its.splice(placeOf(its.map((it) => it.iteration), d.row.iteration), 0, d.row);
    }
    keepDetail(run.doc, param, iteration, d);
    redraw();
  }).catch(() => { setTimeout(() => run.asked.delete(key), 800); });
}

// The compared runs as a link writes them: their texts, "|" between.
export const compareLink = () => (comparing() ? ui.compare.map((r) => r.label).join("|") : null);
