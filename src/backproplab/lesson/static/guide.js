// The guide, the command line under the derivation, the forward-pass tab, and present mode.
import { $, hosted, served, ui, current } from "./page.js";
import { fetchDetail } from "./ask.js";
import { render } from "./render.js";
import { htmlEl, clearEl } from "./draw.js";
import { renderForward } from "./table.js";

// The forward pass of the iteration shown, as the document (or the server) has it from 'backproplab forward'.
export function renderForwardTab() {
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

export function showTable(view) {
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
export function guideKey() { return `backproplab.guide.${ui.doc.source.preset || "own"}`; }

export function remembered(key, value) {
  try {
    if (value === undefined) return window.localStorage.getItem(key);
    window.localStorage.setItem(key, value);
  } catch (err) { /* no storage here (a sandboxed frame): the guide simply opens again */ }
  return null;
}

export function showGuide() {
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
      for (const k of g.article_keys) htmlEl(k === "what" ? "th" : "td", k === "what" ? { scope: "row" } : {}, tr, r[k]);
    }
  }
  $("link-note").textContent = served && !hosted ? ui.doc.link.note : "";
}

// The command line that prints this view, under the derivation: the document's template, with the shown
// parameter and iteration.
export function showCommand() {
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

export function wireGuideAndTabs() {
  for (const b of document.querySelectorAll("#table-panel .tabs button[data-table]")) {
    b.addEventListener("click", () => showTable(b.dataset.table));
  }
  $("guide-close").addEventListener("click", () => { $("guide").hidden = true; remembered(guideKey(), "closed"); });
  $("guide-open").addEventListener("click", () => { $("guide").hidden = false; remembered(guideKey(), "open"); });
}

// "present": large type and fewer panels, for a projector; ?present=1 in the address opens the page so.
export function wirePresent() {
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
