// vectorize's page, `explain`: why two texts are similar. Runs after heat.js and views.js, in the same script
// (their el, sv, heatmap, mat, slice, ramp and the kinds table); every string goes in through textContent.
function shaded(tokens, shares, sc, cosine) {  // a text's tokens, each shaded by its share, as the heat map shades
  const div = el("div", { cls: "sentence tokens" });
  tokens.forEach((t, i) => {
    const s = shares[i], k = 3 * Math.round(255 * Math.min(1, Math.max(0, sc.t(s)))), c = sc.lut.subarray(k, k + 3);
    const span = el("span", { cls: "tok", text: t, "data-share": String(s) });
    span.style.background = `rgb(${c[0]},${c[1]},${c[2]})`;
    span.style.color = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] < 140 ? "#fff" : "#1b1f24";
    span.addEventListener("mousemove", (ev) => showTip(ev, `${i} ${t}\nshare ${fmt(s)}` +
      (cosine ? ` (${(100 * s / cosine).toFixed(1)}% of the cosine)` : "")));
    span.addEventListener("mouseleave", hideTip);
    div.append(span, " ");
  });
  return div;
}
function layerCurve(layers) {  // the cosine after each layer: points joined, values on hover
  const W = 600, H = 260, L = 80, R = 16, T = 16, B = 80, n = layers.length, cs = layers.map((l) => l.cosine);
  const pad = Math.max(0.01, (Math.max(...cs) - Math.min(...cs)) * 0.1);  // the axis spans the values, not [0, 1]
  const lo = Math.max(-1, Math.min(...cs) - pad), hi = Math.min(1, Math.max(...cs) + pad);
  const x = (i) => L + (n > 1 ? (i * (W - L - R)) / (n - 1) : (W - L - R) / 2);
  const y = (c) => T + ((hi - c) * (H - T - B)) / (hi - lo || 1);
  const svg = sv("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "curve", role: "img" });
  for (const c of [lo, (lo + hi) / 2, hi]) {
    svg.append(sv("line", { x1: L, x2: W - R, y1: y(c), y2: y(c), stroke: "#d0d7de" }));
    const lab = sv("text", { x: L - 6, y: y(c) + 4, "text-anchor": "end", "font-size": 11 });
    lab.textContent = c.toFixed(3);
    svg.append(lab);
  }
  svg.append(sv("polyline", { points: cs.map((c, i) => `${x(i)},${y(c)}`).join(" "), fill: "none",
                              stroke: "#08306b", "stroke-width": 2 }));
  layers.forEach((l, i) => {
    const dot = sv("circle", { cx: x(i), cy: y(l.cosine), r: 5, fill: "#2171b5", class: "point" });
    dot.addEventListener("mousemove", (ev) => showTip(ev, `after ${l.name}\ncosine ${l.cosine.toFixed(6)}`));
    dot.addEventListener("mouseleave", hideTip);
    const lab = sv("text", { x: x(i), y: H - B + 14, "font-size": 11, "text-anchor": "end",
                             transform: `rotate(-40 ${x(i)} ${H - B + 14})` });
    lab.textContent = l.name;
    svg.append(dot, lab);
  });
  return svg;
}
kinds.explain = function () {
  const [ta, tb] = DATA.tokens, [sa, sb] = DATA.shares.map((s) => mat(s).v), n = ta.length, m = tb.length;
  document.getElementById("about").textContent =
    `Why two texts are similar (${DATA.model}, ${DATA.pool} pooling): cos(A, B) = ${DATA.cosine.toFixed(6)}, ` +
    "split into one term per token pair, and the cosine after each layer. Hover for values.";
  main.append(el("p", { cls: "sum", text: `The ${n} \u00d7 ${m} pair terms (${DATA.method}) sum to ` +
    `${DATA.sum.toFixed(7)}; minus the cosine: ${DATA.delta.toExponential(2)} (float32 rounding).` }));
  main.append(el("p", { cls: DATA.method === "exact" ? "caption statement" : "statement warn", text: DATA.statement }));
  const both = [...sa, ...sb], sc = scale({ R: 1, C: both.length, at: (r, c) => both[c] });  // one scale, both texts
  main.append(el("h2", { text: "The two texts, each token shaded by its share" }));
  ["A", "B"].forEach((side, k) => {
    main.append(el("h3", { text: side + (DATA.truncated[k] ? " (truncated to the model's first tokens)" : "") }),
                el("div", { cls: "sentence text", text: DATA.texts[k] }),
                shaded(DATA.tokens[k], [sa, sb][k], sc, DATA.cosine));
  });
  main.append(legend(sc), el("p", { cls: "caption", text: "A token's share: its row's (A) or column's (B) terms " +
    "summed; darker adds more (where some are negative: blue takes away, red adds). Each text's shares sum to the " +
    "cosine." }));
  main.append(el("h2", { text: "Every token pair" }));
  const label = (toks) => toks.map((t, i) => `${i} ${t}`);
  main.append(heatmap(`Pair terms: rows A's ${n} tokens, columns B's ${m}`, label(ta), label(tb),
    slice(mat(DATA.pairs)), "Cell (i, j) is the term of A's token i and B's token j; all of them sum to the " +
    "cosine. Darker: a larger term (where some are negative: blue below 0, red above); hover for its value " +
    "(stored as float32).", Math.max(n, m) <= 40 ? { cell: Math.min(40, Math.floor(640 / Math.max(n, m))) } : {}));
  main.append(el("h2", { text: "Where the texts come together: the cosine after each layer" }),
              layerCurve(DATA.layers),
              el("p", { cls: "caption", text: `cos of the ${DATA.pool}-pooled hidden states after the embeddings ` +
                "and after each layer; the last point is the sentence vectors' cosine." }));
  const tbl = el("table", { cls: "numbers pairs" });
  tbl.append(el("tr", {}, ...["A token", "B token", "term", "of the cosine"].map((h) => el("th", { text: h }))));
  for (const p of DATA.top) {
    tbl.append(el("tr", {}, el("td", { cls: "tok", text: `${p.a} ${ta[p.a]}` }), el("td", { cls: "tok", text: `${p.b} ${tb[p.b]}` }),
      el("td", { text: fmt(p.term) }), el("td", { text: DATA.cosine ? (100 * p.term / DATA.cosine).toFixed(1) + "%" : "\u2013" })));
  }
  main.append(el("h2", { text: `Top ${DATA.top.length} pairs` }), tbl);
};
