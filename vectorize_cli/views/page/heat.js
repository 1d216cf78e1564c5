// vectorize's page, part 1 of 2: elements, numbers (base64 uint16 / float16 decoding), colour and heat maps.
// Plain JS, no framework, no request; every string from the data goes in through textContent, never as markup.
"use strict";
const t0 = performance.now();
const DATA = JSON.parse(document.getElementById("data").textContent);
const SVGNS = "http://www.w3.org/2000/svg";
// one colour per head (Tableau 10 + 2), aggregates in a neutral ink
const HEAD = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
              "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#8c564b"];
const AGG = "#444c56";
const CAPTION_ATT = "Rows are queries, columns are keys; each row sums to 1.";

// ---- elements ---------------------------------------------------------------------------------
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "text") e.textContent = v;
    else if (k === "cls") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}
function sv(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}
const tip = document.getElementById("tip");
function showTip(ev, text) {
  tip.textContent = text;
  tip.hidden = false;
  tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 4) + "px";
  tip.style.top = ev.clientY + 14 + "px";
}
function hideTip() { tip.hidden = true; }
function fmt(x) {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e4 || a < 1e-3) ? x.toExponential(3) : x.toFixed(4);
}

// ---- numbers: {shape, dtype, data} -> {shape, v} ----------------------------------------------
async function inflate(b64) {  // the page's arrays: base64 of raw deflate (html.py's Store)
  const s = atob(b64), packed = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) packed[i] = s.charCodeAt(i);
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
let STORE = null;  // the inflated bytes, set before anything is drawn
function half(h) {  // IEEE 754 binary16 -> number
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}
const decoded = new WeakMap();
function mat(m) {
  if (decoded.has(m)) return decoded.get(m);
  const n = m.shape.reduce((a, b) => a * b, 1);
  let v;
  if (m.dtype === "json") v = Float64Array.from(m.data);
  else if (m.dtype === "f32") v = new Float32Array(STORE.slice(m.offset, m.offset + 4 * n).buffer);
  else {  // 16 bits in two planes: the high bytes, then the low bytes
    const hi = STORE.subarray(m.offset, m.offset + n), lo = STORE.subarray(m.offset + n, m.offset + 2 * n);
    v = new Float64Array(n);
    if (m.dtype === "u16") for (let i = 0; i < n; i++) v[i] = ((hi[i] << 8) | lo[i]) / 65535;
    else for (let i = 0; i < n; i++) v[i] = half((hi[i] << 8) | lo[i]);
  }
  const out = { shape: m.shape, v };
  decoded.set(m, out);
  return out;
}
// a (rows, cols) view of a matrix, or of one slice of a (H, T, T) stack
function slice(m, h) {
  const [R, C] = m.shape.slice(-2), off = (h || 0) * R * C;
  return { R, C, at: (r, c) => m.v[off + r * C + c] };
}
function reduceHeads(m, f) {  // (H, T, T) -> (T, T) by f over heads
  const [H, T] = m.shape, v = new Float64Array(T * T);
  for (let i = 0; i < T * T; i++) {
    let acc = m.v[i];
    for (let h = 1; h < H; h++) acc = f(acc, m.v[h * T * T + i]);
    v[i] = acc;
  }
  return { shape: [T, T], v };
}

