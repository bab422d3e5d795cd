// The guided tour a lesson script gives (backproplab export lesson.toml, serve lesson.toml): a caption panel with
// "step k of n", Back and Next (and the keys N / Page Down, B / Page Up; → stays a training step). Each step moves
// the page to its iteration, selects its parameter or marks its node, shows only its controls and stops playing at
// its pause. The captions and their numbers are the document's (doc.tour), written by Python: only shown here.
import { $, ui, posOf, withIndex } from "./page.js";
import { go, navigate, stop } from "./play.js";
import { htmlEl } from "./draw.js";
import { SETTINGS } from "./state.js";

// Each control a step may list: the elements that show it (a label around one goes with it); the settings' own
// controls by the page's one table of settings.
const TOUR_CONTROLS = {
  first: ["#first"], back: ["#back"], step: ["#step"], play: ["#play"], last: ["#last"], speed: ["#speed"],
  iteration: ["#iteration", "header .of"], reset: ["#reset"], own: ["#own"], guide: ["#guide-open"],
  present: ["#present"], param: ["#param"], "tab-steps": ["#tab-steps"], "tab-forward": ["#tab-forward"],
  view: ["#derivation-panel .tabs button[data-view]"], copy: ["#copy"], "factors-exact": ["#factors-exact"],
  log: ["#log"],
  ...Object.fromEntries(SETTINGS.filter((s) => s.type !== "start").map((s) => [s.name, [`#${s.control}`]])),
};
// What a step may point at besides a control: the panels.
const TOUR_PANELS = { network: "#network-panel", curve: "#curve-panel", predictions: "#pred-panel",
  derivation: "#derivation-panel", table: "#table", history: "#history" };
// Groups that take no space once every control in them is hidden.
const TOUR_GROUPS = [".player", "#derivation-panel .tabs", "#table-panel .tabs"];

function tourElements(name) {
  const sels = TOUR_CONTROLS[name] || [TOUR_PANELS[name]].filter(Boolean);
  return sels.flatMap((sel) => [...document.querySelectorAll(sel)]).map((el) => el.closest("header label") || el);
}

function tourPanel() {
  let box = $("tour");
  if (box) return box;
  box = htmlEl("section", { id: "tour", "aria-label": "guided tour" }, null);
  $("banner").after(box);  // under the header, above the guide and the panels
  const head = htmlEl("div", { class: "tour-head" }, box);
  htmlEl("span", { id: "tour-count", class: "tour-count" }, head);
  htmlEl("span", { id: "tour-title", class: "tour-title" }, head);
  htmlEl("p", { id: "tour-caption", "aria-live": "polite" }, box);
  const row = htmlEl("div", { class: "tour-buttons" }, box);
  const back = htmlEl("button", { id: "tour-back", title: "the tour's previous step (B, Page Up)", "aria-keyshortcuts": "B PageUp" }, row);
  htmlEl("span", { "aria-hidden": "true" }, back, "‹ ");
  back.appendChild(document.createTextNode("Back"));
  const next = htmlEl("button", { id: "tour-next", title: "the tour's next step (N, Page Down)", "aria-keyshortcuts": "N PageDown" }, row, "Next");
  htmlEl("span", { "aria-hidden": "true" }, next, " ›");
  htmlEl("span", { id: "tour-keys", class: "tour-keys" }, row);
  $("tour-back").addEventListener("click", () => tourMove(-1));
  $("tour-next").addEventListener("click", () => tourMove(1));
  return box;
}

// The controls a step lists are shown, the others take no space; every one comes back when the tour ends.
// The loss curve's parameter choice is a word of the chart's title: left out, it stays as that word, not a choice.
function tourShowControls(list) {
  for (const el of document.querySelectorAll(".tour-hidden")) el.classList.remove("tour-hidden");
  for (const el of document.querySelectorAll(".tour-emptied")) el.classList.remove("tour-emptied");
  $("param").disabled = Boolean(list) && !list.includes("param");
  if (!list) return;
  for (const name of Object.keys(TOUR_CONTROLS)) {
    if (name !== "param" && !list.includes(name)) for (const el of tourElements(name)) el.classList.add("tour-hidden");
  }
  const gone = (el) => getComputedStyle(el).display === "none" || (el.id === "status" && !el.textContent);
  for (const sel of TOUR_GROUPS) {
    for (const group of document.querySelectorAll(sel)) {
      if ([...group.children].every(gone)) group.classList.add("tour-hidden");
    }
  }
  for (const row of document.querySelectorAll("header .row")) {  // a row left empty takes no height
    if ([...row.children].every(gone)) row.classList.add("tour-emptied");
  }
}

// The element the step is about is outlined (as the guide's steps point), and a node of the diagram is marked by a
// rule of its own, which holds through every redraw of the diagram.
function tourPoint(step) {
  for (const el of document.querySelectorAll(".tour-pointed")) el.classList.remove("tour-pointed");
  const pointed = step && step.point ? tourElements(step.point) : [];
  for (const el of pointed) el.classList.add("tour-pointed");
  // a narrow page stacks its panels and scrolls: what the step is about comes into view under the caption, which
  // stays at the top
  if (pointed.length && window.matchMedia("(max-width: 900px)").matches) {
    document.documentElement.style.setProperty("--tour-height", `${$("tour").offsetHeight}px`);
    pointed[0].scrollIntoView({ block: "start" });
  }
  let style = $("tour-style");
  if (!style) style = htmlEl("style", { id: "tour-style" }, document.head);
  style.textContent = step && step.kind === "node"
    ? `#network g.node[data-node="${CSS.escape(step.highlight)}"] circle { stroke: var(--vermillion); stroke-width: 4px; }`
    : "";
}

export function tourShow(k) {
  const tour = ui.doc.tour;
  const n = tour.steps.length;
  ui.tourStep = Math.max(0, Math.min(n - 1, k));
  const step = tour.steps[ui.tourStep];
  $("tour-count").textContent = `step ${ui.tourStep + 1} of ${n}`;
  $("tour-title").textContent = tour.title;
  $("tour-caption").textContent = step.caption;
  $("tour-back").disabled = ui.tourStep === 0;
  $("tour-next").disabled = ui.tourStep === n - 1;
  tourShowControls(step.controls);
  tourPoint(step);
  ui.pauseAt = step.pause || null;  // playing stops there (play.js)
  return navigate(() => {
    stop();
    if (step.kind === "param") ui.selected = withIndex(step.highlight, null);
    go(posOf(step.iteration));
  });
}

function tourMove(delta) {
  if (!ui.doc || !ui.doc.tour) return null;
  return tourShow((ui.tourStep || 0) + delta);
}

// A document with a tour starts it at its first step; one without (another run chosen on the page) ends it.
export function startTour() {
  const tour = ui.doc && ui.doc.tour;
  if (!tour) {
    if ($("tour")) $("tour").remove();
    tourShowControls(null);
    tourPoint(null);
    ui.pauseAt = null;
    return;
  }
  tourPanel();
  $("tour-keys").textContent = tour.keys;
  $("guide").hidden = true;  // the tour says what the guide would
  tourShow(0);
}

document.addEventListener("keydown", (ev) => {
  const tag = (ev.target && ev.target.tagName) || "";
  if (!$("tour") || ev.ctrlKey || ev.metaKey || ev.altKey || ["INPUT", "TEXTAREA", "SELECT"].includes(tag)) return;
  if (!$("own-panel").hidden) return;
  const moves = { n: 1, N: 1, PageDown: 1, b: -1, B: -1, PageUp: -1 };
  if (!moves[ev.key]) return;
  ev.preventDefault();
  tourMove(moves[ev.key]);
});
