// The page's shared state: the document shown, where in the run it is, what is selected, and whether a
// server (or the notebook) answers; the elements by id, and the banner.
import { shape } from "./format.js";

export const $ = (id) => document.getElementById(id);

export const embedded = $("lesson-document");

// The notebook widget embeds the document too, but answers the page's requests as the server
// does, by messages to the notebook (see the widget's script, widget.js).
export const hosted = Boolean(embedded && embedded.dataset.host === "widget");

export const served = !embedded || hosted;

export const ui = { doc: null, pos: 0, selected: null, view: "typeset", playing: false, timer: null, custom: null,
  log: false, pending: new Set(), busy: false, tableView: "steps", packed: null, renders: 0 };

// How many times the whole page has been drawn: a step draws it once (read by the page's tests).
window.backproplabRenders = () => ui.renders;

export function iterations() { return ui.doc.trace.iterations; }

export function current() { return iterations()[ui.pos]; }

export function posOf(k) {
  const its = iterations();
  let best = 0;
  its.forEach((it, i) => { if (it.iteration <= k) best = i; });
  return best;
}

export function lastIteration() {
  const its = iterations();
  return its.length ? its[its.length - 1].iteration : 0;
}

// A matrix parameter is selected together with one of its entries (the first, unless chosen).
export function withIndex(param, index) {
  const value = iterations().length ? iterations()[0].params[param] : null;
  if (!Array.isArray(value)) return { param, index: null };
  const dims = shape(value);
  const ok = index && index.length === dims.length && index.every((i, k) => i >= 0 && i < dims[k]);
  return { param, index: ok ? index : dims.map(() => 0) };
}

export function banner(text, kind) {
  const b = $("banner");
  b.hidden = !text;
  b.textContent = text || "";
  b.className = kind || "";
}

export function divergenceBanner() {
  const said = ui.doc.words.diverged;  // the document's sentence, with the optimizer's own message
  banner(said || null, said ? "diverged" : "");
}
