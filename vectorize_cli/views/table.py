"""Tables of a trace for the terminal: one table per stage, rows are tokens; then the attention blocks
(the toy's variants side by side and compared, or a model's chosen layer and its heads), then the
sentence vector. The house style is views/matrix.py's."""

import numpy as np
from rich.console import Group
from rich.rule import Rule
from rich.text import Text

from vectorize_cli.compare import differences
from vectorize_cli.trace import Block, Trace
from vectorize_cli.views.matrix import Renderer, new_table, printable, titled

POOL_WORDS = {"mean": "mean over the tokens", "max": "max over the tokens", "first": "the [CLS] token",
              "mean_sqrt_len": "sum over the tokens / sqrt(count)", "weightedmean": "position-weighted mean",
              "lasttoken": "the last token"}
WEIGHTS_NEVER_HELD = "weights never materialised (tiled online softmax)"


def _stages(r: Renderer, t: Trace, head: int | None = None) -> list:
    """One table per stage; a per-head stage (H, T, T), MPNet's relative position bias, one per head (or `head`),
    rows queries, columns keys."""
    parts = []
    for s in (s for s in t.stages if s.in_tables):
        if s.values.ndim == 2:
            parts.append(r.matrix(s.title, t.tokens, s.values))
            continue
        H, keys = s.values.shape[0], [printable(tok, 8) for tok in t.tokens]
        compact = Renderer(r.console, min(r.precision, 2), r.max_rows)
        heads = [head] if head else range(1, H + 1)
        parts += [compact.matrix(f"{s.title}, head {h} of {H}", t.tokens, s.values[h - 1], col_labels=keys,
                                 caption="rows: queries, columns: keys" if h == heads[0] else None) for h in heads]
    return parts


def _heads(r: Renderer, b: Block, tokens: list[str], title, caption, heads) -> list:
    keys = [printable(tok, 8) for tok in tokens]
    return [r.matrix(title(h), tokens, b.weights[h - 1], col_labels=keys, heat=True, caption=caption(h))
            for h in heads]


def variant_tables(r: Renderer, b: Block, tokens: list[str]) -> list:
    """One toy variant: each head's weights (heat), its token outputs and the sentence vector."""
    parts = [Rule(f"[bold]{b.variant}[/bold] attention", style="cyan")]
    if b.weights is None:
        parts.append(Text(f"{b.variant}: {WEIGHTS_NEVER_HELD}; output below.", style="italic"))
    else:
        H = b.weights.shape[0]
        source = " from the explicit path" if b.explicit_max_abs_delta is not None else ""
        parts += _heads(r, b, tokens,
                        lambda h: f"{b.variant} weights{source}{f', head {h} of {H}' if H > 1 else ''} "
                                  "(rows: queries, columns: keys)",
                        lambda h: "each row sums to 1; shade relative to the largest weight", range(1, H + 1))
    T, d_out = b.output.shape
    parts.append(r.matrix(f"{b.variant} output ({T} x {d_out})", tokens, b.output))
    ran = f"ran on {b.ran.backend}, {b.ran.device}, {b.ran.dtype}; kernel {b.ran.op}"
    if b.explicit_max_abs_delta is not None:
        ran += f"; weights from the explicit path, whose output differs by max |Δ| {b.explicit_max_abs_delta:.3g}"
    if b.reference_max_abs_delta is not None:
        ran += f"; max |Δ| against numpy float32: {b.reference_max_abs_delta:.3g}"
    parts += [Text(ran, style="dim"), *(Text(f"note: {n}", style="yellow") for n in b.ran.notes), Text("")]
    if b.sentence_vector is not None:
        parts.append(r.matrix(f"{b.variant} sentence vector", ["sentence"], b.sentence_vector[None]))
    return parts


def comparison(blocks: list[Block]) -> Group:
    table = new_table()
    for name in ("a", "b", "max |Δ output|", "mean token cosine", "sentence cosine"):
        table.add_column(name, justify="left" if len(name) == 1 else "right")

    def fmt(v, spec):
        return "n/a" if v is None else format(v, spec)

    rows = differences(blocks)
    for row in rows:
        table.add_row(row["a"], row["b"], fmt(row["max_abs_delta"], ".3g"),
                      fmt(row["mean_token_cosine"], ".6f"), fmt(row["sentence_cosine"], ".6f"))
    missing = any(v is None for row in rows for k, v in row.items() if k != "weights_max_abs_delta")
    return titled("Variants compared (same sentence, same encoded input)", table,
                  "n/a: outputs of different widths (--concat) or no sentence vector" if missing else None)


