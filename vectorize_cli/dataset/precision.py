"""The precisions a dataset stores its vectors in: each one's quantize (embed writes through it), its
dequantize (search reads through it) and how it compares a query, side by side in one registry.

Quantize is sentence-transformers' `quantize_embeddings` (sentence_transformers/util/quantization.py), the same
bytes given the same ranges; ranges = [lo, hi] (2, d) float32, each dimension's minimum and maximum over the
calibration vectors, step = (hi - lo) / 255 (1 where hi == lo):

    precision  stored q (N, width)                                  as float x' (N, d)            query q'
    float32    x                                                    x                              q / |q|
    int8       clip(floor((x - lo) / step), 0, 255) - 128           (q + 128) step + lo            q / |q|
    uint8      clip(floor((x - lo) / step), 0, 255)                 q step + lo                    q / |q|
    binary     packbits(x > 0) - 128 as int8    (width ceil(d/8))   2 bits(q) - 1 in {-1, +1}^d    s / |s|, s = 2[q > 0] - 1
    ubinary    packbits(x > 0)                  (width ceil(d/8))   2 bits(q) - 1                  s / |s|

so one cosine, cos(q', x'), ranks the rows of every precision: for the binary ones it is 1 - 2 Hamming(q, x) / d.
Values outside the ranges are clipped to the end buckets.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vectorize_cli.errors import UsageError, VectorizeError

LEVELS = 255  # int8 / uint8: buckets 0 .. 255


def calibrate(x: np.ndarray) -> np.ndarray:
    """Calibration vectors (N, d) -> ranges (2, d) float32: per-dimension min and max."""
    return np.vstack((x.min(axis=0), x.max(axis=0))).astype(np.float32)


def _steps(ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo (d,), step (d,)) of the ranges, float32; a step of 0 counts as 1."""
    lo = ranges[0]
    step = (ranges[1] - lo) / np.float32(LEVELS)
    return lo, np.where(step == 0, np.float32(1), step).astype(np.float32)


def _buckets(x: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    lo, step = _steps(ranges)
    return np.clip(np.floor((x - lo) / step), 0, LEVELS)  # (N, d) float32, 0..255


def bits(x: np.ndarray, d: int, signed: bool) -> np.ndarray:
    """Packed rows (B, ceil(d/8)) -> their bits (B, d) uint8 in {0, 1}; binary (signed) stores packbits - 128,
    so its bytes are the packed bits ^ 0x80."""
    raw = x.view(np.uint8) ^ np.uint8(0x80) if signed else x.view(np.uint8)
    return np.unpackbits(raw, axis=-1, count=d)


def _linear(offset: int, dtype) -> tuple[Callable, Callable]:
    """int8 (offset 128) and uint8 (offset 0): quantize and dequantize."""

    def quantize(x: np.ndarray, ranges: np.ndarray) -> np.ndarray:
        return (_buckets(x, ranges) - offset).astype(dtype)

    def dequantize(q: np.ndarray, ranges: np.ndarray, d: int) -> np.ndarray:
        lo, step = _steps(ranges)
        return (q.astype(np.float32) + np.float32(offset)) * step + lo  # (B, d)

    return quantize, dequantize


def _packed(signed: bool) -> tuple[Callable, Callable]:
    """binary (signed) and ubinary: one bit a dimension, x > 0."""

    def quantize(x: np.ndarray, ranges) -> np.ndarray:
        q = np.packbits(x > 0, axis=-1)
        return (q - 128).astype(np.int8) if signed else q

    def dequantize(q: np.ndarray, ranges, d: int) -> np.ndarray:
        return bits(q, d, signed).astype(np.float32) * np.float32(2) - np.float32(1)  # (B, d) in {-1, +1}

    return quantize, dequantize


def _floats(x: np.ndarray, ranges=None, d: int = 0) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _unit(q: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(q, axis=1, keepdims=True)  # (Q, 1)
    return np.divide(q, norm, out=np.zeros_like(q), where=norm > 0)


@dataclass(frozen=True)
class Precision:
    name: str
    dtype: type  # numpy dtype of the stored vector's elements
    packed: bool  # one bit a dimension (width ceil(d/8)), compared by Hamming distance; rescoring applies
    calibrated: bool  # quantize needs ranges
    quantize: Callable[[np.ndarray, np.ndarray | None], np.ndarray]  # (x (N, d) float32, ranges) -> (N, width)
    dequantize: Callable[[np.ndarray, np.ndarray | None, int], np.ndarray]  # (stored (B, width), ranges, d) -> (B, d)

    def width(self, d: int) -> int:
        """Elements per stored vector."""
        return -(-d // 8) if self.packed else d

    def query(self, q: np.ndarray) -> np.ndarray:
        """Queries (Q, d) as this precision compares them: unit vectors (of their signs, where packed)."""
        q = np.asarray(q, dtype=np.float32)
        return _unit(np.where(q > 0, np.float32(1), np.float32(-1)) if self.packed else q)

    @property
    def metric(self) -> str:
        """What ranks the rows: the cosine, which for packed bits is 1 - 2 Hamming / d."""
        return "hamming" if self.packed else "cosine"


PRECISIONS: dict[str, Precision] = {
    "float32": Precision("float32", np.float32, False, False, lambda x, ranges: _floats(x), _floats),
    "int8": Precision("int8", np.int8, False, True, *_linear(128, np.int8)),
    "uint8": Precision("uint8", np.uint8, False, True, *_linear(0, np.uint8)),
    "binary": Precision("binary", np.int8, True, False, *_packed(True)),
    "ubinary": Precision("ubinary", np.uint8, True, False, *_packed(False)),
}


def read_ranges(path: Path, d: int) -> np.ndarray:
    """--ranges FILE: a (2, d) array as .npy (np.save of the ranges sentence-transformers takes) or JSON
    [[d minimums], [d maximums]] -> float32 (2, d)."""
    try:
        if path.suffix.lower() == ".npy":
            a = np.load(path, allow_pickle=False)
        else:
            a = np.asarray(json.loads(path.read_text(encoding="utf-8")), dtype=np.float64)
    except OSError as e:
        raise VectorizeError(f"cannot read {path}: {e.strerror or e}") from None
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as e:
        raise UsageError(f"--ranges {path}: not a .npy array or JSON [[minimums], [maximums]] ({e})") from None
    if a.shape != (2, d) or not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
        raise UsageError(f"--ranges {path}: expected 2 x {d} finite numbers (minimums, maximums), got shape {a.shape}")
    if (big := np.abs(a) > np.finfo(np.float32).max).any():
        raise UsageError(f"--ranges {path}: a value beyond float32 (dimension {int(np.argmax(big.any(axis=0)))})")
    if (a[0] > a[1]).any():
        raise UsageError(f"--ranges {path}: a minimum is above its maximum (dimension {int(np.argmax(a[0] > a[1]))})")
    return a.astype(np.float32)
