// "Check my numbers": the learner's numbers for the iteration shown, each compared with the values Python listed
// for it (explain/check.py's candidates, the document's "check" entry): the exact value, the values rounded
// inputs give, and the value each common mistake gives, with its message and the right line. Nothing is worked
// out here: a typed number is only compared with those values, by bl.check's own rule, and their words shown.
import { $, ui, current, served } from "./page.js";
import { fetchDetail } from "./ask.js";
import { htmlEl, clearEl } from "./draw.js";
import { paramKey } from "./network.js";

const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

// A typed number as check_answer.given_text reads it: trimmed, a typographic minus as "-"; null where the box is
// empty. Anything else that is not a number is said so.
export function typedNumber(raw) {
  const text = String(raw || "").trim().replace(/\u2212/g, "-");
  if (!text) return { text: null, error: "" };
  if (!NUMBER_TEXT.test(text)) return { text: null, error: `'${String(raw).trim()}' is not a number` };
  return { text, error: "" };
}

// The typed text as an exact decimal: digits × 10^exponent (the exponent says how it was rounded).
function decimalOf(text) {
  const m = text.toLowerCase().match(/^([+-]?)(\d*)\.?(\d*)(?:e([+-]?\d+))?$/);
  const digits = BigInt(`${m[2]}${m[3]}` || "0");
  return { digits: m[1] === "-" ? -digits : digits, exponent: Number(m[4] || 0) - m[3].length };
}

// A double's exact value: mantissa × 2^exponent.
function binaryOf(value) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const hi = view.getUint32(0), lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (biased) mantissa |= 1n << 52n;
  return { mantissa: hi >>> 31 ? -mantissa : mantissa, exponent: (biased || 1) - 1075 };
}

const bigPow = (base, n) => base ** BigInt(n);
const bigAbs = (v) => (v < 0n ? -v : v);

// util.numbers.holds: whether ``value`` (exactly, as a double) is within half a unit of the typed text's last
// place, a tie either way counting. Exact integer arithmetic, so that a tie is decided as Python's Decimal decides it.
export function holds(value, text) {
  if (!Number.isFinite(value)) return false;
  const g = decimalOf(text), v = binaryOf(value);
  const twos = Math.max(0, -v.exponent), tens = Math.max(0, 1 - g.exponent);  // a common denominator 2^a × 10^b
  const scaledValue = v.mantissa * bigPow(2n, v.exponent + twos) * bigPow(10n, tens);
  const scaledTyped = g.digits * bigPow(10n, g.exponent + tens) * bigPow(2n, twos);
  const half = 5n * bigPow(10n, g.exponent - 1 + tens) * bigPow(2n, twos);
  return bigAbs(scaledValue - scaledTyped) <= half;
}

// check_answer.agrees: rounds to the typed text at its last decimal, or equals it to full precision.
export function agrees(value, text) {
  if (value === null || value === undefined) return false;  // NaN, as the document writes it
  const v = Number(value), t = Number(text);
  if (!Number.isFinite(v)) return false;
  return holds(v, text) || Math.abs(v - t) <= Math.max(1e-9 * Math.max(Math.abs(v), Math.abs(t)), 1e-12);
}

// The document's sentences (explain/check_answer.py SAYS) with their slots filled.
const says = () => ui.doc.words.check_says;
const fill = (template, slots) => template.replace(/\{(\w+)\}/g, (m, k) => (k in slots ? String(slots[k]) : m));

function precisionWords(text) {
  const words = says().precision;
  if (/e/i.test(text)) return words.e;
  const places = -decimalOf(text).exponent;
  return places <= 0 ? words["0"] : places === 1 ? words["1"] : fill(words.n, { n: places });
}

const typedShown = (text) => text.replace(/-/g, "\u2212");
const mistakeId = (c) => (c.factor ? `${c.kind}:${c.factor}` : c.kind);

// A typed number against one quantity, as check_answer's _matched marks it: right (agrees with the exact value at
// the typed precision), rounded (a value from rounded inputs), or wrong (with the mistakes that give it).
// ``guessing`` (predict, then reveal): a wrong answer is marked without the exact value, with the line of working
// where it went wrong (check_answer.guessed).
export function judge(q, text, guessing = false) {
  const slots = { given: typedShown(text), exact: q.exact_text, shown: q.shown };
  const verdict = marked(q, text, slots);
  if (!guessing || verdict.status !== "wrong") return verdict;
  const found = q.mistakes.filter((c) => agrees(c.value, text));
  if (!found.length) return { ...verdict, message: fill(says().guess_unknown, slots), line: "" };
  return { ...verdict, message: fill(says().guess_wrong, { ...slots, messages: found.map((c) => c.message).join(says().or) }),
    line: (found.find((c) => c.hint) || {}).hint || "" };
}

function marked(q, text, slots) {
  if (agrees(q.exact, text)) {
    return { status: "right", message: fill(says().right, { ...slots, precision: precisionWords(text) }), line: q.line,
      mistakes: [] };
  }
  const rounded = q.rounded.find((c) => agrees(c.value, text));
  if (rounded) {
    return { status: "rounded", message: fill(says().rounded, { ...slots, message: rounded.message }),
      line: rounded.line || q.line, mistakes: [] };
  }
  const found = q.mistakes.filter((c) => agrees(c.value, text));
  if (found.length) {
    return { status: "wrong", message: fill(says().wrong, { ...slots, messages: found.map((c) => c.message).join(says().or) }),
      line: found[0].line || q.line, mistakes: found.map(mistakeId) };
  }
  return { status: "wrong", message: fill(says().unknown, slots), line: q.line, mistakes: [] };
}

