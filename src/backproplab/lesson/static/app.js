// The lesson page: reads a lesson document (embedded in an exported file, or from the server)
// and draws everything from it. No number is computed here; only chosen and formatted.
import { $, embedded, hosted, served, ui, iterations, current, posOf, lastIteration, withIndex, banner, divergenceBanner } from "./page.js";
import { answered, post, fetchRow } from "./ask.js";
import { recompute, fillControls, changed, readRuns, openRun } from "./controls.js";
import { drawCharts, render, predictionNote, renderDerivation, workingKey, select, hover } from "./render.js";
import { notKept, go, goTyped, navigate, stepKey, stop, togglePlay } from "./play.js";
import { showGuide, wireGuideAndTabs, wirePresent } from "./guide.js";
import { startTour } from "./tour.js";
import { ownFromLink } from "./link.js";
import { staleSize, newLayout, htmlEl } from "./draw.js";
import { drawNetwork } from "./network.js";
import { drawLossHistory } from "./charts.js";
import { working, watchFactors } from "./derivation.js";
import { readHash, settingsFromLink, SIMPLE_SETTINGS, HIDEABLE, hiddenNames } from "./state.js";
import { wireOwn } from "./own.js";
import { wireCompare, keepComparable, addRun } from "./compare.js";
import { comparedLosses } from "./sidebyside.js";

// The notebook widget answers the page's requests, and sends a new document when its settings change.
window.addEventListener("message", (ev) => {
  const m = ev.data || {};
  if (!hosted || ev.source !== window.parent) return;
  if (m.backproplab === "answer") answered(m);
  else if (m.backproplab === "document") {
    stop();
    load(m.doc, { iteration: current() ? current().iteration : 1, param: ui.selected && ui.selected.param });
  }
});

export function load(doc, keep = {}) {
  ui.doc = doc;
  ui.beyond = null;
  keepComparable(doc);
  for (const [name, colour] of Object.entries(doc.colours)) {  // the figures' colours, as --pink, --green …
    document.documentElement.style.setProperty(`--${name}`, colour);
  }
  const its = iterations();
  ui.pos = keep.iteration ? posOf(keep.iteration) : 0;
  const names = its.length ? Object.keys(its[0].params) : [];
  const want = keep.param && names.includes(keep.param) ? keep.param : null;
  ui.selected = withIndex(want || doc.trace.optimize[0] || names[0], want ? keep.index : null);
  fillControls();
  hideControls();
  divergenceBanner();
  showGuide();
  startTour();
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
  for (const { name, control } of SIMPLE_SETTINGS) if (name !== "preset") $(control).addEventListener("change", () => changed());
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
  wireCompare(render);
  // a chart whose box changed without the window (the guide closed, the table grew) is drawn again for its new
  // size, that chart alone: nothing is asked of the server
  const watch = new ResizeObserver(() => requestAnimationFrame(() => {
    if (!ui.doc || !current()) return;
    newLayout();
    if (staleSize($("network"))) drawNetwork($("network"), ui.doc, current(), ui.selected, { select, hover });
    if (staleSize($("history"))) drawLossHistory($("history"), ui.doc, ui.pos, ui.log, comparedLosses());
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

// Controls left out for a page embedded in another (--hide, ?hide=) take no space: the elements their names find
// are not displayed, nor a row of the header left empty.
export const hiddenByName = hiddenNames(document.querySelector('meta[name="backproplab-hide"]')?.content,
  window.location.search);

function hideControls() {
  document.documentElement.dataset.hide = hiddenByName.names.join(" ");
  for (const name of hiddenByName.names) {
    for (const el of HIDEABLE[name].flatMap((sel) => [...document.querySelectorAll(sel)])) {
      (el.closest("header label") || el).classList.add("hidden-control");
    }
  }
  const legend = document.querySelector("#optimize legend"), gone = (n) => hiddenByName.names.includes(n);
  if (gone("start") !== gone("optimize")) legend.textContent = gone("start") ? "optimize" : "starting value";
  for (const row of document.querySelectorAll("header .row")) {
    const shown = [...row.children].filter((el) => el.id !== "status" && getComputedStyle(el).display !== "none");
    row.classList.toggle("emptied", shown.length === 0);
  }
}

// Names in ?hide= that are no control: the page says so in one line, and hides the others.
function sayUnknownHidden() {
  if (!hiddenByName.unknown.length) return;
  const note = htmlEl("p", { id: "hide-note", role: "note" }, null,
    `?hide= names no control ${hiddenByName.unknown.map((n) => `'${n}'`).join(", ")}; choose from: ` +
    `${Object.keys(HIDEABLE).join(", ")}`);
  document.querySelector("header").append(note);
}

// The runs a link draws beside the shown one (or an exported file opens with), added one after another.
async function compareFromLink(h) {
  const texts = h.compare !== undefined ? h.compare.split("|") : (ui.runs && ui.runs.compare) || [];
  for (const text of texts.filter(Boolean)) await addRun(text, render);
}

async function main() {
  wire();
  const h = readHash();
  const keep = { iteration: h.it ? Number(h.it) : 1, param: h.param || null,
    index: h.entry ? h.entry.split(",").map((v) => Number(v) - 1) : null };
  sayUnknownHidden();
  if (embedded) {
    ui.doc = JSON.parse(embedded.textContent);
    ui.runs = readRuns();  // an exported file of several runs; the address may name one
    const run = ui.runs && h.run ? Number(h.run) - 1 : 0;
    if (run > 0 && run < ui.runs.list.length) await openRun(run, keep);
    else load(ui.doc, keep);
    await compareFromLink(h);
    return;
  }
  const own = h.own ? await ownFromLink(h.own) : null;
  const settings = own ? own.settings : settingsFromLink(h);
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
    await compareFromLink(h);
    if (own && own.problem) banner(ui.doc.link[own.problem], own.problem === "unreadable" ? "error" : "note");
  } catch (err) {
    banner(err.message, "error");
  }
}

main();
