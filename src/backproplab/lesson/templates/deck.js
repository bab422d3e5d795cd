// The slide deck's present mode: → Space PageDown show the next reveal, ← PageUp go back (Shift+Space too),
// Home and End the first and last. A reveal keeps its place while hidden, so nothing moves when it appears.
(() => {
  const deck = document.getElementById("deck");
  const slides = [...deck.querySelectorAll(".slide")];
  const pages = []; // [slide, reveals shown]: one entry per page of the PDF
  slides.forEach((slide, i) => {
    for (let r = 1; r <= (Number(slide.dataset.reveals) || 1); r += 1) pages.push([i, r]);
  });
  const counter = document.getElementById("counter");
  const status = document.getElementById("status");
  let at = 0;

  function show(k) {
    at = Math.max(0, Math.min(pages.length - 1, k));
    const [i, r] = pages[at];
    slides.forEach((slide, j) => { slide.hidden = j !== i; });
    const reveals = [...slides[i].querySelectorAll(".reveal")];
    reveals.forEach((el, j) => {
      el.classList.toggle("later", j >= r);
      el.setAttribute("aria-hidden", String(j >= r));
    });
    const n = Math.max(1, reveals.length);
    counter.textContent = `${i + 1} / ${slides.length}` + (n > 1 ? ` \u00b7 ${r} of ${n}` : "");
    const what = reveals.length > 1 ? reveals[r - 1].dataset.what : "";
    status.textContent = slides[i].querySelector(".slide-title").textContent + (what ? `: ${what}` : "");
    document.getElementById("prev").disabled = at === 0;
    document.getElementById("next").disabled = at === pages.length - 1;
    history.replaceState(null, "", `#${at + 1}`);
  }

  const moves = { ArrowRight: 1, ArrowDown: 1, PageDown: 1, " ": 1, ArrowLeft: -1, ArrowUp: -1, PageUp: -1 };
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const onButton = event.target instanceof Element && event.target.closest("button");
    if (onButton && (event.key === " " || event.key === "Enter")) return; // the button does it
    if (event.key === "Home") show(0);
    else if (event.key === "End") show(pages.length - 1);
    else if (event.key in moves) show(at + (event.key === " " && event.shiftKey ? -1 : moves[event.key]));
    else return;
    event.preventDefault();
  });
  document.getElementById("prev").addEventListener("click", () => show(at - 1));
  document.getElementById("next").addEventListener("click", () => show(at + 1));
  const asked = Number(location.hash.slice(1));
  show(Number.isInteger(asked) && asked > 0 ? asked - 1 : 0);
  deck.focus();
})();
