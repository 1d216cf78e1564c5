"""BERT's encoder, forward pass only (Devlin et al. 2019, arXiv:1810.04805; post-LN Transformer encoder
of Vaswani et al. 2017), also RoBERTa's and XLM-RoBERTa's (families.py: what differs), the function Hugging Face's
BertModel computes:

    x     = LayerNorm(E_word[ids] + E_pos[pos] + E_type[type_ids])          (B, T, d)
            pos: 0..T-1 (BERT), or offset by the padding index (RoBERTa, XLM-R, MPNet): families.py;
            MPNet has no E_type
    per layer:
    q,k,v = x W_qkv + b_qkv, split into H heads                              (B, H, T, hs) each
    a     = Attention(q, k, v), padding keys masked                          (B, H, T, hs)
            MPNet: the relative position bias added to the scores, the same in every layer (relative_bias.py)
    x     = LayerNorm(x + a W_o + b_o)                                       (B, T, d)
    x     = LayerNorm(x + GELU(x W_1 + b_1) W_2 + b_2)                       (B, T, d)

Written once for numpy and torch (the one Backend moves arrays, attention/dispatch.py picks the
attention function). The dense layers run on (B*T, d) matrices: one matrix product per weight per batch.
On numpy, the steps between the products (bias + GELU, bias + residual + LayerNorm), explicit attention's
softmax and flash's exp may run compiled (compiled.py), as the backend says: passed down to each.
"""

import hashlib
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from vectorize_cli import compiled, sgemm
from vectorize_cli.attention.dispatch import ATTENTION_FUNCTIONS, Attended
from vectorize_cli.backend import Backend
from vectorize_cli.model import decoder_weights, files, modules, validate, weights
from vectorize_cli.model.decoder_config import DECODERS
from vectorize_cli.model.nn import dense, dense_add_norm, dense_gelu, layer_norm_
from vectorize_cli.model.relative_bias import relative_position_bias
from vectorize_cli.model.tokenizer import WordPiece


@dataclass
class Model:
    folder: files.Folder
    weights: dict  # numpy, from weights.from_safetensors
    tokenizer: WordPiece
    source: str = "minilm"  # --model as given

    def __post_init__(self):
        self._on: dict[Backend, dict] = {}

    @cached_property
    def sha256(self) -> str:
        """Hex sha256 of model.safetensors: which weights these are (datasets record it; search checks it)."""
        h = hashlib.sha256()
        with open(self.folder.path / "model.safetensors", "rb") as f:
            for piece in iter(lambda: f.read(1 << 20), b""):
                h.update(piece)
        return h.hexdigest()

    @property
    def nbytes(self) -> int:
        """The bytes of every weight array."""
        return _total(self.weights)

    def weights_on(self, backend: Backend) -> dict:
        """The weights as the backend's arrays, converted once (numpy float32: the same arrays). On torch
        each dense W (in, out) is the transposed view of an (out, in) array, nn.Linear's layout: the same
        numbers, and torch's half-precision matrix product on a CPU runs about 6x faster on it."""
        if backend not in self._on:
            self._on[backend] = _convert(self.weights, backend.asarray, backend.name == "torch")
        return self._on[backend]