// ---- colour -----------------------------------------------------------------------------------
const BLUES = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];
const DIVERGING = [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]];
function ramp(stops, t) {
  t = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(t)), f = t - i, a = stops[i], b = stops[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k])));
}
function lut(stops) {  // 256 colours of a ramp, r g b
  const out = new Uint8Array(768);
  for (let i = 0; i < 256; i++) out.set(ramp(stops, i / 255), 3 * i);
  return out;
}
const LUTS = { seq: lut(BLUES), div: lut(DIVERGING) };
function scale(view) {  // weights: 0..1 sequential; anything with negatives: diverging around 0
  let lo = Infinity, hi = -Infinity;
  for (let r = 0; r < view.R; r++) for (let c = 0; c < view.C; c++) {
    const x = view.at(r, c);
    if (Number.isFinite(x)) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
  }
  if (lo >= 0) { const top = hi > 0 ? hi : 1; return { lo: 0, hi: top, lut: LUTS.seq, t: (x) => x / top }; }
  const m = Math.max(-lo, hi) || 1;
  return { lo: -m, hi: m, lut: LUTS.div, t: (x) => (x / m + 1) / 2 };
}
function paint(canvas, view, sc) {
  canvas.width = view.C; canvas.height = view.R;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(view.C, view.R), d = img.data, lut = sc.lut;
  for (let r = 0, p = 0; r < view.R; r++) for (let c = 0; c < view.C; c++, p += 4) {
    const t = sc.t(view.at(r, c)), i = 3 * Math.round(255 * (t > 1 ? 1 : t > 0 ? t : 0));
    d[p] = lut[i]; d[p + 1] = lut[i + 1]; d[p + 2] = lut[i + 2]; d[p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}
function legend(sc) {
  const c = el("canvas"), view = { R: 1, C: 120, at: (r, k) => sc.lo + (k / 119) * (sc.hi - sc.lo) };
  paint(c, view, sc);
  return el("div", { cls: "legend" }, el("span", { text: fmt(sc.lo) }), c, el("span", { text: fmt(sc.hi) }));
}

// ---- a heat map: row labels, canvas, values on hover ------------------------------------------
// Labels stay 11-12 px however small the cells: where cells are smaller, only every `step`-th label shows
// (the caption says so), the others on hover, and the focused row's always. Long labels end in an ellipsis,
// whole on hover.
const LABEL_PX = 13;  // pixels one label needs across
function labelStep(cell) { return Math.max(1, Math.ceil(LABEL_PX / cell)); }
function ordinal(n) { return n + (n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] || "th"); }
function hoverWhole(e, text) {
  e.addEventListener("mouseenter", (ev) => showTip(ev, text));
  e.addEventListener("mouseleave", hideTip);
}
function luminance(lut, t) {
  const i = 3 * Math.round(255 * Math.min(1, Math.max(0, t)));
  return 0.299 * lut[i] + 0.587 * lut[i + 1] + 0.114 * lut[i + 2];
}
function heatmap(title, rows, cols, view, caption, opts) {
  opts = opts || {};
  const cw = opts.cell || Math.max(2, Math.min(22, Math.floor(720 / view.C)));
  const ch = opts.cell || Math.max(2, Math.min(20, Math.floor(2000 / view.R)));
  const sc = scale(view), canvas = el("canvas");
  paint(canvas, view, sc);
  canvas.style.width = view.C * cw + "px"; canvas.style.height = view.R * ch + "px";
  const names = opts.colNames || cols;
  const colLabel = (c) => (names ? names[c] : "column " + (c + 1));
  canvas.addEventListener("mousemove", (ev) => {
    const r = Math.min(view.R - 1, Math.floor(ev.offsetY / ch)), c = Math.min(view.C - 1, Math.floor(ev.offsetX / cw));
    showTip(ev, `${rows[r]}  \u2192  ${colLabel(c)}\n${fmt(view.at(r, c))}`);
  });
  canvas.addEventListener("mouseleave", hideTip);
  const grid = el("div", { cls: "heat" }), thinned = [];
  if (cols) {
    const step = labelStep(cw), longest = cols.reduce((m, c) => Math.max(m, c.length), 1);
    const flat = 8 * longest <= cw, cl = el("div", { cls: flat ? "cols flat" : "cols" });  // flat: fits across
    cl.style.width = view.C * cw + "px";
    cl.style.height = (flat ? 16 : Math.min(112, 10 + 7 * longest)) + "px";
    for (let c = 0; c < view.C; c += step) {
      const s = el("span", { cls: "label", text: cols[c], "data-col": c });
      s.style.left = (flat ? c * cw : Math.max(0, c * cw + cw / 2 - 7)) + "px";  // centred on its column
      if (flat) s.style.width = cw + "px";
      hoverWhole(s, `${c}: ${colLabel(c)}`);
      cl.append(s);
    }
    grid.append(cl);
    if (step > 1) thinned.push(`column labels: every ${ordinal(step)}`);
  }
  const rl = el("div", { cls: "rows" }), rstep = labelStep(ch);
  rows.forEach((r, i) => {
    const d = el("div", { cls: "label" + (i % rstep ? " thin" : ""), text: r, "data-row": i });
    d.style.height = d.style.lineHeight = ch + "px";
    hoverWhole(d, `${i}: ${r}`);
    rl.append(d);
  });
  if (rstep > 1) thinned.push(`row labels: every ${ordinal(rstep)}`);
  const plot = el("div", { cls: "plot" }, canvas);
  if (opts.numbers && cw >= 30 && ch >= 16) {  // each cell's value written in it, dark or light by its colour
    const cells = el("div", { cls: "cells" });
    cells.style.gridTemplateColumns = `repeat(${view.C}, ${cw}px)`;
    cells.style.gridAutoRows = ch + "px";
    for (let r = 0; r < view.R; r++) for (let c = 0; c < view.C; c++) {
      const x = view.at(r, c), n = el("span", { text: opts.numbers(x), "data-r": r, "data-c": c });
      if (luminance(sc.lut, sc.t(x)) < 128) n.className = "light";
      cells.append(n);
    }
    plot.append(cells);
  } else if (opts.numbers) thinned.push("cells too small for their numbers: hover for each value");
  grid.append(rl, plot);
  const fig = el("figure", {}, el("figcaption", { text: title }), grid, legend(sc));
  const words = [caption, thinned.length ? `${thinned.join(", ")} (hover a label or a cell for the rest).` : ""];
  if (words.some((w) => w)) fig.append(el("p", { cls: "caption", text: words.filter((w) => w).join(" ") }));
  fig.rowLabels = rl;
  return fig;
}
function markRow(fig, i) {
  for (const d of fig.rowLabels.children) d.classList.toggle("on", Number(d.dataset.row) === i);
}
