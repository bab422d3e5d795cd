// The network diagram: nodes with their activation, edges labelled with their weight, biases on
// their nodes; colour by sign (Okabe-Ito blue positive, vermillion negative), thickness by size.
import { svgEl, clearEl, svgSize } from "./draw.js";
import { fmt, entry, asNumber, lossSymbol } from "./format.js";

export const POSITIVE = "#0072B2";
export const NEGATIVE = "#D55E00";

export function paramKey(param, index) {
  return index ? `${param}[${index.map((i) => i + 1).join(",")}]` : param;
}

export function gradientOf(doc, it, param, index) {
  if (it.gradients && param in it.gradients) return entry(it.gradients[param], index);
  const e = doc.explanations[param] && doc.explanations[param][String(it.iteration)];
  if (!index && e && e.value !== undefined && e.value !== null) return e.value;
  return null;
}

export function drawNetwork(svg, doc, it, selected, hooks) {
  clearEl(svg);
  const { w, h } = svgSize(svg);
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
  const top = 22;
  const bottom = big ? 14 : 30;
  for (let l = 0; l < layers; l++) {
    const col = byLayer[l] || [];
    const x = layers === 1 ? w / 2 : left + (l * (w - left - right)) / (layers - 1);
    col.forEach((n, i) => {
      const y = top + ((i + 0.5) * (h - top - bottom)) / col.length;
      pos[n.name] = { x, y };
    });
  }
  const r = big ? Math.max(4, Math.min(10, (h - top - bottom) / (2.6 * Math.max(...byLayer.map((c) => c.length))))) : 24;
  const value = (p, index) => asNumber(entry(it.params[p], index));
  const weights = net.edges.filter((e) => e.param).map((e) => Math.abs(value(e.param, e.index)));
  const most = Math.max(1e-12, ...weights.filter(Number.isFinite));
  const sym = lossSymbol(doc.trace.loss);
  const isSelected = (p, index) => selected && selected.param === p &&
    (!selected.index || !index || selected.index.join() === index.join());

  // more weights than fit as labels: only the selected entry is labelled (the others on hover), biases become
  // small discs on their nodes, so that no label hides another
  const crowded = !big && net.edges.filter((e) => e.param).length > 8;
  svg.classList.toggle("crowded", crowded);

  const edgeLayer = svgEl("g", { class: "edges" }, svg);
  const labelLayer = svgEl("g", { class: "edge-labels" }, svg);
  const taken = [];  // the weight labels' boxes: a bias label moves out of their way in a narrow panel
  for (const e of net.edges) {
    const a = pos[e.from];
    const b = pos[e.to];
    if (!a || !b) continue;
    const v = e.param ? value(e.param, e.index) : 1;
    const colour = !e.param ? "#777" : v >= 0 ? POSITIVE : NEGATIVE;
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
    hookParam(g, e.param, e.index, hooks, () => describe(doc, it, e.param, e.index, sym));
    if (!big && (!crowded || isSelected(e.param, e.index))) {
      // the label sits beside the middle of its edge, on the side away from the diagram's centre line
      const t = net.edges.length > 4 && !crowded ? 0.3 : 0.5;  // off the middle, where crossing edges meet
      const mx = x1 + (x2 - x1) * t;
      const my = y1 + (y2 - y1) * t;
      let nx = -dy / len;
      let ny = dx / len;
      const outward = my < h / 2 - 1 ? -1 : my > h / 2 + 1 ? 1 : -1;
      if (ny * outward < 0) { nx = -nx; ny = -ny; }
      const lx = mx + nx * 14;
      const ly = my + ny * 14 + 4;
      const label = `${paramKey(e.param, e.index)} = ${fmt(v)}`;
      const lg = svgEl("g", { class: "param edge-label" + (isSelected(e.param, e.index) ? " selected" : "") }, labelLayer);
      const text = svgEl("text", { x: lx, y: ly, "text-anchor": "middle", fill: colour }, lg, label);
      const box = { x: lx - label.length * 3.6 - 3, y: ly - 12, width: label.length * 7.2 + 6, height: 16 };
      taken.push(box);
      lg.insertBefore(svgEl("rect", { ...box, rx: 3, class: "label-bg" }), text);
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
    const g = svgEl("g", { class: "node" }, nodeLayer);
    svgEl("circle", { cx: p.x, cy: p.y, r, class: n.activation === "input" ? "input" : "unit" }, g);
    if (!big) {
      svgEl("text", { x: p.x, y: p.y + 5, "text-anchor": "middle", class: "node-name" }, g, n.label);
      const column = byLayer[n.layer];
      const lastInColumn = column[column.length - 1] === n;  // crowded: the layer's activation is said once, below it
      if (n.activation !== "input" && n.activation !== "identity" && (!crowded || lastInColumn)) {
        svgEl("text", { x: p.x, y: p.y + r + 14, "text-anchor": "middle", class: "node-act" }, g, n.activation);
      }
    } else if (n.activation === "input" || net.outputs.includes(n.name)) {
      svgEl("text", { x: p.x + (n.activation === "input" ? -r - 4 : r + 4), y: p.y + 4,
        "text-anchor": n.activation === "input" ? "end" : "start", class: "node-act" }, g, n.label);
    }
    svgEl("title", {}, g, `${n.label}${n.activation !== "input" ? ` (${n.activation})` : ""}`);
    n.biases.forEach((b, i) => {
      const v = value(b.param, b.index);
      const colour = v >= 0 ? POSITIVE : NEGATIVE;
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
      const act = n.activation !== "input" && n.activation !== "identity" ? 16 : 0;
      let by = below ? p.y + r + 16 + act + i * 18 : p.y - r - 8 - i * 18;
      const half = label.length * 3.6 + 3;
      const hits = (y) => taken.some((t) => p.x - half < t.x + t.width && t.x < p.x + half && y - 12 < t.y + t.height
        && t.y < y + 4);
      for (let k = 0; k < 3 && hits(by) && (below ? by + 22 <= h : by >= 30); k++) by += below ? 18 : -18;
      taken.push({ x: p.x - half, y: by - 12, width: 2 * half, height: 16 });
      const bg = svgEl("g", { class: "param bias-label" + (isSelected(b.param, b.index) ? " selected" : "") }, g);
      svgEl("rect", { x: p.x - label.length * 3.6 - 3, y: by - 12, width: label.length * 7.2 + 6, height: 16, rx: 3,
        class: "label-bg" }, bg);
      svgEl("text", { x: p.x, y: by, "text-anchor": "middle", fill: colour }, bg, label);
      hookParam(bg, b.param, b.index, hooks, () => describe(doc, it, b.param, b.index, sym));
    });
  }
}

function describe(doc, it, param, index, sym) {
  const v = entry(it.params[param], index);
  const g = gradientOf(doc, it, param, index);
  const name = paramKey(param, index);
  const grad = g === null || g === undefined ? "not computed (not optimized in this run)" : fmt(g);
  return `${name} = ${fmt(v)}\nd${sym}/d${name} = ${grad}\nclick for the chain rule`;
}

function hookParam(g, param, index, hooks, text) {
  g.setAttribute("tabindex", "0");
  g.setAttribute("role", "button");
  g.setAttribute("data-param", param);
  if (index) g.setAttribute("data-index", index.join(","));
  g.setAttribute("aria-label", text().replace(/\n/g, "; "));
  g.addEventListener("click", () => hooks.select(param, index));
  g.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); ev.stopPropagation(); hooks.select(param, index); }
  });
  g.addEventListener("mouseenter", (ev) => hooks.hover(text(), ev));
  g.addEventListener("mousemove", (ev) => hooks.hover(text(), ev));
  g.addEventListener("mouseleave", () => hooks.hover(null));
  g.addEventListener("focus", (ev) => hooks.hover(text(), ev));
  g.addEventListener("blur", () => hooks.hover(null));
}

