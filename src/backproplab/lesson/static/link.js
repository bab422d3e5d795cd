// The page's address: the view and the settings (state.js), or your own network packed into it.
import { served, ui, current, banner } from "./page.js";
import { writeHash, packSettings, unpackSettings, settingsToLink } from "./state.js";
import { compareLink } from "./compare.js";

export function hashState() {
  const s = { it: current().iteration, param: ui.selected.param,
    entry: ui.selected.index ? ui.selected.index.map((i) => i + 1).join(",") : null };
  if (!served && ui.runs) s.run = (ui.run || 0) + 1;  // which of an exported file's runs
  s.compare = compareLink();  // the runs drawn beside it, as written ("lr=0.34|optimizer=adam")
  if (served && ui.custom) Object.assign(s, { own: ownCode() });
  if (served && !ui.custom) {
    const doc = ui.doc;  // the run's own settings; of the starting values, only those the reader changed
    Object.assign(s, settingsToLink({ ...doc.settings, preset: doc.source.preset, optimize: doc.trace.optimize,
      start: ui.settings && ui.settings.start }));
  }
  return s;
}

// A link to your own network carries its settings packed into the address (state.js). Packing takes a
// moment: the address is written once it is ready. Past the document's limit the address says so instead,
// and the page says it too: a link never opens on other numbers in silence.
export function ownCode() {
  const text = JSON.stringify(ui.settings || {});
  if (ui.packed && ui.packed.text === text) return ui.packed.code;
  const mine = (ui.packed = { text, code: null });
  packSettings(ui.settings || {}).then((code) => {
    const size = window.location.href.split("#")[0].length + code.length + 64;
    mine.code = size <= ui.doc.link.max_chars ? code : "too-large";
    if (mine.code === "too-large") banner(ui.doc.link.too_large.replace("{chars}", String(size)), "note");
    if (ui.packed === mine) writeLink();
  }).catch(() => { mine.code = "too-large"; if (ui.packed === mine) writeLink(); });
  return null;
}

export function writeLink() {
  const s = hashState();
  if (ui.custom && served && !s.own) return;  // the packed settings are on their way
  writeHash(s);
}

// The settings a link to your own network carries, or which of the document's sentences says why there are none.
export async function ownFromLink(code) {
  if (code === "too-large") return { settings: {}, problem: "opened_too_large" };
  try {
    const settings = await unpackSettings(code);
    ui.custom = { spec_text: settings.spec_text, csv_text: settings.csv_text || null };
    return { settings, problem: null };
  } catch (err) {
    return { settings: {}, problem: "unreadable" };
  }
}

