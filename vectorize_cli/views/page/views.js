// vectorize's page, part 2 of 2: the views of one trace (head view, model view, rollout, variants side
// by side, stages) and the three pages (run, example, similarity). Runs after heat.js, in the same script.
// ---- one trace: head view, model view, variants, stages ---------------------------------------
// query head h (0-based) as the tables name it: with grouped-query attention, the key/value head it shares
function headLabel(tr, h) {
  const m = tr.model;
  return m && m.n_kv_head && m.n_kv_head < m.n_head ? `head ${h + 1} (kv ${Math.floor(h / (m.n_head / m.n_kv_head)) + 1})`
                                                     : `head ${h + 1}`;
}

function traceView(tr, index, token) {
  const sec = el("section", { cls: "trace", "data-trace": index });
  const T = tr.tokens.length, blocks = tr.blocks;
  const what = tr.model ? `${tr.model.name}: ${tr.model.n_layer} layers \u00d7 ${tr.model.n_head} heads` +
                          (tr.model.n_kv_head < tr.model.n_head ? ` sharing ${tr.model.n_kv_head} key/value heads` : "") +
                          `, d = ${tr.model.d_model}` + (tr.model.causal ? ", causal (upper triangle 0)" : "")
                        : `toy pipeline: ${blocks.map((b) => b.name).join(", ")}`;
  sec.append(el("h2", { text: `Sentence ${index + 1} (${T} tokens)` }), el("div", { cls: "sentence text", text: tr.text }),
             el("p", { cls: "note", text: what + (tr.truncated ? " (text truncated to the model's length)" : "") }));
  const withWeights = blocks.map((b, i) => i).filter((i) => blocks[i].weights);
  const figures = [];  // heat maps whose rows follow the focused token
  const st = { block: withWeights.length ? withWeights[0] : -1, source: "heads",
               heads: new Set(), focus: token == null || token >= T ? null : { side: "q", i: token }, pinned: token != null };
  if (st.block >= 0) for (let h = 0; h < blocks[st.block].weights.shape[0]; h++) st.heads.add(h);

  // the matrices of the current selection: [{key, colour, m (T, T) view}]
  function sources() {
    const b = blocks[st.block], w = mat(b.weights);
    if (st.source === "heads") return [...st.heads].filter((h) => h < w.shape[0]).sort((a, c) => a - c).map((h) => ({ key: String(h), colour: HEAD[h % HEAD.length], label: headLabel(tr, h), view: slice(w, h) }));
    const agg = st.source === "rollout" ? mat(tr.rollout[st.block])
      : reduceHeads(w, st.source === "mean" ? (a, c) => a + c : Math.max);
    const H = w.shape[0], view = slice(agg);
    const v = st.source === "mean" ? { R: T, C: T, at: (r, c) => view.at(r, c) / H } : view;
    const label = { mean: "mean over heads", max: "max over heads", rollout: `rollout, layers 1\u2013${b.layer}` }[st.source];
    return [{ key: st.source, colour: AGG, label, view: v }];
  }

  if (withWeights.length) {
    sec.append(el("h3", { text: "Head view" }));
    const controls = el("div", { cls: "controls" });
    const pick = el("select", { "aria-label": tr.layered ? "layer" : "variant", cls: "pick-block" });
    for (const i of withWeights) pick.append(el("option", { value: i, text: tr.layered ? `layer ${blocks[i].layer}` : blocks[i].name }));
    pick.value = st.block;
    const agg = el("select", { "aria-label": "what to show", cls: "pick-source" });
    const kinds = [["heads", "each head"], ["mean", "mean over heads"], ["max", "max over heads"]];
    if (tr.rollout) kinds.push(["rollout", "attention rollout"]);
    for (const [v, t] of kinds) agg.append(el("option", { value: v, text: t }));
    const headBox = el("span", { cls: "heads" });
    const clear = el("button", { type: "button", text: "clear focus" });
    controls.append(el("label", { text: tr.layered ? "layer " : "variant " }, pick), el("label", { text: "show " }, agg), headBox, clear);
    const svg = sv("svg", { class: "lines-svg" }), box = el("div", { cls: "headview" }, svg);
    const side = el("div");
    const caption = el("p", { cls: "caption" });
    sec.append(controls, el("div", { cls: "row" }, box, side), caption);
    const H = () => blocks[st.block].weights.shape[0];

    function drawHeadBoxes() {
      headBox.replaceChildren();
      if (st.source !== "heads") return;
      for (let h = 0; h < H(); h++) {
        const cb = el("input", { type: "checkbox", "data-head": h });
        cb.checked = st.heads.has(h);
        cb.addEventListener("change", () => { cb.checked ? st.heads.add(h) : st.heads.delete(h); draw(); });
        const sw = el("span", { cls: "swatch" }); sw.style.background = HEAD[h % HEAD.length];
        headBox.append(el("label", {}, cb, sw, document.createTextNode(String(h + 1))));
      }
      const all = el("button", { type: "button", text: "all" }), none = el("button", { type: "button", text: "none" });
      all.onclick = () => { for (let h = 0; h < H(); h++) st.heads.add(h); drawHeadBoxes(); draw(); };
      none.onclick = () => { st.heads.clear(); drawHeadBoxes(); draw(); };
      headBox.append(all, none);
    }

    // layout: queries on the left, keys on the right
    const longest = tr.tokens.reduce((m, t) => Math.max(m, t.length), 1);
    const tw = Math.min(220, 12 + 7.5 * longest), gap = 260, rh = T > 300 ? 14 : 20;
    const xq = tw, xk = tw + gap, width = 2 * tw + gap + 10, height = T * rh + 10;
    svg.setAttribute("width", width); svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const y = (i) => 5 + i * rh + rh / 2;
    const lines = sv("g", { class: "lines" }), qs = sv("g", { class: "queries" }), ks = sv("g", { class: "keys" });
    svg.append(lines, qs, ks);
    const texts = { q: [], k: [] };
    tr.tokens.forEach((tok, i) => {
      for (const s of ["q", "k"]) {
        const t = sv("text", { class: "tok " + s, "data-side": s, "data-i": i, x: s === "q" ? xq - 6 : xk + 6, y: y(i),
                               "text-anchor": s === "q" ? "end" : "start", "dominant-baseline": "middle" });
        t.textContent = tok;
        t.addEventListener("mouseenter", (ev) => {
          showTip(ev, `${s === "q" ? "query" : "key"} ${i}: ${tok}`);
          if (!st.pinned) { st.focus = { side: s, i }; draw(); }
        });
        t.addEventListener("mouseleave", () => { hideTip(); if (!st.pinned) { st.focus = null; draw(); } });
        t.addEventListener("click", () => {
          const same = st.pinned && st.focus && st.focus.side === s && st.focus.i === i;
          st.pinned = !same; st.focus = same ? null : { side: s, i }; draw();
        });
        (s === "q" ? qs : ks).append(t); texts[s].push(t);
      }
    });

    function line(src, q, k, w, cls, alpha) {
      const l = sv("line", { class: cls, x1: xq, y1: y(q), x2: xk, y2: y(k), stroke: src.colour,
                             "stroke-width": (0.5 + 5 * w).toFixed(2), "stroke-opacity": (alpha * w).toFixed(3),
                             "data-head": src.key, "data-q": q, "data-k": k, "data-w": w.toFixed(6) });
      lines.append(l);
    }
    let focusFig = null, shown = null;
    function draw() {
      lines.replaceChildren();
      const srcs = sources(), f = st.focus;
      for (const s of ["q", "k"]) texts[s].forEach((t, i) => t.classList.toggle("on", !!f && f.side === s && f.i === i));
      for (const src of srcs) {
        if (f) {  // every weight of the focused token, however small
          for (let j = 0; j < T; j++) f.side === "q" ? line(src, f.i, j, src.view.at(f.i, j), "focus", 1)
                                                    : line(src, j, f.i, src.view.at(j, f.i), "focus", 1);
        } else {  // an overview: each head's strongest links, at most 3 T of them
          const top = [];
          for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) { const w = src.view.at(q, k); if (w >= 0.05) top.push([w, q, k]); }
          top.sort((a, b) => b[0] - a[0]);
          for (const [w, q, k] of top.slice(0, 3 * T)) line(src, q, k, w, "overview", 0.6);
        }
      }
      const first = srcs[0], b = blocks[st.block];
      const name = tr.layered ? `layer ${b.layer}` : b.name;
      const sideKey = first ? `${st.block}|${st.source}|${first.key}` : "";
      if (sideKey !== shown) {  // repainted when the selection changes, not on every hover
        shown = sideKey;
        side.replaceChildren();
        focusFig = first ? heatmap(`${name}, ${first.label}`, tr.tokens, tr.tokens, first.view, CAPTION_ATT, { cell: T <= 40 ? 14 : 0 }) : null;
        if (focusFig) side.append(focusFig);
      }
      if (focusFig) markRow(focusFig, f && f.side === "q" ? f.i : -1);
      for (const fig of figures) markRow(fig, f && f.side === "q" ? f.i : -1);
      const what = st.source === "rollout"
        ? "Attention rollout (Abnar & Zuidema 2020): A' = 0.5 mean_h(A) + 0.5 I per layer, rows renormalised, multiplied first layer first; row i is how much each input token flows into output i."
        : st.source === "max" ? "The largest weight over heads, element by element (rows no longer sum to 1)."
        : st.source === "mean" ? "The mean over heads; rows sum to 1." : "One colour per head; toggle heads with the boxes.";
      caption.textContent = `Queries on the left, keys on the right: a line from query i to key j has width and opacity by its weight. ${what} Hover a token to focus it, click to pin (click again to release). ` +
        (f ? `Focused: ${f.side === "q" ? "query" : "key"} ${f.i} (${tr.tokens[f.i]}).` : `Without a focus, each head's strongest links (weight \u2265 0.05, at most ${3 * T}).`);
    }
    pick.addEventListener("change", () => {  // another variant or layer: all its heads
      st.block = Number(pick.value); st.heads = new Set(Array.from({ length: H() }, (_, h) => h));
      markGrid(); drawHeadBoxes(); draw();
    });
    agg.addEventListener("change", () => { st.source = agg.value; drawHeadBoxes(); draw(); });
    clear.addEventListener("click", () => { st.focus = null; st.pinned = false; draw(); });

    // model view: every layer x head as a small heat map; a click opens it in the head view
    let markGrid = () => {};
    if (tr.layered && withWeights.length > 1) {
      sec.append(el("h3", { text: "Model view" }));
      const nh = mat(blocks[withWeights[0]].weights).shape[0];
      const grid = el("div", { cls: "grid" });
      grid.style.gridTemplateColumns = `auto repeat(${nh}, auto)`;
      grid.append(el("span"));
      for (let h = 0; h < nh; h++) grid.append(el("span", { cls: "hdr", text: headLabel(tr, h) }));
      const cells = [];
      for (const i of withWeights) {
        grid.append(el("span", { cls: "hdr", text: `layer ${blocks[i].layer}` }));
        const w = mat(blocks[i].weights);
        for (let h = 0; h < nh; h++) {
          const c = el("canvas", { "data-layer": blocks[i].layer, "data-head": h });
          const view = slice(w, h);
          paint(c, view, scale(view));
          c.addEventListener("click", () => {
            st.block = i; st.source = "heads"; st.heads = new Set([h]); pick.value = i; agg.value = "heads";
            markGrid(); drawHeadBoxes(); draw(); box.scrollIntoView({ block: "nearest" });
          });
          c.addEventListener("mousemove", (ev) => showTip(ev, `layer ${blocks[i].layer}, ${headLabel(tr, h)}: click to open`));
          c.addEventListener("mouseleave", hideTip);
          cells.push([c, i, h]); grid.append(c);
        }
      }
      markGrid = () => { for (const [c, i, h] of cells) c.classList.toggle("on", i === st.block && st.source === "heads" && st.heads.has(h)); };
      sec.append(grid, el("p", { cls: "caption", text: `Every layer (rows) and head (columns), each a ${T} \u00d7 ${T} map of weights: rows queries, columns keys, each row sums to 1. Click one to open it in the head view.` }));
      markGrid();
    }
    drawHeadBoxes();
    sec.drawHeads = draw;
  } else if (blocks.length) {
    sec.append(el("p", { cls: "note", text: "No attention weights: the fused kernel never materialises them (run with --weights to compute them explicitly)." }));
  }

  // variants side by side (the toy): mean weights, outputs, and how far apart they are
  if (!tr.layered && blocks.length > 1) {
    sec.append(el("h3", { text: "Variants side by side" }));
    const row = el("div", { cls: "row" });
    for (const b of blocks) {
      const col = el("div", {}, el("h3", { text: b.name }), el("p", { cls: "note", text: b.ran }));
      if (b.weights) col.append(heatmap("mean weights over heads", tr.tokens, tr.tokens, (() => { const w = mat(b.weights), H = w.shape[0], m = slice(reduceHeads(w, (a, c) => a + c)); return { R: T, C: T, at: (r, c) => m.at(r, c) / H }; })(), ""));
      else col.append(el("p", { cls: "note", text: "no weights (fused kernel)" }));
      col.append(heatmap("output", tr.tokens, null, slice(mat(b.output)), ""));
      row.append(col);
    }
    sec.append(row);
    const tbl = el("table", { cls: "numbers comparison" });
    tbl.append(el("tr", {}, ...["a", "b", "max |\u0394| outputs", "mean token cosine", "sentence cosine", "max |\u0394| weights"].map((h) => el("th", { text: h }))));
    for (const d of tr.comparison) {
      const cell = (x) => el("td", { text: x == null ? "\u2013" : Math.abs(x) < 1e-3 && x !== 0 ? x.toExponential(2) : x.toFixed(6) });
      tbl.append(el("tr", {}, el("td", { text: d.a }), el("td", { text: d.b }), cell(d.max_abs_delta), cell(d.mean_token_cosine), cell(d.sentence_cosine), cell(d.weights_max_abs_delta)));
    }
    sec.append(tbl, el("p", { cls: "caption", text: "Each pair of variants on the same encoded input: max |\u0394| of the outputs, mean cosine per token, cosine of the sentence vectors, max |\u0394| of the weights (\u2013 where widths differ, nothing was pooled or a kernel has no weights)." }));
  }

  // stages, then each block's output
  sec.append(el("h3", { text: "Stages" }));
  const stageCaption = "Tokens as rows, the vector's components as columns; blue below 0, red above. Hover for values (stored as float16, about 3 significant digits).";
  for (const s of tr.stages) {
    const m = mat(s.values);
    if (m.shape.length === 2) { figures.push(heatmap(s.title, tr.tokens, null, slice(m), stageCaption)); continue; }
    // a per-head stage (H, T, T): MPNet's relative position bias, one map per head, queries x keys
    for (let h = 0; h < m.shape[0]; h++) figures.push(heatmap(`${s.title}, head ${h + 1} of ${m.shape[0]}`, tr.tokens, tr.tokens, slice(m, h), "Rows queries, columns keys: the number this head adds to each score before the softmax, in every layer; blue below 0, red above."));
  }
  for (const b of blocks) {
    figures.push(heatmap(tr.layered ? `Layer ${b.layer} output` : `${b.name} output`, tr.tokens, null, slice(mat(b.output)),
                         `${b.ran}${b.notes.length ? ". " + b.notes.join(" ") : ""}`));
  }
  sec.append(el("div", { cls: "figures" }, ...figures));
  if (sec.drawHeads) sec.drawHeads();
  else for (const fig of figures) markRow(fig, token == null ? -1 : token);
  return sec;
}

