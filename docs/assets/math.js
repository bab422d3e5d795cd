// Typeset the math that pymdownx.arithmatex marks (class "arithmatex") with the vendored KaTeX.
function typeset() {
  if (typeof katex === "undefined") return;
  document.querySelectorAll(".arithmatex").forEach((el) => {
    if (el.dataset.typeset) return;
    let tex = el.textContent.trim();
    const display = tex.startsWith("\\[") || el.tagName === "DIV";
    tex = tex.replace(/^\\[\[(]/, "").replace(/\\[\])]$/, "");
    katex.render(tex, el, { displayMode: display, throwOnError: false });
    el.dataset.typeset = "1";
  });
}
if (typeof document$ !== "undefined") document$.subscribe(typeset); else document.addEventListener("DOMContentLoaded", typeset);
