"""Memory estimates made before allocating, so that a run that cannot fit is refused up front
with the numbers, instead of being killed by the operating system half-way.

The estimate counts the big arrays of one sentence: the stages (T x d), the parameters (and the
hash bytes the largest is drawn from), and per variant its largest intermediates, projections and
output; output.py adds the JSON text before writing it. It is a floor, not a bound: Python and
the libraries add their own (tens of MiB; a few hundred with torch).
"""

import re

import numpy as np

from vectorize_cli.config import Config
from vectorize_cli.errors import UsageError, VectorizeError

UNITS = {"": 1, "b": 1, **{prefix + suffix: size for i, prefix in enumerate("kmgtpe", 1)
                            for suffix, size in (("", 1000**i), ("b", 1000**i), ("ib", 1024**i))}}


def parse_size(text: str) -> int:
    """'4GiB', '512MB', '1e9', '2 gb' -> bytes: at least 1, below 2**63 (8 EiB)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*", text.lower())
    if not m or m.group(2) not in UNITS:
        raise UsageError(f"--max-memory: cannot read {text[:40]!r}; write e.g. 4GiB, 512MB or 1e9")
    digits = m.group(1)
    exact = digits.isdigit() and len(digits) < 20  # a whole number of bytes stays exact; others go through float
    n = (int(digits) if exact else float(digits)) * UNITS[m.group(2)]  # inf for 1e400
    if not 1 <= n < 2**63:
        raise UsageError(f"--max-memory {text.strip()[:40]!r} is out of range: at least 1 byte, below 8 EiB")
    return int(n)


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.4g} EiB" if n >= 1024 else f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError


def estimate(c: Config, T: int) -> list[tuple[str, int]]:
    """The big arrays of one sentence of T tokens under config c, as (what, bytes); each variant
    says its own parameters and intermediates (attention/variants.py)."""
    from vectorize_cli.attention.variants import VARIANTS

    item = 4  # float32; half precision needs less, so this errs on the safe side
    d = c.dim
    # embedding, positional (float64 while computed), their float32 copies and the encoded sum
    parts = [(f"stages {T} x {d}", 6 * T * d * item)]
    variants = {v: VARIANTS[v] for v in c.attention if v in VARIANTS}
    groups = {v.param_group: v.param_numbers(c) for v in variants.values() if v.param_group}
    if groups:  # held for the whole run (twice with torch: its copy); the largest is drawn from hash bytes
        n = sum(n for n, _ in groups.values()) * (2 if c.backend == "torch" else 1)
        n += max(largest for _, largest in groups.values())
        parts.append((f"parameters of {' and '.join(groups)}, d = {d}, H x hs = {c.heads * c.head_dim}", n * item))
    for name, v in variants.items():
        what, numbers = v.memory(name, T, c)
        parts.append((what, numbers * item))
    return parts


def total(c: Config, T: int) -> int:
    """The bytes of estimate(c, T) together."""
    return sum(n for _, n in estimate(c, T))


def check(c: Config, T: int) -> None:
    """Refuse, naming the biggest array and the way out, when the estimate exceeds --max-memory.
    T = 1 checks what does not depend on the text (the parameters), before any input is read."""
    refuse_over(estimate(c, T), c.max_memory, "this run", lambda what:
                "use -a flash (linear memory) or raise --max-memory" if "weights" in what or "scores" in what
                else "use smaller sizes (--dim, --heads, --head-dim) or raise --max-memory" if "parameters" in what
                else "use a shorter text, a smaller --dim, or raise --max-memory")


def refuse_over(parts: list[tuple[str, int]], limit: int, doing: str, hint) -> None:
    """One line naming the total, the biggest part and the way out (hint(what)), when parts exceed limit bytes."""
    need = sum(n for _, n in parts)
    if need > limit:
        what, n = max(parts, key=lambda p: p[1])
        raise VectorizeError(f"{doing} needs about {human(need)} ({what}: {human(n)}), over --max-memory "
                             f"{human(limit)}; {hint(what)}")


TEXT_BYTES = {False: 16, True: 32}  # most bytes one float32 takes in JSON: '-1.2345678e-25,'; pretty: on a line
# of its own, indented by up to 16 spaces


def numbers(obj) -> int:
    """How many numbers the arrays in a record hold (numpy arrays inside dicts and lists). Runs on
    every record, so lists of strings (the tokens) are passed over whole, not item by item."""
    if isinstance(obj, np.ndarray):
        return obj.size
    if isinstance(obj, dict):
        obj = obj.values()
    elif not isinstance(obj, (list, tuple)) or (obj and isinstance(obj[0], str)):
        return 0
    return sum(numbers(v) for v in obj)


def check_text(record: dict, pretty: bool, limit: int) -> None:
    """Refuse, before writing it, a record whose JSON text and the arrays it comes from exceed --max-memory."""
    n = numbers(record)
    need = n * (TEXT_BYTES[pretty] + 4)
    if need > limit:
        raise VectorizeError(f"this record's JSON needs about {human(need)} ({n:,} numbers, as arrays and as text), "
                             f"over --max-memory {human(limit)}; leave big fields out (--omit weights), "
                             "use --format table, or raise --max-memory")