def _variants_tables(r: Renderer, t: Trace) -> Group:
    c, T = t.config, len(t.tokens)
    parts = [
        Rule(Text(printable(t.text, 60)), style="bold"),
        Text(f"{T} tokens ({c.tokenizer}), d={c.dim}, embedding {c.embedding}, positional {c.positional}, "
             f"seed {c.seed}{', causal' if c.causal else ''}", style="dim"),
        *_stages(r, t),
    ]
    for b in t.blocks:
        parts += variant_tables(r, b, t.tokens)
    if len(t.blocks) > 1:
        parts.append(comparison(t.blocks))
    return Group(*parts)


def _token_table(t: Trace) -> Group:
    table = new_table()
    for name, justify in (("#", "right"), ("token", "left"), ("id", "right"), ("type", "right")):
        table.add_column(name, justify=justify, style="dim" if name == "#" else None)
    for i, (tok, id_, type_id) in enumerate(zip(t.tokens, t.ids, t.type_ids)):
        table.add_row(str(i), printable(tok), str(id_), str(type_id))
    return titled("Tokens (the model's tokenizer.json)", table)


CAUSAL = "; causal: a token attends to itself and the tokens before it (the upper triangle is 0)"


def layer_heads(r: Renderer, t: Trace, layer: int, head: int | None) -> list:
    """Layer `layer` (1-based): one compact heat table per head, or only `head`."""
    b = t.blocks[layer - 1]
    if b.weights is None:
        return [Text(f"{b.variant}: {WEIGHTS_NEVER_HELD}; outputs below.", style="italic")]
    compact = Renderer(r.console, min(r.precision, 2), r.max_rows)
    H = b.weights.shape[0]
    heads = [head] if head is not None else range(1, H + 1)
    return _heads(compact, b, t.tokens,
                  lambda h: f"Layer {layer} attention, {t.head_label(h)} of {H} (rows: queries, columns: keys)",
                  lambda h: ("each row sums to 1" + (CAUSAL if t.model.causal else "")) if h == heads[0] else None,
                  heads)


def _layers_tables(r: Renderer, t: Trace, layer: int, head: int | None) -> Group:
    m, first, last = t.model, t.blocks[0], t.blocks[-1]
    T, d = len(t.tokens), m.d_model
    ran = first.ran
    H = first.weights.shape[0] if first.weights is not None else None
    where = ran.backend if (ran.device, ran.dtype) == ("cpu", "float32") else f"{ran.backend} ({ran.device}, {ran.dtype})"
    grouped = f" sharing {m.n_kv_head} key/value heads" if H and m.n_kv_head and m.n_kv_head < H else ""
    about = (f"{m.name}: {T} tokens, d={d}, {m.n_layer} layers"
             + (f" x {H} heads{grouped}" if H else "")
             + (", causal" if m.causal else "")
             + f", attention {first.variant} on {where}\nkernel: {ran.op}")
    parts = [Rule(Text(printable(t.text, 60)), style="bold"), Text(about, style="dim"),
             *(Text(f"note: {n}", style="yellow") for n in ran.notes)]
    if t.truncated:
        parts.append(Text(f"truncated to the model's first {T} tokens", style="bold"))
    parts += [
        _token_table(t),
        *_stages(r, t, head),
        Rule(f"[bold]layer {layer} of {m.n_layer}[/bold]", style="cyan"),
        *layer_heads(r, t, layer, head),
        r.matrix(f"Layer {layer} output", t.tokens, t.blocks[layer - 1].output),
    ]
    if layer != m.n_layer:
        parts.append(r.matrix(f"Layer {m.n_layer} output (the last: pooled below)", t.tokens, last.output))
    how = POOL_WORDS.get(m.pool, m.pool) + (", then divided by its length" if m.normalize else "")
    v = t.sentence_vector
    parts.append(r.matrix(f"Sentence vector ({how})", ["sentence"], v[None],
                          caption=f"|v| = {float(np.linalg.norm(v)):.6f}", row_header="", index=False))
    return Group(*parts)


def trace_tables(r: Renderer, t: Trace, layer: int | None = None, head: int | None = None) -> Group:
    """Every table of a trace: a model's shows `layer` (1-based, default 1) and all heads or `head`."""
    return _layers_tables(r, t, layer or 1, head) if t.layered else _variants_tables(r, t)


def similarity_table(r: Renderer, model: str, texts: list[str], cosine: np.ndarray) -> Group:
    return r.matrix(f"Cosine similarity ({model})", texts, cosine, col_labels=[str(i) for i in range(len(texts))],
                    heat=True, row_header="text", caption="columns: the texts by number; 1 = same direction",
                    row_width=None)  # the texts as wide as the terminal leaves beside the numbers
