"""The encoder families that run, by config.json's `model_type`: what differs between them, in one place.

BERT (Devlin et al. 2019, arXiv:1810.04805), RoBERTa (Liu et al. 2019, arXiv:1907.11692), XLM-RoBERTa
(Conneau et al. 2020, arXiv:1911.02116) and MPNet (Song et al. 2020, arXiv:2004.09297) share one post-LN encoder
(model/bert.py). They differ in:

    weights     the prefix of a base model inside another head: `bert.`, `roberta.`, `mpnet.` (or none);
                the attention's names: BERT's attention.self.query/key/value, attention.output.dense and
                attention.output.LayerNorm, MPNet's attention.attn.q/k/v/o and attention.LayerNorm
    positions   BERT:     pos[b, t] = t                                              (B, T)
                RoBERTa:  m = ids != pad;  pos = cumsum(m) * m + pad                 (B, T)
                          real tokens read E_pos[pad+1 .. pad+T], padding E_pos[pad]
                          (transformers' create_position_ids_from_input_ids)
                MPNet:    as RoBERTa with pad = 1 (transformers' MPNetEmbeddings fixes padding_idx 1), and
                          a relative position bias added to every layer's scores (model/relative_bias.py):
                          att = softmax(q kᵀ / sqrt(hs) + E_rel[bucket(j - i)] + M), E_rel shared by the layers
    token types BERT, RoBERTa: E_type[type_ids] added to the embeddings; MPNet has no token-type table
    tokenizer   WordPiece [CLS] ... [SEP] (MPNet: WordPiece <s> ... </s>), byte-level BPE or SentencePiece
                Unigram <s> ... </s>: all read from tokenizer.json (model/tokenizer.py), nothing to choose here

The decoder family (Qwen3-Embedding; Qwen2, Llama: pre-norm RMSNorm layers, rotary positions, grouped-query and
causal attention, SwiGLU, last-token pooling) is another forward pass, not a Family here: decoder_config.DECODERS
keyed by model_type (what each adds: q/k norm, biases), model/decoder.py, pipelines/decoder.py.

Any other model_type is refused by name (files.py), with the list of those that run.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


def absolute_positions(ids: np.ndarray, pad_id: int) -> np.ndarray:
    """pos[b, t] = t: (T,), the same for every row."""
    return np.arange(ids.shape[-1], dtype=np.int64)  # (T,)


def padding_offset_positions(ids: np.ndarray, pad_id: int) -> np.ndarray:
    """pos = cumsum(ids != pad) * (ids != pad) + pad: (B, T), real tokens from pad+1, padding at pad."""
    real = ids != pad_id  # (B, T)
    return np.cumsum(real, axis=-1, dtype=np.int64) * real + pad_id  # (B, T)


MPNET_PAD = 1  # transformers' MPNetEmbeddings.padding_idx: fixed, not config.json's pad_token_id


def mpnet_positions(ids: np.ndarray, pad_id: int) -> np.ndarray:
    """RoBERTa's positions from padding index 1 whatever pad_token_id says, as transformers' MPNetEmbeddings."""
    return padding_offset_positions(ids, MPNET_PAD)  # (B, T)


BERT_ATTENTION = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                  "o": "attention.output.dense", "ln_1": "attention.output.LayerNorm"}  # per layer, after its prefix
MPNET_ATTENTION = {"q": "attention.attn.q", "k": "attention.attn.k", "v": "attention.attn.v",
                   "o": "attention.attn.o", "ln_1": "attention.LayerNorm"}


@dataclass(frozen=True)
class Family:
    name: str  # what the README and errors call it
    prefix: str  # the base model's weights inside another head: "bert." / "roberta." / "mpnet."
    positions: Callable[[np.ndarray, int], np.ndarray]  # (ids (B, T), pad_id) -> position ids, (T,) or (B, T)
    first_position: Callable[[int], int]  # pad_id -> the first row of E_pos a real token reads
    position_label: str  # the trace's stage name
    # weights.py's names of a layer's q, k, v, o and the LayerNorm after attention, in model.safetensors
    attention_names: dict[str, str] = field(default_factory=lambda: BERT_ATTENTION, compare=False)
    token_types: bool = True  # a token-type table E_type added to the embeddings (MPNet: none)
    relative_bias: bool = False  # E_rel[bucket(j - i)] added to every layer's scores (MPNet: model/relative_bias.py)

    def usable_positions(self, max_positions: int, pad_id: int) -> int:
        """The most tokens the position table holds (RoBERTa: 514 rows, pad 1 -> 512)."""
        return max_positions - self.first_position(pad_id)


BERT = Family("BERT", "bert.", absolute_positions, lambda pad: 0, "Position embeddings (E_pos[0 .. T-1], learned)")
ROBERTA = Family("RoBERTa", "roberta.", padding_offset_positions, lambda pad: pad + 1,
                 "Position embeddings (E_pos[pad+1 .. pad+T], learned, offset by the padding index)")

MPNET = Family("MPNet", "mpnet.", mpnet_positions, lambda pad: MPNET_PAD + 1,
               "Position embeddings (E_pos[2 .. T+1], learned, offset by the padding index 1)", MPNET_ATTENTION,
               token_types=False, relative_bias=True)

FAMILIES = {  # config.json's model_type -> its family
    "bert": BERT,
    "roberta": ROBERTA,
    "xlm-roberta": ROBERTA,  # RoBERTa's encoder; only the tokenizer (SentencePiece Unigram) differs
    "mpnet": MPNET,
}
