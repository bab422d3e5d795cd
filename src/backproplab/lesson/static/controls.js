// The settings' controls: filled from the document, read into a request, and a new run asked for.
import { $, served, ui, iterations, current, lastIteration, banner } from "./page.js";
import { post } from "./ask.js";
import { stop } from "./play.js";
import { load, hiddenByName } from "./app.js";
import { htmlEl, clearEl } from "./draw.js";
import { asNumber } from "./format.js";
import { SETTINGS, SIMPLE_SETTINGS, unpackRun } from "./state.js";

export function settingsFromControls(extra = {}) {
  const s = {};
  if (ui.custom) { s.spec_text = ui.custom.spec_text; if (ui.custom.csv_text) s.csv_text = ui.custom.csv_text; }
  else s.preset = $("preset").value;
  for (const { name, control, type } of SIMPLE_SETTINGS) {
    if (name === "preset") continue;  // above: an example, or your own spec
    const value = $(control).value;
    if (value !== "") s[name] = type === "number" ? Number(value) : value;
  }
  const chosen = [...document.querySelectorAll("#optimize input.opt-box")].filter((b) => b.checked).map((b) => b.value);
  s.optimize = chosen;
  const start = {};
  for (const input of document.querySelectorAll("#optimize input.start")) {
    if (input.value !== "" && Number(input.value) !== asNumber(ui.doc.settings.start[input.dataset.param])) {
      start[input.dataset.param] = Number(input.value);
    }
  }
  if (Object.keys(start).length) s.start = start;
  return Object.assign(s, extra);
}

export async function recompute(settings, keep = {}) {
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

export function fillControls() {
  const doc = ui.doc;
  fillChoices($("preset"), doc.choices.presets);
  fillChoices($("optimizer"), doc.choices.optimizers);
  for (const { name, control } of SIMPLE_SETTINGS) $(control).value = doc.settings[name];
  const preset = $("preset");
  if (doc.source.preset) preset.value = doc.source.preset;
  const own = ui.custom || !doc.source.preset;  // a spec posted to the page, served, or exported
  if (own && !preset.querySelector('option[value="__own"]')) {
    htmlEl("option", { value: "__own" }, preset, "your own spec");
  }
  if (own) preset.value = "__own";
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
    if (!served) { cb.disabled = true; span.title = frozen(); }
  }
  for (const id of [...SIMPLE_SETTINGS.map((s) => s.control), "reset"]) {
    $(id).disabled = !served;
    if (!served) $(id).title = frozen();
  }
  for (const input of box.querySelectorAll("input.start")) input.disabled = !served;
  const sel = $("param");
  clearEl(sel);
  for (const name of names) htmlEl("option", { value: name }, sel, name);
  if (ui.runs) offerRuns();
}

// Why a control of an exported file cannot be changed.
function frozen() {
  if (!ui.runs) return "this file holds one run; 'backproplab serve' recomputes it with new settings";
  return `this file holds ${ui.runs.list.length} runs, chosen with the settings they differ in ('backproplab serve' ` +
    "recomputes with any settings)";
}

// A list to choose from, as the document names its choices; made once (a choice made stays chosen).
function fillChoices(select, choices) {
  if (select.querySelector("option:not([value=\"__own\"])")) return;
  for (const { value, label } of choices) htmlEl("option", { value }, select, label);
}

