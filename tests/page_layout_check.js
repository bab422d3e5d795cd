// Everything a learner should read on the lesson page, checked in the page itself: no text clipped by a box that
// hides its overflow (a panel, a chart, the screen), none covered by another element, no two labels on top of
// each other, no label of the network on a node, no sideways scrolling. Returns one line per problem.
async () => {
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const problems = [];
  const TOL = 1.5;
  const overlaps = (a, b) => a.left < b.right - TOL && b.left < a.right - TOL && a.top < b.bottom - TOL &&
    b.top < a.bottom - TOL;
  const inside = (a, b) => a.left >= b.left - TOL && a.right <= b.right + TOL && a.top >= b.top - TOL &&
    a.bottom <= b.bottom + TOL;
  const cut = (a, b) => ({ left: Math.max(a.left, b.left), right: Math.min(a.right, b.right),
    top: Math.max(a.top, b.top), bottom: Math.min(a.bottom, b.bottom) });
  const empty = (r) => r.right - r.left < 3 || r.bottom - r.top < 3;  // a sliver at a scrolling edge is not read
  const say = (el, text) => `${el.id ? "#" + el.id : el.tagName.toLowerCase()} "${text.trim().slice(0, 48)}"`;
  const shown = (el) => el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });

  // The boxes that hide what overflows them (kind "clip"), or scroll it into reach (kind "scroll").
  function boxes(el, self) {
    const out = [];
    for (let a = self ? el : el.parentElement; a; a = a.parentElement) {
      if (a instanceof SVGElement && !(a instanceof SVGSVGElement)) continue;
      const s = getComputedStyle(a);
      const r = a.getBoundingClientRect();
      const inner = { left: r.left + a.clientLeft, top: r.top + a.clientTop,
        right: r.left + a.clientLeft + (a.clientWidth || r.width), bottom: r.top + a.clientTop + (a.clientHeight || r.height) };
      for (const [axis, value] of [["x", s.overflowX], ["y", s.overflowY]]) {
        if (value === "visible") continue;
        const scrolls = (value === "auto" || value === "scroll") && a !== document.body;
        out.push({ el: a, axis, kind: scrolls ? "scroll" : "clip", r: inner });
      }
    }
    return out;
  }

  // What a reader sees of a box: the part inside every scrolling box; null where it is scrolled out of sight.
  // A box cut off by one that hides its overflow (or sideways by one that scrolls) is a problem.
  function look(el, rect, what, self = false) {
    let r = rect;
    for (const b of boxes(el, self)) {
      const lo = b.axis === "x" ? "left" : "top";
      const hi = b.axis === "x" ? "right" : "bottom";
      const sideways = b.axis === "x" && !b.el.classList.contains("katex-display");  // a formula may scroll
      if (b.kind === "scroll" && sideways && (r[lo] < b.r[lo] - TOL || r[hi] > b.r[hi] + TOL)) {
        return { cut: `${what} is cut off at the side of ${say(b.el, "")}` };
      }
      if (b.kind === "scroll") {
        r = { ...r, [lo]: Math.max(r[lo], b.r[lo]), [hi]: Math.min(r[hi], b.r[hi]) };
        if (empty(r)) return { r: null };
      } else if (r[lo] < b.r[lo] - TOL || r[hi] > b.r[hi] + TOL) {
        return { cut: `${what} is cut off by ${say(b.el, "")} (${b.axis})` };
      }
    }
    return { r };
  }
  function seen(el, rect, what, self = false) {
    const out = look(el, rect, what, self);
    if (out.cut) problems.push(out.cut);
    return out.r || null;
  }
  // A line of a text node can end in a space that hangs past its box: where a line seems cut, its words are
  // looked at one by one.
  function wordsCut(n, what) {
    const range = document.createRange();
    for (const m of n.textContent.matchAll(/\S+/g)) {
      range.setStart(n, m.index);
      range.setEnd(n, m.index + m[0].length);
      for (const rr of range.getClientRects()) {
        const out = look(n.parentElement, { left: rr.left, right: rr.right, top: rr.top, bottom: rr.bottom }, what, true);
        if (out.cut) return out.cut;
      }
    }
    return null;
  }

  const items = [];  // {el, r, what, group}
  // HTML text: every text node, outside the charts and the typeset formulas (each formula is one box)
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => {
      const p = n.parentElement;
      if (!p || !n.textContent.trim() || p.closest("svg, script, style, select, .katex, [hidden], #tooltip, .sr-only")) {
        return NodeFilter.FILTER_REJECT;
      }
      return shown(p) ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT;
    },
  });
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(n);
    for (const rr of range.getClientRects()) {
      if (rr.width < 0.5 || rr.height < 0.5) continue;
      const what = say(n.parentElement, n.textContent);
      const out = look(n.parentElement, { left: rr.left, right: rr.right, top: rr.top, bottom: rr.bottom }, what, true);
      const cut = out.cut && wordsCut(n, what);
      if (cut) problems.push(cut);
      if (out.r) items.push({ el: n.parentElement, r: out.r, what, node: n });
    }
  }
  for (const k of document.querySelectorAll(".katex-html")) {
    if (!shown(k)) continue;
    const rr = k.getBoundingClientRect();
    const what = `formula "${k.textContent.slice(0, 40)}"`;
    const r = seen(k, { left: rr.left, right: rr.right, top: rr.top, bottom: rr.bottom }, what);
    if (r) items.push({ el: k, r, what });
  }
  for (const input of document.querySelectorAll("input[type=number], input[type=text]")) {
    if (shown(input) && input.scrollWidth > input.clientWidth + 1) problems.push(`${say(input, input.value)} is cut off`);
  }
  // nothing a reader sees is hidden under another element
  for (const it of items) {
    const x = (it.r.left + it.r.right) / 2;
    const y = (it.r.top + it.r.bottom) / 2;
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) continue;
    const top = document.elementFromPoint(x, y);
    if (top && top !== it.el && !it.el.contains(top) && !top.contains(it.el)) {
      problems.push(`${it.what} is hidden under ${say(top, top.textContent || "")}`);
    }
  }
  // SVG text: inside its chart (and inside the plot where the plot clips), off every node of the network
  for (const svg of document.querySelectorAll("main svg")) {
    if (!shown(svg)) continue;
    const frame = svg.getBoundingClientRect();
    const ctm = svg.getScreenCTM();
    const onScreen = (x, y) => new DOMPoint(x, y).matrixTransform(ctm);
    const clipBox = (g) => {
      const id = (g.getAttribute("clip-path") || "").match(/#([^)]+)/);
      const rect = id && svg.querySelector(`#${id[1]} rect`);
      if (!rect) return null;
      const [x, y, w, h] = ["x", "y", "width", "height"].map((k) => Number(rect.getAttribute(k)));
      const a = onScreen(x, y);
      const b = onScreen(x + w, y + h);
      return { left: a.x, top: a.y, right: b.x, bottom: b.y };
    };
    const nodes = [...svg.querySelectorAll(".nodes circle.unit, .nodes circle.input")].map((c) => c.getBoundingClientRect());
    const labels = [...svg.querySelectorAll("g.edge-label, g.bias-label")];
    for (const t of svg.querySelectorAll("text")) {
      if (!t.textContent.trim() || !shown(t)) continue;
      const rr = t.getBoundingClientRect();
      let r = { left: rr.left, right: rr.right, top: rr.top, bottom: rr.bottom };
      const what = `${svg.id} text "${t.textContent.slice(0, 48)}"`;
      if (!inside(r, frame)) { problems.push(`${what} is cut off by its chart`); continue; }
      const clipped = t.closest("[clip-path]");
      const c = clipped && clipBox(clipped);
      if (c && !inside(r, c)) { problems.push(`${what} is cut off by its plot`); continue; }
      r = seen(svg, r, what);
      if (!r) continue;
      items.push({ el: t, r, what });
      const own = t.closest(".node");
      nodes.forEach((n, i) => {
        if (own && own.querySelector("circle") && own.querySelector("circle").getBoundingClientRect().x === n.x) return;
        if (overlaps(r, n)) problems.push(`${what} sits on a node`);
      });
    }
    for (const g of labels) {  // a label's whole box, background included, stays off the nodes
      const bg = g.querySelector("rect.label-bg");
      if (!bg) continue;
      const r = bg.getBoundingClientRect();
      for (const n of nodes) if (overlaps(r, n)) problems.push(`${svg.id} label "${g.textContent}" sits on a node`);
      if (!inside(r, frame)) problems.push(`${svg.id} label "${g.textContent}" is cut off by its chart`);
    }
    for (let i = 0; i < labels.length; i++) {
      for (let j = i + 1; j < labels.length; j++) {
        const a = labels[i].querySelector("rect.label-bg");
        const b = labels[j].querySelector("rect.label-bg");
        if (a && b && overlaps(a.getBoundingClientRect(), b.getBoundingClientRect())) {
          problems.push(`${svg.id} labels "${labels[i].textContent}" and "${labels[j].textContent}" overlap`);
        }
      }
    }
  }
  // no two things to read on top of each other
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i];
      const b = items[j];
      if (a.el === b.el && a.node === b.node) continue;
      if (overlaps(a.r, b.r)) problems.push(`${a.what} overlaps ${b.what}`);
    }
  }
  if (document.documentElement.scrollWidth > innerWidth + 1) problems.push("the page scrolls sideways");
  return [...new Set(problems)];
}
