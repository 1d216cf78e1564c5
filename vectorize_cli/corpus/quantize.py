"""Smaller vectors: sentence-transformers' `quantize_embeddings` (sentence_transformers/util/quantization.py),
the same bytes given the same ranges.

    int8     q = clip(floor((x - lo) / step), 0, 255) - 128     step = (hi - lo) / 255 (1 where hi == lo)   (N, d)
    uint8    q = clip(floor((x - lo) / step), 0, 255)                                                        (N, d)
    binary   q = packbits(x > 0) - 128 as int8                                                      (N, ceil(d/8))
    ubinary  q = packbits(x > 0)                                                                    (N, ceil(d/8))

ranges = [lo, hi] (2, d), float32: the minimum and maximum of each dimension over calibration vectors (here the
first row group, or --ranges FILE). Values outside them are clipped to the end buckets.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vectorize_cli.errors import UsageError, VectorizeError


def calibrate(x: np.ndarray) -> np.ndarray:
    """Calibration vectors (N, d) -> ranges (2, d) float32: per-dimension min and max."""
    return np.vstack((x.min(axis=0), x.max(axis=0))).astype(np.float32)


def _buckets(x: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    lo = ranges[0]
    step = (ranges[1] - lo) / 255  # (d,)
    step = np.where(step == 0, 1, step)
    return np.clip(np.floor((x - lo) / step), 0, 255)  # (N, d) float32, 0..255


def to_int8(x, ranges):
    return (_buckets(x, ranges) - 128).astype(np.int8)


def to_uint8(x, ranges):
    return _buckets(x, ranges).astype(np.uint8)


def to_binary(x, ranges):
    return (np.packbits(x > 0, axis=-1) - 128).astype(np.int8)


def to_ubinary(x, ranges):
    return np.packbits(x > 0, axis=-1)


@dataclass(frozen=True)
class Precision:
    dtype: type  # numpy dtype of the stored vector's elements
    width: Callable[[int], int]  # d -> elements per stored vector
    quantize: Callable[[np.ndarray, np.ndarray | None], np.ndarray]  # (x (N, d) float32, ranges) -> (N, width)
    calibrated: bool  # needs ranges


PRECISIONS: dict[str, Precision] = {
    "float32": Precision(np.float32, lambda d: d, lambda x, ranges: x.astype(np.float32), False),
    "int8": Precision(np.int8, lambda d: d, to_int8, True),
    "uint8": Precision(np.uint8, lambda d: d, to_uint8, True),
    "binary": Precision(np.int8, lambda d: -(-d // 8), to_binary, False),
    "ubinary": Precision(np.uint8, lambda d: -(-d // 8), to_ubinary, False),
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
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise UsageError(f"--ranges {path}: not a .npy array or JSON [[minimums], [maximums]] ({e})") from None
    if a.shape != (2, d) or not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
        raise UsageError(f"--ranges {path}: expected 2 x {d} finite numbers (minimums, maximums), got shape {a.shape}")
    if (a[0] > a[1]).any():
        raise UsageError(f"--ranges {path}: a minimum is above its maximum (dimension {int(np.argmax(a[0] > a[1]))})")
    return a.astype(np.float32)
