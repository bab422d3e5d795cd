// Predict, then reveal: with the "predict" switch on, an iteration's step is hidden (its gradient, step size and
// new value, the worked chain rule, the tangent on the pink curve, the loss chart past it) until the learner types
// one of them and it is right, or asks to be shown. The typed number is compared with the document's lists for
// the iteration (checkbox.js, bl.check's rule); a wrong one is answered with the mistake that gives it and the
// right line of the working. Keyboard: type, Enter checks, → goes on.
import { $, ui, current, served } from "./page.js";
import { render } from "./render.js";
import { stepKey, stop } from "./play.js";
import { htmlEl, clearEl } from "./draw.js";
import { fmt } from "./format.js";
import { checkList, typedNumber, judge, isRight, askCheck, wantCheck } from "./checkbox.js";

const predictState = { on: false, revealed: new Set(), doc: null, said: null };

// Whether the iteration shown has its step hidden; kept in ui.hideNext for the charts, the table and the network.
export function hiding() {
  if (predictState.doc !== ui.doc) { predictState.doc = ui.doc; predictState.revealed = new Set(); }
  ui.hideNext = Boolean(predictState.on && ui.doc && current() && !predictState.revealed.has(current().iteration));
  return ui.hideNext;
}

// The quantities to predict: the gradient, step size and new value of the selected parameter (else the first one
// the lists hold), in that order.
function toBePredicted(list) {
  if (!Array.isArray(list)) return [];
  const params = [...new Set(list.filter((q) => q.parameter).map((q) => q.parameter))];
  const p = params.includes(ui.selected.param) ? ui.selected.param : params[0];
  return list.filter((q) => q.parameter === p);
}

function sayPrediction(word, message, line = "") {
  $("predict-verdict").textContent = word ? `${word}: ${message}` : message;
  $("predict-line").textContent = line ? `where it went wrong: ${line}` : "";
  $("predict-said").dataset.word = word;
  predictState.said = current() ? current().iteration : null;
}

const predictKind = (key) => (key.startsWith("grad.") ? "grad" : key.startsWith("step.") ? "step" : "new");

// The choice of what to type: the quantities' own labels; the kind chosen (gradient, step, new value) stays.
function fillPredictChoices(quantities) {
  const select = $("predict-what");
  const keys = quantities.map((q) => `${q.key}=${q.label}`).join("|");  // the labels name the iteration
  if (select.dataset.keys === keys) return;
  const kind = select.value ? predictKind(select.value) : "grad";
  select.dataset.keys = keys;
  clearEl(select);
  for (const q of quantities) htmlEl("option", { value: q.key }, select, q.label);
  const again = quantities.find((q) => predictKind(q.key) === kind);
  if (again) select.value = again.key;
}

// The box, at every redraw: the prompt, the choices, and what was said (kept while the iteration stays).
export function renderPredict() {
  const box = $("predict-box");
  if (!box) return;
  box.hidden = !predictState.on;
  document.body.classList.toggle("predicting", predictState.on);
  if (!predictState.on || !ui.doc || !current()) return;
  const it = current();
  const k = it.iteration;
  if (predictState.said !== k) { sayPrediction("", ""); $("predict-answer").value = ""; }
  const list = checkList(ui.doc, k);
  if (list === undefined) askCheck(k);
  const quantities = toBePredicted(list);
  fillPredictChoices(quantities);
  const hidden = hiding();
  const p = quantities.length ? quantities[0].parameter : ui.selected.param;
  const sym = ui.doc.words.loss.symbol;
  $("predict-title").textContent = hidden ? `Predict iteration ${k}` : `Iteration ${k}: shown`;
  const start = p in it.params && !Array.isArray(it.params[p]) ? `${p} = ${fmt(it.params[p])}, ` : "";
  let prompt = `Iteration ${k} starts from ${start}${sym} = ${fmt(it.loss)}. `;
  if (!hidden) prompt = prompt.trim();
  else if (quantities.length) prompt += "Work out its step by hand, choose what you type, then Enter checks it.";
  else if (list === undefined && served) prompt += "Getting the numbers to check against \u2026";
  else prompt += list === null ? "This run's numbers have no hand check: \u201cshow me\u201d shows the step."
    : `This page does not hold the numbers to check iteration ${k} against: \u201cshow me\u201d shows the step.`;
  $("predict-prompt").textContent = prompt;
  for (const id of ["predict-what", "predict-answer", "predict-check"]) $(id).disabled = !quantities.length;
  $("predict-reveal").disabled = !hidden;
}

export function reveal() {
  if (!current()) return;
  predictState.revealed.add(current().iteration);
  render();
}

export function checkPrediction() {
  const it = current();
  const q = toBePredicted(checkList(ui.doc, it.iteration)).find((c) => c.key === $("predict-what").value);
  if (!q) { sayPrediction("", "There are no numbers here to check against yet."); return; }
  const typed = typedNumber($("predict-answer").value);
  if (!typed.text) { sayPrediction("not yet", typed.error || "type a number first"); return; }
  const verdict = judge(q, typed.text, true);
  if (isRight(verdict)) {
    predictState.revealed.add(it.iteration);
    render();
    sayPrediction("right", `${verdict.message}. \u2192 goes on.`);
  } else {
    sayPrediction("not yet", verdict.message, verdict.line);
  }
}

export function wirePredict() {
  const toggle = $("predict");
  if (!toggle) return;
  toggle.addEventListener("change", () => {
    predictState.on = toggle.checked;
    predictState.revealed = new Set();
    wantCheck();
    if (predictState.on) stop();
    render();
  });
  $("predict-check").addEventListener("click", checkPrediction);
  $("predict-reveal").addEventListener("click", () => { reveal(); sayPrediction("", "Shown without a check: \u2192 goes on."); });
  $("predict-answer").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { ev.preventDefault(); checkPrediction(); }
    else if (ev.key === "ArrowRight" && !hiding()) { ev.preventDefault(); stepKey(1); }
  });
  $("predict-box").addEventListener("keydown", (ev) => {  // from the choice or a button too, once shown
    if (ev.key === "ArrowRight" && ev.target.tagName === "SELECT" && !hiding()) { ev.preventDefault(); stepKey(1); }
  });
}

wirePredict();