// How many of the run's iterations the page holds, when not all: the rest are asked for (served) or not here.
export function showHeld() {
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

export async function changed(extra = {}) {
  const keep = { iteration: current() ? current().iteration : 1, param: ui.selected && ui.selected.param,
    index: ui.selected && ui.selected.index };
  try { await recompute(settingsFromControls(extra), keep); } catch (err) { fillControls(); }
}

// --- several runs in one exported file (lesson/runs.py) ---------------------------------------------------
// The "run" list names every run by the settings it changes, and opens it; a setting the runs differ in is
// enabled too, as a choice among the runs' values (the learning rate becomes a list of the runs' rates), so the
// reader changes the setting where they would on a served page and never asks for a run the file does not hold.
export function readRuns() {
  const el = $("lesson-runs");
  if (served || !el) return null;
  const table = JSON.parse(el.textContent), list = table.runs;
  return list.length > 1 ? { list, docs: [ui.doc], compare: table.compare || [] } : null;
}

const sameValue = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// The settings whose value is not the same in every run.
function variedSettings() {
  const list = ui.runs.list;
  const differs = (n) => list.some((r) => !sameValue(r.settings[n], list[0].settings[n]));
  return SETTINGS.map((s) => s.name).filter(differs);
}

export async function openRun(i, keep) {
  const runs = ui.runs;
  try {
    if (!runs.docs[i]) runs.docs[i] = await unpackRun(runs.list[i].packed, runs.docs[0]);
  } catch (err) {
    banner(`This browser cannot open the file's other runs (${err.message}); a recent Chrome, Firefox or Safari can.`,
      "error");
    fillControls();
    return;
  }
  stop();
  ui.run = i;
  load(runs.docs[i], keep);
}

function keepView() {
  return { iteration: current() ? current().iteration : 1, param: ui.selected && ui.selected.param,
    index: ui.selected && ui.selected.index };
}

// The run with this value of one setting that keeps most of the others as they are.
function chooseRun(name, value) {
  const list = ui.runs.list, now = list[ui.run || 0].settings, names = variedSettings();
  let best = -1, most = -1;
  list.forEach((r, i) => {
    if (String(r.settings[name]) !== String(value)) return;
    const kept = names.filter((n) => n !== name && sameValue(r.settings[n], now[n])).length;
    if (kept > most) { best = i; most = kept; }
  });
  if (best >= 0) openRun(best, keepView());
}

// The "run" list is offered when a setting's own control cannot choose every run: the runs differ in more than one
// setting, or in starting values or the parameters trained, or in a setting whose control is hidden. Where they
// differ in the learning rate alone, the learning rate's list is the one choice, not two controls doing the same.
function offerRuns() {
  const list = ui.runs.list, now = ui.run || 0, names = variedSettings();
  const simple = SIMPLE_SETTINGS.map((s) => s.name);
  const listed = names.length !== 1 || !simple.includes(names[0]) || hiddenByName.names.includes(names[0]);
  if (listed && !$("run")) {
    const label = htmlEl("label", { title: "the runs this file holds, by the settings each changes" }, null, "run ");
    $("lr").closest("label").before(label);
    const sel = htmlEl("select", { id: "run" }, label);
    list.forEach((r, i) => htmlEl("option", { value: String(i) }, sel, r.label || "as exported"));
    sel.addEventListener("change", () => openRun(Number(sel.value), keepView()));
  }
  if (listed) $("run").value = String(now);
  for (const { name, control, type } of SIMPLE_SETTINGS) {
    if (!names.includes(name)) continue;
    const values = [...new Set(list.map((r) => r.settings[name]))];
    const el = $(control);
    if (type === "number") choiceFor(el, name, values).value = String(list[now].settings[name]);
    else {
      el.disabled = false;
      el.title = "the runs this file holds";
      for (const o of el.options) o.disabled = !values.map(String).includes(o.value);
      if (!el.dataset.runs) {
        el.dataset.runs = "chosen";
        el.addEventListener("change", () => chooseRun(name, el.value));
      }
    }
  }
}

// A number's input shown as a list of the runs' values (the input stays, hidden, for the page's other uses).
function choiceFor(input, name, values) {
  let sel = $(`${input.id}-run`);
  if (!sel) {
    sel = htmlEl("select", { id: `${input.id}-run`, "aria-label": input.closest("label").textContent.trim() });
    input.after(sel);
    input.hidden = true;
    const sorted = values.slice().sort((a, b) => a - b);
    for (const v of sorted) htmlEl("option", { value: String(v) }, sel, String(asNumber(v)));
    sel.addEventListener("change", () => chooseRun(name, sel.value));
  }
  sel.title = "the runs this file holds";
  return sel;
}
