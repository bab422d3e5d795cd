// The iteration table as the command line prints it: samples (x, y and the network's output, named as the
// lesson document names it), the loss, and for each optimized parameter its value, gradient, step size and
// new value; and the forward pass, laid out from the rows Python wrote.
import { htmlEl, clearEl } from "./draw.js";
import { fmt, exact, shape } from "./format.js";

const MAX_ROWS = 8;
const HIDDEN = "?";

function cell(v, write = fmt) {
  if (Array.isArray(v)) return v.map((x) => write(x)).join(", ");
  return write(v);
}

// hide: predict, then reveal; the step's numbers (gradient, step size, new value) show as "?" until predicted.
export function renderTable(container, doc, pos, hide = false) {
  clearEl(container);
  const trace = doc.trace;
  const it = trace.iterations[pos];
  const sym = doc.words.loss.symbol;
  const scalars = trace.optimize.filter((n) => !Array.isArray(it.params[n]));
  const where = scalars.slice(0, 3).map((n) => `${n} = ${fmt(it.params[n])}`).join(", ") +
    (scalars.length > 3 ? ", …" : "");
  htmlEl("h3", { class: "iteration-title" }, container, `Iteration ${it.iteration}` + (where ? ` (${where})` : ""));
  if (pos === trace.iterations.length - 1) htmlEl("p", { class: "ended" }, container, doc.words.stopped);
  const data = trace.data || { x: [], y: [] };
  const n = data.x.length;
  const tables = htmlEl("div", { class: "tables" }, container);
  const left = htmlEl("div", {}, tables);
  const right = htmlEl("div", {}, tables);
  const samples = htmlEl("table", { class: "numbers samples" }, left);
  const head = htmlEl("tr", {}, htmlEl("thead", {}, samples));
  const names = doc.columns || { x: "x_i", y: "y_i", output: "ŷ_i", note: "" };
  for (const c of ["sample", names.x, names.y, names.output]) htmlEl("th", { scope: "col" }, head, c);
  const body = htmlEl("tbody", {}, samples);
  for (let i = 0; i < Math.min(n, MAX_ROWS); i++) {
    const tr = htmlEl("tr", {}, body);
    htmlEl("td", {}, tr, String(i + 1));
    htmlEl("td", {}, tr, cell(data.x[i], exact));  // data as the terminal writes it: 0.5, not 0.50
    htmlEl("td", {}, tr, cell(data.y[i], exact));
    htmlEl("td", {}, tr, cell(it.predictions[i]));
  }
  if (n > MAX_ROWS) htmlEl("td", { colspan: 4, class: "more" }, htmlEl("tr", {}, body), `… ${n - MAX_ROWS} more samples`);
  if (names.note) htmlEl("p", { class: "column-note" }, left, names.note);
  htmlEl("p", { class: "loss-line" }, left, `${sym} = ${fmt(it.loss)}`);
  const steps = htmlEl("table", { class: "numbers steps" }, right);
  const sh = htmlEl("tr", {}, htmlEl("thead", {}, steps));
  // a new value is shown for single numbers; where every parameter is an array, the column would hold only dashes
  const single = trace.optimize.some((name) => !Array.isArray(it.params[name]));
  for (const c of ["", "value", "gradient", "step size", ...(single ? ["new value"] : [])]) {
    htmlEl("th", { scope: "col" }, sh, c);
  }
  const sb = htmlEl("tbody", {}, steps);
  for (const name of trace.optimize) {
    const tr = htmlEl("tr", { "data-param": name }, sb);
    htmlEl("th", { scope: "row" }, tr, name);
    const value = it.params[name];
    if (Array.isArray(value)) {
      const dims = shape(value);
      htmlEl("td", {}, tr, dims.length === 1 ? `${dims[0]} value${dims[0] === 1 ? "" : "s"}` : `${dims.join("×")} matrix`);
      htmlEl("td", {}, tr, hide ? HIDDEN : `norm ${fmt(it.norms.gradients[name])}`);
      htmlEl("td", {}, tr, hide ? HIDDEN : `norm ${fmt(it.norms.step_sizes[name])}`);
      if (single) htmlEl("td", {}, tr, "—");
    } else {
      htmlEl("td", {}, tr, fmt(value));
      for (const v of [it.gradients[name], it.step_sizes[name], it.new_values[name]]) {
        htmlEl("td", hide ? { class: "hidden-number", title: "hidden until you predict" } : {}, tr, hide ? HIDDEN : fmt(v));
      }
    }
  }
  htmlEl("p", { class: "rule" }, right, doc.words.rule);
  const printed = hide ? null : (doc.cli_lines || {})[String(it.iteration)];
  if (printed) htmlEl("pre", { class: "cli-lines", "aria-label": "as the command line prints it" }, container, printed.join("\n"));
}

// The forward pass at one iteration, as 'backproplab forward' prints it: each column headed by its symbol and
// formula, one row per sample, the loss line and notes; every text is the document's own.
export function renderForward(container, view, iteration) {
  clearEl(container);
  htmlEl("h3", { class: "iteration-title" }, container, `Iteration ${iteration}: the forward pass`);
  htmlEl("p", { class: "forward-intro" }, container, view.intro);
  const table = htmlEl("table", { class: "numbers forward" }, htmlEl("div", { class: "scroll" }, container));
  const head = htmlEl("tr", {}, htmlEl("thead", {}, table));
  for (const [symbol, formula] of view.header) {
    const th = htmlEl("th", { scope: "col" }, head, symbol);
    if (formula) { htmlEl("br", {}, th); htmlEl("span", { class: "formula" }, th, formula); }
  }
  const body = htmlEl("tbody", {}, table);
  for (const row of view.rows) {
    const tr = htmlEl("tr", {}, body);
    row.forEach((text, j) => htmlEl(j ? "td" : "th", j ? {} : { scope: "row" }, tr, text));
  }
  for (const line of view.lines) htmlEl("p", { class: "loss-line" }, container, line);
  for (const note of view.notes) htmlEl("p", { class: "note" }, container, `note: ${note}`);
}
