"""The plain JSON writer: the standard library only, byte for byte what the orjson path writes.

It is the test oracle for views/json.dumps (the tests hold the two to the same bytes over every kind
of record and over random numbers), and the baseline that shows what orjson is worth (benchmarks/README.md). Numbers follow orjson's
layout: the shortest digits that read back to the same float32 (numpy float32 arrays and scalars)
or float64 (everything else); positional notation for decimal exponents -6..12 (float32) or
-5..15 (float64), with ".0" on whole numbers; scientific otherwise ("1.5e-7", "1e+16").
"""

from json.encoder import encode_basestring  # the escaping json.dumps(ensure_ascii=False) uses

import numpy as np

_POSITIONAL = {np.float32: (-6, 12), np.float64: (-5, 15)}  # decimal exponents written without "e"


def number(x, kind=np.float64) -> str:
    """A finite float as orjson writes it; kind is np.float32 or np.float64."""
    x = kind(x)
    if x == 0:
        return "-0.0" if np.signbit(x) else "0.0"
    mantissa, exp = np.format_float_scientific(x, unique=True, trim="-").split("e")
    sign = "-" if mantissa.startswith("-") else ""
    digits = mantissa.lstrip("-").replace(".", "")
    e = int(exp)
    lo, hi = _POSITIONAL[kind]
    if not lo <= e <= hi:
        return f"{sign}{digits[0]}{'.' + digits[1:] if len(digits) > 1 else ''}e{'+' if e >= 0 else '-'}{abs(e)}"
    if e < 0:
        return f"{sign}0.{'0' * (-e - 1)}{digits}"
    whole, frac = digits[: e + 1].ljust(e + 1, "0"), digits[e + 1 :]
    return f"{sign}{whole}.{frac or '0'}"


def _scalar(x) -> str:
    if x is None:
        return "null"
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, np.floating):
        return number(x, np.float32 if x.dtype == np.float32 else np.float64)
    if isinstance(x, float):
        return number(x)
    if isinstance(x, str):
        return encode_basestring(x)
    raise TypeError(f"cannot write {type(x).__name__} as JSON")


def _write(o, out: list[str], indent: int | None, level: int) -> None:
    if isinstance(o, np.ndarray):
        o = list(o) if o.ndim > 1 else [o.dtype.type(v) for v in o]  # keep the element type (float32)
    if isinstance(o, (dict, list, tuple)):
        items = list(o.items()) if isinstance(o, dict) else list(o)
        open_, close = ("{", "}") if isinstance(o, dict) else ("[", "]")
        if not items:
            out.append(open_ + close)
            return
        pad = None if indent is None else "\n" + " " * (indent * (level + 1))
        out.append(open_)
        for i, item in enumerate(items):
            if i:
                out.append(",")
            if pad:
                out.append(pad)
            if isinstance(o, dict):
                out.append(encode_basestring(item[0]) + (": " if pad else ":"))
                item = item[1]
            _write(item, out, indent, level + 1)
        if pad:
            out.append("\n" + " " * (indent * level))
        out.append(close)
        return
    out.append(_scalar(o))


def dumps(obj, pretty: bool = False) -> bytes:
    """JSON bytes, one line unless pretty (2-space indent), ending in a newline: as serialize.dumps."""
    out: list[str] = []
    _write(obj, out, 2 if pretty else None, 0)
    out.append("\n")
    return "".join(out).encode("utf-8")
