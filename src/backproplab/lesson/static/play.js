// Moving through the run: one step, a typed iteration, first and last, and play.
import { $, ui, iterations, current, posOf, lastIteration, banner, divergenceBanner } from "./page.js";
import { fetchRow } from "./ask.js";
import { reducedMotion, animate, render } from "./render.js";
import { stepBeyond, typedBeyond, atTheEnd, shownIteration } from "./compare.js";

// Where an iteration cannot be had, the page says which one it shows instead, until the next move.
export function notKept(want) {
  const shown = current().iteration;
  if (want > shown && want <= lastIteration()) {
    banner(`Iteration ${want} is not kept in this page; showing ${shown}, the nearest kept one before it.`, "note");
    ui.skipNote = true;
  }
}

export function go(pos) {
  if (ui.skipNote) { divergenceBanner(); ui.skipNote = false; }
  ui.beyond = null;  // back among the shown run's own iterations
  const n = iterations().length;
  const from = ui.pos;
  ui.pos = Math.max(0, Math.min(n - 1, pos));
  render();
  if (Math.abs(ui.pos - from) === 1 && !ui.playing && !reducedMotion) animate(from);
}

// A typed iteration the document does not hold is asked for (served), or the nearest kept one before it
// is shown, and the page says so.
export async function goTyped() {
  stop();
  const want = Number($("iteration").value);
  if (Number.isInteger(want) && want >= 1 && want <= lastIteration()) await fetchRow(want);
  go(posOf(want));
  if (typedBeyond(want)) render();  // past the shown run's end, where a compared run goes on
  else if (Number.isInteger(want)) notKept(want);  // says nothing where the iteration was had
}

// Moves through the run happen one after another: a step that waits for an asked-for iteration is not
// overtaken by the next key press.
export function navigate(move) {
  ui.moves = (ui.moves || 0) + 1;  // a worked gradient asked for before this move may no longer be wanted
  ui.nav = (ui.nav || Promise.resolve()).then(move).catch(() => {});
  return ui.nav;
}

// ← and → move one iteration; on a served page an iteration between two held ones is asked for first.
// Presses that come while a step waits for the server are added up into one move, so a held key asks
// for the iteration it ends on, not for every one it passes.
export function stepKey(delta) {
  ui.ahead = (ui.ahead || 0) + delta;
  if (ui.stepQueued) return ui.nav;
  ui.stepQueued = true;
  return navigate(async () => {
    ui.stepQueued = false;
    const by = ui.ahead;
    ui.ahead = 0;
    if (by) await stepBy(by);
  });
}

export async function stepBy(delta) {
  stop();
  const it = current(), its = iterations();
  if (!it) return;
  if (stepBeyond(delta)) { render(); return; }  // runs side by side: a compared run goes on past the shown one
  const want = Math.max(its[0].iteration, Math.min(lastIteration(), it.iteration + delta));
  const next = its[ui.pos + delta];
  if (want !== it.iteration && (!next || next.iteration !== want) && await fetchRow(want)) {
    go(posOf(want));
    return;
  }
  go(ui.pos + delta);
}

export function stop() {
  ui.playing = false;
  clearTimeout(ui.timer);
  $("play").classList.remove("playing");
  $("play").setAttribute("aria-label", "play");
}

export function tick() {
  if (!ui.playing) return;
  if (ui.pos >= iterations().length - 1) {
    const was = shownIteration();
    if (!stepBeyond(1) || shownIteration() === was) { stop(); render(); return; }
    render();
    ui.timer = setTimeout(tick, 1000 / Number($("speed").value));
    return;
  }
  go(ui.pos + 1);
  if (ui.pauseAt && current().iteration >= ui.pauseAt) { ui.pauseAt = null; stop(); render(); return; }  // a tour's pause
  ui.timer = setTimeout(tick, 1000 / Number($("speed").value));
}

export function togglePlay() {
  if (ui.playing) { stop(); render(); return; }
  if (ui.pos >= iterations().length - 1 && atTheEnd()) { ui.pos = 0; ui.beyond = null; }
  ui.playing = true;
  $("play").classList.add("playing");
  $("play").setAttribute("aria-label", "pause");
  tick();
}
