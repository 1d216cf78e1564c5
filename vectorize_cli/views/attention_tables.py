"""Terminal tables for `--rollout` and `--token`: the rollout matrix of a model's layers, and one token's
weights in every head of every layer (a model) or variant (the toy)."""

from rich.console import Group
from rich.text import Text

from vectorize_cli.attention.rollout import rollout
from vectorize_cli.views.matrix import Renderer, printable
from vectorize_cli.trace import Trace


def rollout_table(r: Renderer, trace: Trace) -> Group:
    """Rollout through every layer: rows output tokens, columns input tokens."""
    weights = [b.weights for b in trace.blocks]
    if not trace.layered or any(w is None for w in weights):
        return Group(Text("rollout: needs every layer's weights (--model with -a multi-head)", style="italic"))
    keys = [printable(t, 8) for t in trace.tokens]
    return r.matrix(f"Attention rollout through layers 1-{len(weights)} (Abnar & Zuidema 2020)", trace.tokens,
                    rollout(weights), col_labels=keys, heat=True,
                    caption="A' = 0.5 mean_h(A) + 0.5 I per layer, rows renormalised, first layer first; "
                            "row i: each input token's share in output i, rows sum to 1")


def token_tables(r: Renderer, trace: Trace, i: int) -> list:
    """Query i's weights, heads as rows and keys as columns, for every layer or variant."""
    keys = [printable(t, 8) for t in trace.tokens]
    out = []
    for b in trace.blocks:
        if b.weights is None:
            out.append(Text(f"{b.name}: weights never materialised; nothing to focus", style="italic"))
            continue
        H = b.weights.shape[0]
        out.append(r.matrix(f"{b.name}: the weights of token {i} ({printable(trace.tokens[i])}) over the keys",
                            [trace.head_label(h + 1) for h in range(H)], b.weights[:, i, :], col_labels=keys, heat=True,
                            row_header="head", index=False, caption="each row sums to 1"))
    return out
