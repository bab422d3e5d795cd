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