export const isRight = (verdict) => verdict.status === "right" || verdict.status === "rounded";

// The document's lists for an iteration: an array (maybe empty), null where the run has no hand check, or
// undefined where the document does not hold that iteration's.
export function checkList(doc, iteration) {
  const held = doc.check || {};
  if (String(iteration) in held) return held[String(iteration)];
  if (served) return undefined;  // asked for when needed
  return Object.keys(held).length || !(doc.trace.iterations || []).length ? undefined : null;
}

// The box's quantities: the first few samples' ŷ (as the table shows them), then every parameter's step.
const SAMPLES_SHOWN = 8;

function inTheBox(list) {
  return list.filter((q) => !/^yhat\d+$/.test(q.key) || Number(q.key.slice(4)) <= SAMPLES_SHOWN);
}

// Whether the page needs the lists (predicting, or the box open): a served page's requests then ask for them.
export function wantCheck() {
  ui.wantCheck = Boolean(($("predict") || {}).checked || ($("check-box") || {}).open);
  return ui.wantCheck;
}

// A served page (or the notebook) asks for an iteration's lists it does not hold, a few times at most.
export function askCheck(iteration) {
  const doc = ui.doc, sel = ui.selected;
  if (!served || ui.playing || !wantCheck() || ui.pending.has(`${paramKey(sel.param, sel.index)}@${iteration}`)) return;
  doc.checkAsks = doc.checkAsks || {};
  doc.checkAsks[iteration] = (doc.checkAsks[iteration] || 0) + 1;
  if (doc.checkAsks[iteration] <= 3) fetchDetail(sel.param, iteration, sel.index);
}

export function statusWord(status) {
  return ((ui.doc.words || {}).check || {})[status] || status;
}

// The box, drawn afresh only for a new iteration or document, so that typed numbers stay while the page redraws.
export function renderCheckBox() {
  const box = $("check-form");
  if (!box || !ui.doc || !current()) return;
  const k = current().iteration;
  const list = checkList(ui.doc, k);
  if (list === undefined && $("check-box").open) askCheck(k);
  const drawn = `${k}|${Array.isArray(list) ? list.length : String(list)}`;
  if (box.dataset.drawn === drawn && ui.checkDoc === ui.doc) return;
  box.dataset.drawn = drawn;
  ui.checkDoc = ui.doc;
  clearEl(box);
  $("check-said").textContent = "";
  $("check-title").textContent = `check my numbers for iteration ${k}`;
  if (!Array.isArray(list) || !list.length) {
    htmlEl("p", { class: "missing" }, box, list === null ? "This run's numbers have no hand check (bl.check " +
      "takes a network of single-number parameters)." : list === undefined ? `The lists to check iteration ${k} ` +
      "against are not in this page; 'backproplab serve' or bl.check checks any iteration." : "Nothing to check here.");
    return;
  }
  const rows = htmlEl("div", { class: "check-rows" }, box);
  const more = list.length - inTheBox(list).length;
  inTheBox(list).forEach((q, i) => {
    const row = htmlEl("div", { class: "check-row", "data-key": q.key }, rows);
    htmlEl("label", { for: `check-in-${i}` }, row, q.label);
    htmlEl("input", { id: `check-in-${i}`, type: "text", inputmode: "decimal", autocomplete: "off", spellcheck: "false",
      "data-key": q.key, "aria-describedby": `check-mark-${i}` }, row);
    htmlEl("div", { id: `check-mark-${i}`, class: "check-mark" }, row);
  });
  if (more) htmlEl("p", { class: "check-more" }, box, `… ${more} more samples' ŷ: bl.check checks them all`);
  htmlEl("button", { type: "submit" }, box, "check");
}

// Enter (or the button) marks every filled-in number; the marks are also read out, in one live region.
export function checkNumbers() {
  const list = checkList(ui.doc, current().iteration);
  if (!Array.isArray(list)) return;
  const said = [];
  inTheBox(list).forEach((q, i) => {
    const input = $(`check-in-${i}`), mark = $(`check-mark-${i}`);
    clearEl(mark);
    mark.className = "check-mark";
    const typed = typedNumber(input.value);
    if (!typed.text) {
      if (typed.error) { mark.classList.add("wrong"); htmlEl("span", {}, mark, `not yet: ${typed.error}`); said.push(`${q.label}: not yet: ${typed.error}`); }
      return;
    }
    const v = judge(q, typed.text);
    mark.classList.add(isRight(v) ? "right" : "wrong");
    mark.dataset.status = v.status;
    htmlEl("strong", { class: "status" }, mark, statusWord(v.status));
    htmlEl("span", { class: "message" }, mark, `: ${v.message}`);
    if (!isRight(v)) htmlEl("span", { class: "right-line" }, mark, `right line: ${v.line}`);
    said.push(`${q.label}: ${isRight(v) ? "right" : "not yet"}: ${v.message}`);
  });
  $("check-said").textContent = said.length ? said.join(". ") : "Type a number first.";
}

export function wireCheckBox() {
  const form = $("check-form");
  if (!form) return;
  form.addEventListener("submit", (ev) => { ev.preventDefault(); checkNumbers(); });
  $("check-box").addEventListener("toggle", () => { wantCheck(); if (ui.doc && current()) renderCheckBox(); });
}

wireCheckBox();
