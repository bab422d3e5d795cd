// The derivation panel: the explainer's own LaTeX, typeset with KaTeX (headings, prose with
// inline math, aligned working, tables). Nothing is worked out here; the document holds it.
import { htmlEl, clearEl } from "./draw.js";

const TEXT_ESCAPES = [
  [/\\textbackslash\{\}/g, "\\"], [/\\textasciitilde\{\}/g, "~"], [/\\textasciicircum\{\}/g, "^"],
  [/\\dots\{\}/g, "\u2026"], [/\\([&%$#_{}])/g, "$1"],
];

function unescapeText(text) {
  let out = text;
  for (const [re, to] of TEXT_ESCAPES) out = out.replace(re, to);
  // LaTeX's text mode writes a minus sign as "-" (pdflatex has no −); a number's sign is a minus again
  return out.replace(/(^|[\s(;:,=])-(?=\d)/g, "$1−");
}

function mathInto(parent, tex, display) {
  const span = htmlEl(display ? "div" : "span", { class: display ? "math-display" : "math-inline" }, parent);
  if (window.katex) {
    try {
      window.katex.render(tex, span, { displayMode: display, throwOnError: false, output: "htmlAndMathml" });
      return span;
    } catch (err) {
      // fall through to the source
    }
  }
  span.textContent = tex;
  return span;
}

// Prose with $...$ inline math (an escaped \$ is a dollar sign).
function prose(parent, text) {
  let buf = "";
  let inMath = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\\" && text[i + 1] === "$") { buf += "\\$"; i++; continue; }
    if (ch === "$") {
      if (inMath) mathInto(parent, buf, false);
      else if (buf) parent.appendChild(document.createTextNode(unescapeText(buf)));
      buf = "";
      inMath = !inMath;
      continue;
    }
    buf += ch;
  }
  if (buf) parent.appendChild(document.createTextNode(unescapeText(buf)));
}

// A line without an alignment point among lines that have one would widen the first column for
// all of them; it starts at the alignment column instead (the LaTeX itself is unchanged).
function alignLines(body) {
  const lines = body.split(/\\\\\s*\n/);
  const aligned = (l) => l.replace(/\\begin\{(\w+)\}[\s\S]*?\\end\{\1\}/g, "").includes("&");  // not a matrix's &
  if (!lines.some(aligned)) return body;
  return lines.map((l) => (aligned(l) || !l.trim() ? l : `&${l}`)).join("\\\\\n");
}

export function renderLatex(container, latex) {
  clearEl(container);
  const chunks = latex.split(/\n\s*\n/);
  for (const raw of chunks) {
    const chunk = raw.trim();
    if (!chunk) continue;
    let m;
    if ((m = chunk.match(/^\\subsection\*\{([\s\S]*)\}$/))) {
      prose(htmlEl("h3", {}, container), m[1]);
    } else if ((m = chunk.match(/^\\begin\{align\*\}([\s\S]*)\\end\{align\*\}$/))) {
      mathInto(container, `\\begin{aligned}${alignLines(m[1])}\\end{aligned}`, true);
    } else if ((m = chunk.match(/^\\begin\{tabular\}\{[^}]*\}([\s\S]*)\\end\{tabular\}$/))) {
      const table = htmlEl("table", { class: "tex-table" }, container);
      m[1].trim().split(/\s*\\\\\s*\n?/).forEach((row, r) => {
        const tr = htmlEl("tr", {}, table);
        row.split(" & ").forEach((cell) => prose(htmlEl(r === 0 ? "th" : "td", {}, tr), cell.trim()));
      });
    } else if ((m = chunk.match(/^\\noindent\\textit\{([\s\S]*)\}$/))) {
      prose(htmlEl("p", { class: "note" }, container), m[1]);
    } else {
      prose(htmlEl("p", {}, container), chunk.replace(/^\\noindent\s*/, ""));
    }
  }
}

export function renderText(container, text) {
  clearEl(container);
  htmlEl("pre", { class: "plain" }, container, text);
}

// Predict, then reveal: the working's place while it is hidden.
export function renderHidden(container, text) {
  clearEl(container);
  htmlEl("p", { class: "missing hidden-working" }, container, text);
}

export function renderSource(container, latex) {
  clearEl(container);
  htmlEl("pre", { class: "plain" }, container, latex);
}

// The "exact factors" switch. Python renders both forms of a worked gradient: as is, with a note where
// the rounded numbers on a line do not give its result, and (exact_factors) with each number a line works
// on given enough digits for the arithmetic to hold. Here one of the two is only chosen.
let exactFactors = false;

export function working(e) {
  return exactFactors && e && e.exact_factors ? e.exact_factors : e;
}

export function watchFactors(rerender) {
  const box = document.getElementById("factors-exact");
  if (!box) return;
  exactFactors = box.checked;
  box.addEventListener("change", () => { exactFactors = box.checked; rerender(); });
}
