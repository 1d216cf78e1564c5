"""The worked example of the article the project grew from (shared/seed/attention-article.txt),
number for number, then what real multi-head attention computes on the same vectors.

The article's arithmetic is decimal. It is done here in float64 and rounded to 12 decimal places,
which removes binary noise (0.1 + 0.01 = 0.11000000000000001 -> 0.11) and nothing else.
"""

from dataclasses import dataclass

import numpy as np

from vectorize_cli.config import Config
from vectorize_cli.pipelines.toy import DTYPE, attend
from vectorize_cli.positional import linear
from vectorize_cli.trace import Block

SENTENCE = "My deskmate and I made an appointment to play games at his house tomorrow."
# The article's segmentation (translated from Chinese), in its order.
TOKENS = ["I", "and", "Tablemate", "Have an appointment", "It's", "tomorrow", "exist", "His home", "Play", "game"]
# "I" -> [0.1, 0.2, 0.3, 0.4], "and" -> [0.5, 0.6, 0.7, 0.8], ..., "game" -> [3.7, 3.8, 3.9, 4.0]
EMBEDDING = np.arange(1, 41, dtype=np.float64).reshape(10, 4) / 10  # (10, 4)
# Step 3 shows three heads' weights for the query "I" over the keys I, and, Tablemate, ... The article
# prints three weights per head and "..."; the fourth (key "Have an appointment") is read off its
# products: 0.44 * 0.1 = 0.044, 0.44 * 0.1 = 0.044, 0.44 * 0.2 = 0.088.
ARTICLE_WEIGHTS = np.array([[0.3, 0.2, 0.4, 0.1], [0.1, 0.5, 0.3, 0.1], [0.4, 0.3, 0.1, 0.2]])  # (heads, keys)
QUERY = 0  # the article works through "I"
DECIMALS = 12

NOTES = [
    "The article's step 3 multiplies the vector of \"I\" element by element with four weights, one per "
    "key token (component i times the weight of token i). Attention takes a weighted sum of value "
    "vectors: y_I = sum_j w_Ij v_j, a vector built from every token of the sentence.",
    "The article's weights are assumed, not computed. Real weights are softmax_j(q_I . k_j / sqrt(d_head)) "
    "over all ten tokens, so every token gets a positive weight; the article's four weights already sum "
    "to 1 and leave nothing for the other six.",
    "The article \"divides the vector into subspaces\". Real heads each project the whole vector with "
    "their own W_q, W_k, W_v (seeded and untrained here), which is why the heads differ.",
    "Concatenating three heads of size 4 gives 12 numbers, as in the article; a Transformer then "
    "multiplies by W_o to come back to d = 4. Both sides here stop at the concatenation "
    "(`vectorize run --concat`).",
]


def _exact(x: np.ndarray) -> np.ndarray:
    return np.round(x, DECIMALS)


@dataclass(frozen=True)
class Example:
    embedding: np.ndarray  # (10, 4)
    positional: np.ndarray  # (10, 4)
    encoded: np.ndarray  # (10, 4)
    article_products: np.ndarray  # (3, 4): the article's step 3, x_I * w_h elementwise
    article_concat: np.ndarray  # (12,)
    article_weighted_sums: np.ndarray  # (3, 4): sum_j w_hj x_j with the article's weights
    config: Config  # of the real multi-head attention
    real: Block  # multi-head, 3 heads of size 4, concatenated


def build(seed: int = 0) -> Example:
    positional = linear(10, 4, seed)  # "Location1 -> [0.01, 0.02, 0.03, 0.04] Position 2 -> [0.05, ...]"
    encoded = _exact(EMBEDDING + positional)  # [0.11, 0.22, 0.33, 0.44], [0.55, 0.66, 0.77, 0.88], ...
    products = _exact(encoded[QUERY] * ARTICLE_WEIGHTS)  # (3, 4), as the article computes
    weighted_sums = _exact(ARTICLE_WEIGHTS @ encoded[: ARTICLE_WEIGHTS.shape[1]])  # (3, 4), as attention would
    config = Config(positional="linear", dim=4, heads=3, head_dim=4, concat=True, pool="none", seed=seed)
    real = attend("multi-head", encoded.astype(DTYPE), config)
    return Example(EMBEDDING, positional, encoded, products, products.reshape(-1), weighted_sums, config, real)


