// The page's state in the URL (after #), so a link reopens the same view.
export function readHash() {
  const out = {};
  const text = window.location.hash.replace(/^#/, "");
  for (const part of text.split("&")) {
    if (!part) continue;
    const [k, v = ""] = part.split("=");
    out[decodeURIComponent(k)] = decodeURIComponent(v);
  }
  return out;
}

export function writeHash(state) {
  const parts = [];
  for (const [k, v] of Object.entries(state)) {
    if (v === null || v === undefined || v === "") continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  const hash = "#" + parts.join("&");
  if (window.location.hash !== hash) history.replaceState(null, "", hash);
}

// "Your own network" travels in the link itself: its settings (spec, CSV text, learning rate, …) as JSON,
// compressed with deflate-raw and written in base64url, so a link needs no server to remember anything.
// Python reads it back with zlib.decompress(data, -15) (backproplab.lesson.document.read_link).
export async function packSettings(settings) {
  const bytes = new TextEncoder().encode(JSON.stringify(settings));
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  const packed = new Uint8Array(await new Response(stream).arrayBuffer());
  let text = "";
  for (let i = 0; i < packed.length; i += 0x8000) text += String.fromCharCode(...packed.subarray(i, i + 0x8000));
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export async function unpackSettings(code) {
  const text = atob(code.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  const settings = JSON.parse(await new Response(stream).text());
  if (!settings || typeof settings !== "object" || Array.isArray(settings)) throw new Error("not a settings object");
  return settings;
}

// The page's settings, one row each, as TensorFlow Playground's state.ts lists its own: the name a link and a
// request use, the control that shows it (an element id), and its type. The values a run used are the lesson
// document's (doc.settings); a link carries them, the controls show them, a request sends them.
//   number, text: one input or select;  list: the "optimize" checkboxes ("all" or names);
//   start: the starting values typed beside them (name:value pairs).
export const SETTINGS = [
  { name: "preset", control: "preset", type: "text" },
  { name: "lr", control: "lr", type: "number" },
  { name: "optimizer", control: "optimizer", type: "text" },
  { name: "optimize", control: "optimize", type: "list" },
  { name: "min_step", control: "min-step", type: "number" },
  { name: "max_steps", control: "max-steps", type: "number" },
  { name: "start", control: "optimize", type: "start" },
];

// The rows that one input or select shows on its own (the others live in the "optimize" fieldset).
export const SIMPLE_SETTINGS = SETTINGS.filter((s) => s.type === "number" || s.type === "text");

// A link's text for each setting, back to the values a request sends.
export function settingsFromLink(h) {
  const out = {};
  for (const { name, type } of SETTINGS) {
    const text = h[name];
    if (!text) continue;
    if (type === "number") out[name] = Number(text);
    else if (type === "list") out[name] = text === "all" ? "all" : text.split(",").filter(Boolean);
    else if (type === "start") out[name] = startFromLink(text);
    else out[name] = text;
  }
  return out;
}

function startFromLink(text) {
  const start = {};
  for (const part of text.split(",")) {
    const [k, v] = part.split(":");
    if (k && v !== undefined) start[k] = Number(v);
  }
  return start;
}

// The values a request sends, as a link writes them (the inverse of settingsFromLink).
export function settingsToLink(values) {
  const out = {};
  for (const { name, type } of SETTINGS) {
    const v = values[name];
    if (v === null || v === undefined) continue;
    if (type === "list") out[name] = Array.isArray(v) ? v.join(",") : v;
    else if (type === "start") out[name] = Object.entries(v).map(([k, x]) => `${k}:${x}`).join(",");
    else out[name] = v;
  }
  return out;
}

// An exported file's other runs: what differs from the first run's document, deflated (lesson/runs.py pack()).
export async function unpackRun(code, first) {
  const bytes = Uint8Array.from(atob(code), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return { ...first, ...JSON.parse(await new Response(stream).text()) };
}

// The controls an embedded page may leave out (--hide on export and serve, ?hide= in the address); lesson/runs.py
// lists the same names. Each name hides what its selectors find (the label around it, if any); "optimize" and
// "start" hide the checkboxes and starting values of the optimize fieldset by rules in lesson.css.
export const HIDEABLE = {
  preset: ["#preset"], player: [".player"], speed: ["#speed"], iteration: ["#iteration", "header .of"],
  lr: ["#lr"], optimizer: ["#optimizer"], reset: ["#reset"], own: ["#own"], guide: ["#guide-open", "#guide"],
  present: ["#present"], min_step: ["#min-step"], max_steps: ["#max-steps"], optimize: [], start: [], run: ["#run"],
  compare: ["#compare"],
};

// The names to hide: the page's own (its <meta name="backproplab-hide">) and the address's ?hide=, with the
// address's names that are no control apart (the page says so, and hides the others).
export function hiddenNames(meta, search) {
  const known = new Set(), unknown = [];
  const asked = (new URLSearchParams(search).get("hide") || "").split(",");
  for (const raw of [...(meta || "").split(/[\s,]+/), ...asked]) {
    const name = raw.trim().replace(/-/g, "_");
    if (!name) continue;
    if (Object.prototype.hasOwnProperty.call(HIDEABLE, name)) known.add(name);
    else if (!unknown.includes(name)) unknown.push(name);
  }
  return { names: [...known], unknown };
}
