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