def record(ex: Example) -> dict:
    from vectorize_cli.views.json import SCHEMA_VERSION, block_record

    H, hs = ex.config.heads, ex.config.head_dim
    y_query = ex.real.output[QUERY]  # (H * hs,)
    keys = TOKENS[: ARTICLE_WEIGHTS.shape[1]]
    return {
        "schema_version": SCHEMA_VERSION,
        "example": "attention-article",
        "sentence": SENTENCE,
        "tokens": TOKENS,
        "embedding": ex.embedding,
        "positional": ex.positional,
        "encoded": ex.encoded,
        "article": {
            "query": TOKENS[QUERY],
            "keys": keys,
            "heads": [{"weights": w, "product": p} for w, p in zip(ARTICLE_WEIGHTS, ex.article_products)],
            "concatenation": ex.article_concat,
            "weighted_sums": ex.article_weighted_sums,
        },
        "real": {
            "config": ex.config.to_dict(),
            "query": TOKENS[QUERY],
            "heads": [
                {"weights": ex.real.weights[h, QUERY], "output": y_query[h * hs : (h + 1) * hs]} for h in range(H)
            ],
            "concatenation": y_query,
            "attention": block_record(ex.real),
        },
        "notes": NOTES,
    }


def render(ex: Example, renderer):
    from rich.console import Group
    from rich.padding import Padding
    from rich.rule import Rule
    from rich.text import Text

    m = renderer.matrix
    H = ex.config.heads
    heads = [f"head {h + 1}" for h in range(H)]
    keys = TOKENS[: ARTICLE_WEIGHTS.shape[1]]
    cols12 = [f"h{h + 1}.{i}" for h in range(H) for i in range(ex.config.head_dim)]
    y_query = ex.real.output[QUERY]
    return Group(
        Rule(Text(f"The article's worked example: \"{SENTENCE}\""), style="bold"),
        m("1. Word embedding (d = 4)", TOKENS, ex.embedding),
        m("2. Positional encoding (linear)", TOKENS, ex.positional,
          caption="position p -> [0.01, 0.02, 0.03, 0.04] + 0.04 (p - 1)"),
        m("Embedding + positional", TOKENS, ex.encoded),
        Rule("3. Multi-head attention, as the article computes it", style="cyan"),
        m(f"Assumed weights of \"{TOKENS[QUERY]}\" (rows: heads, columns: keys)", heads, ARTICLE_WEIGHTS,
          col_labels=keys, row_header="head", index=False),
        m(f"x_\"{TOKENS[QUERY]}\" * weights, element by element", heads, ex.article_products, row_header="head",
          index=False),
        m("Concatenation", [TOKENS[QUERY]], ex.article_concat[None], col_labels=cols12),
        Rule("What real multi-head attention computes on the same vectors", style="cyan"),
        m("Had the article summed: sum_j w_j x_j with its weights (values = encoded vectors)", heads,
          ex.article_weighted_sums, row_header="head", index=False),
        m(f"Weights of \"{TOKENS[QUERY]}\": softmax(q . k / sqrt(4)) over all ten tokens, seed {ex.config.seed}",
          heads, ex.real.weights[:, QUERY], col_labels=[t[:8] for t in TOKENS], heat=True, row_header="head", index=False),
        m(f"Each head's output for \"{TOKENS[QUERY]}\": sum_j w_j (x_j W_v)", heads,
          y_query.reshape(H, -1), row_header="head", index=False),
        m("Concatenation", [TOKENS[QUERY]], y_query[None], col_labels=cols12),
        Rule("Where the article's step differs from attention", style="yellow"),
        *[Padding(Text(f"{i + 1}. {note}"), (0, 0, 0, 2)) for i, note in enumerate(NOTES)],
    )
