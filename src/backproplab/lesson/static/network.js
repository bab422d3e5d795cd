// The network diagram: nodes with their activation, edges labelled with their weight, biases on
// their nodes; colour by sign (Okabe-Ito blue positive, vermillion negative), thickness by size.
import { svgEl, clearEl, svgSize, fontSize, textWidth } from "./draw.js";
import { fmt, entry, asNumber } from "./format.js";
import { ui } from "./page.js";


export function paramKey(param, index) {
  return index ? `${param}[${index.map((i) => i + 1).join(",")}]` : param;
}

export function gradientOf(doc, it, param, index) {
  if (ui.hideNext) return null;  // predict, then reveal: the gradient waits to be predicted
  if (it.gradients && param in it.gradients) return entry(it.gradients[param], index);
  const e = doc.explanations[param] && doc.explanations[param][String(it.iteration)];
  if (!index && e && e.value !== undefined && e.value !== null) return e.value;
  return null;
}

// squeezed: the panel is too small for every label to find a free place, so it is drawn as a crowded one.
export function drawNetwork(svg, doc, it, selected, hooks, squeezed = false) {
  clearEl(svg);
  const { w, h } = svgSize(svg);
  const fs = fontSize(svg);
  const lh = fs + 4;  // a label's box: its text and a little room
  const net = doc.network;
  const widest = Math.max(...Object.values(net.nodes.reduce((c, nd) => ({ ...c, [nd.layer]: (c[nd.layer] || 0) + 1 }), {})));
  const big = widest > 4 || net.edges.length > 16;
  svg.classList.toggle("big", big);
  const layers = Math.max(...net.nodes.map((n) => n.layer)) + 1;
  const byLayer = [];
  for (const n of net.nodes) (byLayer[n.layer] = byLayer[n.layer] || []).push(n);
  const pos = {};
  const left = big ? 40 : 50;
  const right = big ? 40 : 60;
  const top = Math.round(22 * fs / 12);  // room for a bias label over the top node, and one under the bottom one
  const bottom = big ? 14 : Math.round(30 * fs / 12);
  for (let l = 0; l < layers; l++) {
    const col = byLayer[l] || [];
    const x = layers === 1 ? w / 2 : left + (l * (w - left - right)) / (layers - 1);
    col.forEach((n, i) => {
      const y = top + ((i + 0.5) * (h - top - bottom)) / col.length;
      pos[n.name] = { x, y };
    });
  }
  const gap = layers > 1 ? (w - left - right) / (layers - 1) : w;  // between two columns of nodes
  const r = big ? Math.max(4, Math.min(10, (h - top - bottom) / (2.6 * Math.max(...byLayer.map((c) => c.length)))))
    : Math.max(15, Math.min(24, gap / 4.5));
  const value = (p, index) => asNumber(entry(it.params[p], index));
  const weights = net.edges.filter((e) => e.param).map((e) => Math.abs(value(e.param, e.index)));
  const most = Math.max(1e-12, ...weights.filter(Number.isFinite));
  const sym = doc.words.loss.symbol;
  const isSelected = (p, index) => selected && selected.param === p &&
    (!selected.index || !index || selected.index.join() === index.join());

  // more weights than fit as labels: only the selected entry is labelled (the others on hover), biases become
  // small discs on their nodes, so that no label hides another
  const crowded = !big && (squeezed || net.edges.filter((e) => e.param).length > 8);
  svg.classList.toggle("crowded", crowded);

  const edgeLayer = svgEl("g", { class: "edges" }, svg);
  const labelLayer = svgEl("g", { class: "edge-labels" }, svg);
  const taken = [];  // the labels' boxes so far: a later label moves out of their way
  // a layer's activation under each node, or once under the last where the nodes are close (or crowded)
  const roomy = (col) => !crowded && (h - top - bottom) / col.length >= 2 * r + 2 * fs + 8;
  const shownAct = (n) => n.activation !== "input" && n.activation !== "identity" &&
    (roomy(byLayer[n.layer]) || byLayer[n.layer][byLayer[n.layer].length - 1] === n);
  const nodeBoxes = net.nodes.map((n) => ({ x: pos[n.name].x - r - 2, y: pos[n.name].y - r - 2, width: 2 * r + 4,
    height: 2 * r + 4 + (!big && shownAct(n) ? fs + 6 : 0) }));
  let cramped = false;  // some label found no free place
  const spot = (cands, half) => {
    let [cx, cy, cover] = place(cands, half, lh, taken.concat(nodeBoxes), w, h);
    if (cover > 0 && crowded) {  // the one label shown: at the nearest free place, where none is by its edge
      const near = placesNear(cands[0], half, lh, w, h);
      if (near.length) [cx, cy, cover] = place(near, half, lh, taken.concat(nodeBoxes), w, h);
    }
    cramped = cramped || cover > 0;
    return [cx, cy];
  };
  // a label's text at the first free candidate place, over a background box that later labels keep clear of
  const settle = (group, text, cands, half) => {
    const [cx, cy] = spot(cands, half);
    text.setAttribute("x", cx.toFixed(1));
    text.setAttribute("y", (cy + fs / 3).toFixed(1));
    const box = { x: cx - half, y: cy - lh / 2, width: 2 * half, height: lh };
    taken.push(box);
    group.insertBefore(svgEl("rect", { ...box, rx: 3, class: "label-bg" }), text);
  };
  for (const e of net.edges) {
    const a = pos[e.from];
    const b = pos[e.to];
    if (!a || !b) continue;
    const v = e.param ? value(e.param, e.index) : 1;
    const colour = !e.param ? "#777" : v >= 0 ? doc.colours.blue : doc.colours.vermillion;
    const width = e.param ? 1 + (big ? 3 : 5) * Math.min(1, Math.abs(v) / most) : 1.2;
    const g = svgEl("g", { class: "param edge" + (e.param && isSelected(e.param, e.index) ? " selected" : "") }, edgeLayer);
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    const x1 = a.x + (dx / len) * r;
    const y1 = a.y + (dy / len) * r;
    const x2 = b.x - (dx / len) * (r + (big ? 0 : 2));
    const y2 = b.y - (dy / len) * (r + (big ? 0 : 2));
    svgEl("line", { x1, y1, x2, y2, stroke: colour, "stroke-width": width.toFixed(2), class: "wire",
      "stroke-opacity": big ? 0.55 : 1, "marker-end": big ? null : "url(#arrow)" }, g);
    if (!e.param) continue;
    svgEl("line", { x1, y1, x2, y2, class: "hit", "stroke-width": big ? 5 : 16 }, g);
    const labelled = !big && (!crowded || isSelected(e.param, e.index));
    // one Tab stop per weight: its label where it has one, else the edge itself
    hookParam(g, e.param, e.index, hooks, () => describe(doc, it, e.param, e.index, sym), !labelled);
    if (labelled) {
      // the label sits beside its edge, on the side away from the diagram's centre line, off the middle where
      // crossing edges meet; where that would cover a node or another label, at the first free place along it
      const base = net.edges.length > 4 && !crowded ? 0.3 : 0.5;
      let nx = -dy / len;
      let ny = dx / len;
      const outward = (y1 + y2) / 2 < h / 2 - 1 ? -1 : (y1 + y2) / 2 > h / 2 + 1 ? 1 : -1;
      if (ny * outward < 0) { nx = -nx; ny = -ny; }
      const label = `${paramKey(e.param, e.index)} = ${fmt(v)}`;
      const cls = "param edge-label" + (isSelected(e.param, e.index) ? " selected" : "");
      const lg = svgEl("g", { class: cls }, labelLayer);
      const text = svgEl("text", { x: 0, y: 0, "text-anchor": "middle", fill: colour }, lg, label);
      const half = textWidth(svg, text, `${cls}|${label}`) / 2 + 4;
      const cands = [];
      for (const off of [fs + 2, fs + 10, 0]) {
        for (const t of [base, 0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
          for (const side of off ? [1, -1] : [1]) {
            cands.push([x1 + (x2 - x1) * t + nx * off * side, y1 + (y2 - y1) * t + ny * off * side]);
          }
        }
      }
      settle(lg, text, cands, half);
      hookParam(lg, e.param, e.index, hooks, () => describe(doc, it, e.param, e.index, sym));
    }
  }
  const chosen = edgeLayer.querySelector(".selected");
  if (chosen) edgeLayer.appendChild(chosen);  // drawn last, so no other edge hides it
  const defs = svgEl("defs", {}, svg);
  const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 9,
    markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" }, defs);
  svgEl("path", { d: "M0,1 L9,5 L0,9 z", fill: "#555" }, marker);

  const nodeLayer = svgEl("g", { class: "nodes" }, svg);
  for (const n of net.nodes) {
    const p = pos[n.name];
    const g = svgEl("g", { class: "node", "data-node": n.name }, nodeLayer);
    svgEl("circle", { cx: p.x, cy: p.y, r, class: n.activation === "input" ? "input" : "unit" }, g);
    if (!big) {
      svgEl("text", { x: p.x, y: p.y + 5, "text-anchor": "middle", class: "node-name" }, g, n.label);
      if (shownAct(n)) {
        svgEl("text", { x: p.x, y: p.y + r + fs + 2, "text-anchor": "middle", class: "node-act" }, g, n.activation);
      }
    } else if (n.activation === "input" || net.outputs.includes(n.name)) {
      svgEl("text", { x: p.x + (n.activation === "input" ? -r - 4 : r + 4), y: p.y + 4,
        "text-anchor": n.activation === "input" ? "end" : "start", class: "node-act" }, g, n.label);
    }
    svgEl("title", {}, g, `${n.label}${n.activation !== "input" ? ` (${n.activation})` : ""}`);
    n.biases.forEach((b, i) => {
      const v = value(b.param, b.index);
      const colour = v >= 0 ? doc.colours.blue : doc.colours.vermillion;
      if (big) {
        const bg = svgEl("g", { class: "param bias" + (isSelected(b.param, b.index) ? " selected" : "") }, g);
        svgEl("circle", { cx: p.x, cy: p.y, r: r * 0.45, fill: colour, "fill-opacity": Math.min(1, Math.abs(v) / most) }, bg);
        svgEl("circle", { cx: p.x, cy: p.y, r, class: "hit-area" }, bg);
        hookParam(bg, b.param, b.index, hooks, () => describe(doc, it, b.param, b.index, sym));
        return;
      }
      if (crowded) {  // a disc on the node's rim, labelled only when selected
        const angle = Math.PI / 4 + i * 0.6;
        const bg = svgEl("g", { class: "param bias-disc" + (isSelected(b.param, b.index) ? " selected" : "") }, g);
        svgEl("circle", { cx: p.x + r * Math.cos(angle), cy: p.y + r * Math.sin(angle), r: 6, fill: colour,
          class: "disc" }, bg);
        hookParam(bg, b.param, b.index, hooks, () => describe(doc, it, b.param, b.index, sym));
        if (!isSelected(b.param, b.index)) return;
      }
      const label = `${paramKey(b.param, b.index)} = ${fmt(v)}`;
      const below = p.y >= h / 2 - 1;
      const act = shownAct(n) ? fs + 6 : 0;
      const cls = "param bias-label" + (isSelected(b.param, b.index) ? " selected" : "");
      const bg = svgEl("g", { class: cls }, g);
      const text = svgEl("text", { x: 0, y: 0, "text-anchor": "middle", fill: colour }, bg, label);
      const half = textWidth(svg, text, `${cls}|${label}`) / 2 + 4;
      // under (or over) its node, one row further out for each bias before it; sideways where that is taken
      const out = r + lh / 2 + 4;  // from the node's centre to the first row
      const rows = [0, 1, 2, 3].map((k) => (below ? p.y + out + act + (i + k) * (lh + 2) : p.y - out - (i + k) * (lh + 2)));
      const cands = rows.flatMap((y) => [[p.x, y], [p.x + half, y], [p.x - half, y]])
        .concat(rows.map((y) => [p.x, 2 * p.y - y]))
        .concat([-1, 1].flatMap((side) => [0.6, 1.2].map((k) => [p.x + side * (r + half + 4), p.y + k * r])));
      settle(bg, text, cands, half);
      hookParam(bg, b.param, b.index, hooks, () => describe(doc, it, b.param, b.index, sym));
    });
  }
  if (cramped && !crowded) drawNetwork(svg, doc, it, selected, hooks, true);
}

function describe(doc, it, param, index, sym) {
  const v = entry(it.params[param], index);
  const g = gradientOf(doc, it, param, index);
  const name = paramKey(param, index);
  const grad = g === null || g === undefined ? "…" : fmt(g);
  const held = doc.trace.optimize.includes(param) ? "" : "\nnot trained in this run: no step";
  return `${name} = ${fmt(v)}\nd${sym}/d${name} = ${grad}${held}\nclick for the chain rule`;
}

// Every place for a label's centre inside the diagram, the nearest to `at` first.
function placesNear(at, half, lh, w, h) {
  const out = [];
  for (let x = half + 2; x <= w - half - 2; x += 6) {
    for (let y = lh / 2 + 2; y <= h - lh / 2 - 2; y += 4) out.push([x, y]);
  }
  const away = (p) => Math.hypot(p[0] - at[0], p[1] - at[1]);
  return out.sort((a, b) => away(a) - away(b));
}

// A label's centre: the first of the candidate centres whose box (half its width either side, lh high) stays
// inside the diagram and off every box in `avoid`; where none does, the one that covers least.
function place(cands, half, lh, avoid, w, h) {
  let best = [cands[0][0], cands[0][1], Infinity];
  let least = Infinity;
  for (const [cx, cy] of cands) {
    const box = { x: cx - half, y: cy - lh / 2, width: 2 * half, height: lh };
    let cover = 0;
    for (const o of avoid) {
      const ox = Math.min(box.x + box.width, o.x + o.width) - Math.max(box.x, o.x);
      const oy = Math.min(box.y + box.height, o.y + o.height) - Math.max(box.y, o.y);
      if (ox > 0 && oy > 0) cover += ox * oy;
    }
    const outside = Math.max(0, 2 - box.x) + Math.max(0, box.x + box.width - w + 2) + Math.max(0, 2 - box.y)
      + Math.max(0, box.y + box.height - h + 2);
    cover += outside * 100;
    if (cover === 0) return [cx, cy, 0];
    if (cover < least) { least = cover; best = [cx, cy, cover]; }
  }
  return best;
}

// A weight or bias answers a click (and, where it is its Tab stop, Enter and Space) by showing its chain rule.
function hookParam(g, param, index, hooks, text, focusable = true) {
  g.setAttribute("data-param", param);
  if (index) g.setAttribute("data-index", index.join(","));
  if (focusable) {
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
    g.setAttribute("aria-label", text().replace(/\n/g, "; "));
  } else g.setAttribute("aria-hidden", "true");
  g.addEventListener("click", () => hooks.select(param, index));
  g.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); ev.stopPropagation(); hooks.select(param, index); }
  });
  g.addEventListener("mouseenter", (ev) => hooks.hover(text(), ev));
  g.addEventListener("mousemove", (ev) => hooks.hover(text(), ev));
  g.addEventListener("mouseleave", () => hooks.hover(null));
  if (!focusable) return;  // (chromium makes an SVG element with focus listeners a Tab stop of its own)
  g.addEventListener("focus", (ev) => hooks.hover(text(), ev));
  g.addEventListener("blur", () => hooks.hover(null));
}

