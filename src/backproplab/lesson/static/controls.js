// The settings' controls: filled from the document, read into a request, and a new run asked for.
import { $, served, ui, iterations, current, lastIteration, banner } from "./page.js";
import { post } from "./ask.js";
import { stop } from "./play.js";
import { load } from "./app.js";
import { htmlEl, clearEl } from "./draw.js";
import { asNumber } from "./format.js";
import { SIMPLE_SETTINGS } from "./state.js";

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
  if (ui.custom && !preset.querySelector('option[value="__own"]')) htmlEl("option", { value: "__own" }, preset, "your own spec");
  if (ui.custom) preset.value = "__own";
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
  for (const id of [...SIMPLE_SETTINGS.map((s) => s.control), "reset"]) {
    $(id).disabled = !served;
    if (!served) $(id).title = "this file holds one run; 'backproplab serve' recomputes it with new settings";
  }
  for (const input of box.querySelectorAll("input.start")) input.disabled = !served;
  const sel = $("param");
  clearEl(sel);
  for (const name of names) htmlEl("option", { value: name }, sel, name);
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
