"""The encoder families that run, by config.json's `model_type`: what differs between them, in one place.

BERT (Devlin et al. 2019, arXiv:1810.04805), RoBERTa (Liu et al. 2019, arXiv:1907.11692) and XLM-RoBERTa
(Conneau et al. 2020, arXiv:1911.02116) share one post-LN encoder (model/bert.py). They differ in:

    weights     the prefix of a base model inside another head: `bert.` or `roberta.` (or none)
    positions   BERT:     pos[b, t] = t                                              (B, T)
                RoBERTa:  m = ids != pad;  pos = cumsum(m) * m + pad                 (B, T)
                          real tokens read E_pos[pad+1 .. pad+T], padding E_pos[pad]
                          (transformers' create_position_ids_from_input_ids)
    tokenizer   WordPiece [CLS] ... [SEP], byte-level BPE or SentencePiece Unigram <s> ... </s>:
                all read from tokenizer.json (model/tokenizer.py), nothing to choose here

The decoder family (Qwen3-Embedding; Qwen2, Llama: pre-norm RMSNorm layers, rotary positions, grouped-query and
causal attention, SwiGLU, last-token pooling) is another forward pass, not a Family here: decoder_config.DECODERS
keyed by model_type (what each adds: q/k norm, biases), model/decoder.py, pipelines/decoder.py.

Any other model_type is refused by name (files.py), with the list of those that run. MPNet (refused today) needs
more than an entry here: RoBERTa's positions, no token types, its own weight names (attention.attn.q/k/v/o), and
a relative position bias added to every layer's scores, att = softmax(q kᵀ / sqrt(hs) + E_rel[bucket(j - i)]),
bucket as T5's (32 buckets, max distance 128), E_rel shared by the layers: a bias argument for every attention
function of attention/dispatch.py.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np


def absolute_positions(ids: np.ndarray, pad_id: int) -> np.ndarray:
    """pos[b, t] = t: (T,), the same for every row."""
    return np.arange(ids.shape[-1], dtype=np.int64)  # (T,)


def padding_offset_positions(ids: np.ndarray, pad_id: int) -> np.ndarray:
    """pos = cumsum(ids != pad) * (ids != pad) + pad: (B, T), real tokens from pad+1, padding at pad."""
    real = ids != pad_id  # (B, T)
    return np.cumsum(real, axis=-1, dtype=np.int64) * real + pad_id  # (B, T)


@dataclass(frozen=True)
class Family:
    name: str  # what the README and errors call it
    prefix: str  # the base model's weights inside another head: "bert." / "roberta."
    positions: Callable[[np.ndarray, int], np.ndarray]  # (ids (B, T), pad_id) -> position ids, (T,) or (B, T)
    first_position: Callable[[int], int]  # pad_id -> the first row of E_pos a real token reads
    position_label: str  # the trace's stage name

    def usable_positions(self, max_positions: int, pad_id: int) -> int:
        """The most tokens the position table holds (RoBERTa: 514 rows, pad 1 -> 512)."""
        return max_positions - self.first_position(pad_id)


BERT = Family("BERT", "bert.", absolute_positions, lambda pad: 0, "Position embeddings (E_pos[0 .. T-1], learned)")
ROBERTA = Family("RoBERTa", "roberta.", padding_offset_positions, lambda pad: pad + 1,
                 "Position embeddings (E_pos[pad+1 .. pad+T], learned, offset by the padding index)")

FAMILIES = {  # config.json's model_type -> its family
    "bert": BERT,
    "roberta": ROBERTA,
    "xlm-roberta": ROBERTA,  # RoBERTa's encoder; only the tokenizer (SentencePiece Unigram) differs
}