def _total(tree) -> int:
    if isinstance(tree, dict):
        return sum(_total(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_total(v) for v in tree)
    return tree.nbytes


def _convert(tree, f, linear_layout: bool = False, key: str = ""):
    if isinstance(tree, dict):
        return {k: _convert(v, f, linear_layout, k) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_convert(v, f, linear_layout, key) for v in tree)
    if linear_layout and key.startswith("w_") and tree.ndim == 2:
        return f(tree.T).T  # (in, out) view of an (out, in) array
    return f(tree)


@lru_cache(maxsize=4)
def load(model: str) -> Model:
    """--model's value (a folder or `minilm`) -> the model, read once per process."""
    folder = files.read(model, modules.head_of)
    read = decoder_weights.read_weights if folder.config.model_type in DECODERS else weights.from_safetensors
    w, converted = read(folder.path / "model.safetensors", folder.config)
    tokenizer = WordPiece(folder.path / "tokenizer.json", folder.max_length)
    validate.check_loaded(folder, w, converted, tokenizer)  # before any text runs
    return Model(folder, w, tokenizer, model)


def embeddings(w: dict, ids, type_ids, positions):
    """The three lookups: word (B, T, d), position ((T, d) or (B, T, d), as positions is (T,) or (B, T): the
    family's position ids, families.py), token type (B, T, d), or None where the family has no such table (MPNet)."""
    return w["word"][ids], w["position"][positions], (w["token_type"][type_ids] if "token_type" in w else None)


def forward(model: Model, backend: Backend, ids: np.ndarray, type_ids: np.ndarray, pad: np.ndarray,
            attention: str = "explicit", strict: bool = False, every_layer: bool = True):
    """ids, type_ids (B, T) int64; pad (B, T) bool, True for padding; attention: a name of
    dispatch.ATTENTION_FUNCTIONS. -> (x0 (B, T, d) after the embedding LayerNorm,
    [(weights (B, H, T, T) or None, x (B, T, d)) per layer], how the layers ran (Attended without y, att: the
    attention's op, its notes and GELU's where compiled)), as the backend's arrays.
    every_layer False: only the last layer's pair is kept (a batch to pool holds one layer's weights at a time)."""
    c = model.folder.config
    w = model.weights_on(backend)
    B, T = ids.shape
    H, d = c.n_head, c.d_model
    hs = d // H
    attend = ATTENTION_FUNCTIONS[attention]
    loops = compiled.fused(backend)  # the run's choice (compiled.for_run): None, numpy's passes; the same bits
    product = sgemm.for_backend(backend)  # x W: numpy's OpenBLAS or MKL (sgemm.py), torch's own on torch
    # (B, 1, 1, T) True for padding; none where there is none (CUDA's flash kernel takes no mask)
    key_mask = backend.asarray(np.ascontiguousarray(pad[:, None, None, :])) if pad.any() else None
    positions = c.family.positions(ids, c.pad_id)  # (T,) or (B, T)
    word, position, token_type = embeddings(w, backend.asarray(ids), backend.asarray(type_ids),
                                            backend.asarray(positions))
    e = word + position if token_type is None else word + position + token_type  # (B, T, d)
    x = layer_norm_(e.reshape(B * T, d), *w["ln"], c.eps)  # (B*T, d)
    bias = relative_position_bias(w["relative_bias"], T) if c.family.relative_bias else None  # (H, T, T): MPNet
    x0, layers, ran = x.reshape(B, T, d), [], None
    for L in w["layers"]:
        qkv = dense(x, L["w_qkv"], L["b_qkv"], product)  # (B*T, 3d)
        q, k, v = (qkv[:, i * d : (i + 1) * d].reshape(B, T, H, hs).swapaxes(1, 2) for i in range(3))  # (B, H, T, hs)
        ran = attend(q, k, v, key_mask=key_mask, strict=strict, backend=backend, bias=bias)  # y (B, H, T, hs), att
        a = ran.y.swapaxes(1, 2).reshape(B * T, d)  # the heads side by side
        x = dense_add_norm(a, L["w_o"], L["b_o"], x, *L["ln_1"], c.eps, loops, product)  # (B*T, d)
        h = dense_gelu(x, L["w_1"], L["b_1"], loops, product)  # (B*T, d_ff)
        x = dense_add_norm(h, L["w_2"], L["b_2"], x, *L["ln_2"], c.eps, loops, product)  # (B*T, d)
        layers.append((ran.att, x.reshape(B, T, d)))
        if not every_layer:
            del layers[:-1]
    notes = ((compiled.FUSED_NOTE,) if loops else ()) + ((sgemm.NOTE,) if sgemm.used(product) else ())
    return x0, layers, Attended(None, None, ran.op, ran.notes + notes)