// ---- pages --------------------------------------------------------------------------------------
const main = document.getElementById("main");
const h1 = document.getElementById("title");
h1.textContent = DATA.title;  // whole (html.py cuts only past PAGE_TITLE characters, between words), wrapped
if (DATA.title.length > 200) h1.classList.add("long");
function tableFigure(t) {
  const m = mat(t.values), view = slice(m);
  const cols = t.cols || Array.from({ length: view.C }, (_, i) => String(i + 1));
  return heatmap(t.title, t.rows, cols, view, t.caption, { cell: 26 });
}
const kinds = {
  run() {
    document.getElementById("about").textContent = "Every stage, every attention head and layer of vectorize's run; hover for values.";
    DATA.traces.forEach((tr, i) => main.append(traceView(tr, i, tr.token)));
  },
  example() {
    document.getElementById("about").textContent = "The article's worked example, number for number, beside what real multi-head attention computes on the same vectors.";
    main.append(el("div", { cls: "sentence text", text: DATA.sentence }));
    main.append(el("h2", { text: "The article's numbers" }), el("div", { cls: "figures" }, ...DATA.article.map(tableFigure)));
    main.append(el("h2", { text: "What real multi-head attention computes" }), el("div", { cls: "figures" }, ...DATA.computed.map(tableFigure)));
    main.append(el("h2", { text: "Where the article's step differs from attention" }));
    const ol = el("ol", { cls: "notes" });
    for (const n of DATA.notes) ol.append(el("li", { text: n }));
    main.append(ol, traceView(DATA.traces[0], 0, DATA.traces[0].token));
  },
  similarity() {
    document.getElementById("about").textContent = `Cosine similarity of every pair of sentence vectors (${DATA.model}).`;
    const m = mat(DATA.cosine), labels = DATA.texts.map((t, i) => `${i + 1}. ${t}`);
    main.append(heatmap("Cosine similarity", labels, DATA.texts.map((_, i) => String(i + 1)), slice(m),
      "Rows and columns are the texts in input order (columns by number); cell (i, j) is cos(v_i, v_j), 1 on the diagonal; hover a cell for both texts.",
      { cell: Math.max(8, Math.min(44, Math.floor(1000 / DATA.texts.length))), numbers: (x) => x.toFixed(2), colNames: labels }));
  },
};
inflate(DATA.store).then((bytes) => {
  STORE = bytes;
  kinds[DATA.kind]();
  window.vectorizeRenderMs = performance.now() - t0;
  document.body.dataset.ready = "1";
}, (e) => {
  main.append(el("p", { text: `This browser could not unpack the page's numbers (${e}); any current browser can.` }));
  throw e;
});
