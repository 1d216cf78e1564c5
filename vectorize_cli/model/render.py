"""Tables for a pretrained model's run and for a similarity matrix, in the house style of render.py:
one table per stage, rows are tokens, wide (384-d) rows show their first and last columns around …"""

import numpy as np
from rich.console import Group
from rich.rule import Rule
from rich.text import Text

from vectorize_cli.model.pipeline import ModelResult
from vectorize_cli.render import Renderer, new_table, printable, titled

POOL_WORDS = {"mean": "mean over the tokens", "max": "max over the tokens", "first": "the [CLS] token"}


def _tokens(res: ModelResult) -> Group:
    table = new_table()
    for name, justify in (("#", "right"), ("WordPiece token", "left"), ("id", "right"), ("type", "right")):
        table.add_column(name, justify=justify, style="dim" if name == "#" else None)
    e = res.encoding
    for i, (tok, id_, type_id) in enumerate(zip(e.tokens, e.ids, e.type_ids)):
        table.add_row(str(i), printable(tok), str(id_), str(type_id))
    return titled("Tokens (the model's tokenizer.json)", table)


def attention(r: Renderer, res: ModelResult, layer: int, head: int | None) -> list:
    """Layer `layer` (1-based): one compact heat table per head, or only `head`."""
    out = res.layers[layer - 1]
    if out.weights is None:
        return [Text(f"{res.variant}: weights never materialised (tiled online softmax); outputs below.",
                     style="italic")]
    compact = Renderer(r.console, min(r.precision, 2), r.max_rows)
    H = out.weights.shape[0]
    keys = [printable(t, 8) for t in res.encoding.tokens]
    heads = [head] if head is not None else range(1, H + 1)
    return [
        compact.matrix(f"Layer {layer} attention, head {h} of {H} (rows: queries, columns: keys)",
                       res.encoding.tokens, out.weights[h - 1], col_labels=keys, heat=True,
                       caption="each row sums to 1" if h == heads[0] else None)
        for h in heads
    ]


def result(r: Renderer, res: ModelResult, layer: int, head: int | None, pool: str, normalize: bool) -> Group:
    tokens, e = res.encoding.tokens, res.encoding
    T, d = res.embedded.shape
    n_layer = len(res.layers)
    H = res.layers[0].weights.shape[0] if res.layers[0].weights is not None else None
    info = (f"{res.model}: {T} tokens, d={d}, {n_layer} layers" + (f" x {H} heads" if H else "")
            + f", attention {res.variant} on {res.backend}\nkernel: {res.kernel}")
    parts = [Rule(Text(printable(res.text, 60)), style="bold"), Text(info, style="dim")]
    if e.truncated:
        parts.append(Text(f"truncated to the model's first {T} tokens", style="bold"))
    parts += [
        _tokens(res),
        r.matrix("Word embeddings (E_word[id])", tokens, res.word),
        r.matrix("Position embeddings (E_pos[0 .. T-1], learned)", tokens, res.position),
        r.matrix("Embedded = LayerNorm(word + position + token type): layer 1's input", tokens, res.embedded),
        Rule(f"[bold]layer {layer} of {n_layer}[/bold]", style="cyan"),
        *attention(r, res, layer, head),
        r.matrix(f"Layer {layer} output", tokens, res.layers[layer - 1].output),
    ]
    if layer != n_layer:
        parts.append(r.matrix(f"Layer {n_layer} output (the last: pooled below)", tokens, res.layers[-1].output))
    how = POOL_WORDS[pool] + (", then divided by its length" if normalize else "")
    v = res.sentence_vector
    parts.append(r.matrix(f"Sentence vector ({how})", ["sentence"], v[None],
                          caption=f"|v| = {float(np.linalg.norm(v)):.6f}", row_header="", index=False))
    return Group(*parts)


def similarity(r: Renderer, model: str, texts: list[str], cosine: np.ndarray) -> Group:
    return r.matrix(f"Cosine similarity ({model})", texts, cosine, col_labels=[str(i) for i in range(len(texts))],
                    heat=True, row_header="text", caption="columns: the texts by number; 1 = same direction")
