// Asking the server (or the notebook's Python) for what the document does not hold: a worked gradient, a
// loss curve, a snapshot or a whole iteration's row, one request at a time, kept in the document once had.
import { $, hosted, served, ui, iterations, current } from "./page.js";
import { showHeld } from "./controls.js";
import { render, redrawDetail } from "./render.js";
import { htmlEl, clearEl } from "./draw.js";
import { paramKey } from "./network.js";

const asked = new Map();
let asks = 0;

// The notebook's answer to one of askHost's requests.
export function answered(m) {
  if (!asked.has(m.id)) return;
  const { resolve, reject } = asked.get(m.id);
  asked.delete(m.id);
  if (m.ok) resolve(m.data);
  else reject(Object.assign(new Error(m.error), { status: m.status }));
}

export function askHost(url, body) {
  const id = ++asks;
  window.parent.postMessage({ backproplab: "request", id, url, body }, "*");
  return new Promise((resolve, reject) => asked.set(id, { resolve, reject }));
}

export async function post(url, body) {
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

// Worked gradients are asked for one at a time, as the server works them out; a wish the page has moved
// past by the time its turn comes is dropped, so stepping quickly asks only for where it stops.
export function askDetail(body, stillWanted = () => true) {
  const turn = (ui.lane || Promise.resolve()).then(() => (stillWanted() ? post("/api/detail", body) : null));
  ui.lane = turn.catch(() => {});
  return turn;
}

export async function fetchDetail(param, iteration, index = null) {
  const key = `${paramKey(param, index)}@${iteration}`;
  if (ui.pending.has(key)) return;
  ui.pending.add(key);
  const doc = ui.doc, moves = ui.moves;
  const here = () => ui.doc === doc && current() && current().iteration === iteration;
  let wait = 0, retry = false;  // after an error the key stays asked for a moment; "busy" is asked again
  try {
    const d = await askDetail({ settings: ui.settings || {}, param, iteration, index, check: Boolean(ui.wantCheck) },
      () => here() && ui.moves === moves);
    if (!d) {  // the page was asked to move before its turn came: where it stops is asked for instead
      if (doc.snapshotsAsked) doc.snapshotsAsked.delete(iteration);
      (ui.nav || Promise.resolve()).then(() => { if (here()) render(); });
      return;
    }
    if (ui.doc !== doc) return;  // a new run came meanwhile: this answer is about the old one
    keepDetail(doc, param, iteration, d);
    ui.pending.delete(key);  // answered: the redraw may ask again (the check lists, if the box opened meanwhile)
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

export function err503Delay() { return 800; }

// Where k goes in an ascending list of iteration numbers.
export function placeOf(numbers, k) {
  const at = numbers.findIndex((n) => n > k);
  return at < 0 ? numbers.length : at;
}

// Snapshots are kept in iteration order, numbers and values side by side.
export function insertSnapshot(iterations, values, iteration, value) {
  if (iterations.includes(iteration)) return;
  const at = placeOf(iterations, iteration);
  iterations.splice(at, 0, iteration);
  values.splice(at, 0, value);
}

export function keepDetail(doc, param, iteration, d) {
  if (d.boundary && doc.boundary) insertSnapshot(doc.boundary.iterations, doc.boundary.values, iteration, d.boundary);
  if (d.prediction && doc.predictions) insertSnapshot(doc.predictions.iterations, doc.predictions.curves, iteration, d.prediction);
  (doc.explanations[param] = doc.explanations[param] || {})[String(iteration)] = d.explanation;
  if (d.entry) (doc.explanations[d.entry_key] = doc.explanations[d.entry_key] || {})[String(iteration)] = d.entry;
  (doc.cli_lines = doc.cli_lines || {})[String(iteration)] = d.cli_lines;
  if (d.forward) (doc.forward = doc.forward || {})[String(iteration)] = d.forward;
  if (d.check !== undefined) (doc.check = doc.check || {})[String(iteration)] = d.check;  // "check my working"
  if (d.curve) {
    const list = (doc.curves[d.curve_key] = doc.curves[d.curve_key] || []);
    if (!list.some((s) => s.iteration === d.curve.iteration)) list.push(d.curve);
  }
}

// The row of an iteration the document does not hold, from the server (or the notebook's Python), put in
// its place with the selected parameter's worked gradient; false where there is no one to ask.
export async function fetchRow(iteration) {
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
