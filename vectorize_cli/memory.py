"""Memory estimates made before allocating, so that a run that cannot fit is refused up front
with the numbers, instead of being killed by the operating system half-way.

The estimate counts the big arrays of one sentence: the stages (T x d), the parameters, and per
variant its largest intermediates. It is a floor, not a bound: Python and the libraries add
their own (tens of MiB; a few hundred with torch).
"""

import re

from vectorize_cli.config import Config
from vectorize_cli.errors import UsageError, VectorizeError

UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "m": 1e6, "mb": 1e6, "mib": 2**20,
         "g": 1e9, "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12, "tib": 2**40}


def parse_size(text: str) -> int:
    """'4GiB', '512MB', '1e9', '2 gb' -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*", text.lower())
    if not m or m.group(2) not in UNITS:
        raise UsageError(f"--max-memory: cannot read {text!r}; write e.g. 4GiB, 512MB or 1e9")
    return int(float(m.group(1)) * UNITS[m.group(2)])


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError


def _attention(kernel: str, variant: str, T: int, c: Config, item: int) -> tuple[str, int]:
    """(what, bytes) of a variant's largest intermediate."""
    H, hs, d, B = c.heads, c.head_dim, c.dim, c.block_size
    if variant == "additive":
        return f"additive scores {T} x {T} x {d}", 2 * T * T * d * item  # the tanh argument and its value
    if kernel == "flash" and not c.weights:
        return f"flash tiles {H} x {min(B, T)} x {min(B, T)}", (3 * H * min(B, T) ** 2 + 6 * H * T * hs) * item
    heads = 1 if variant in ("scaled-dot", "self") else H
    return f"{variant} weights {heads} x {T} x {T}", 3 * heads * T * T * item  # scores, exp, weights


def estimate(c: Config, T: int) -> list[tuple[str, int]]:
    """The big arrays of one sentence of T tokens under config c, as (what, bytes)."""
    from vectorize_cli.attention import ATTENTION

    item = 4  # float32; half precision needs less, so this errs on the safe side
    d, width = c.dim, c.heads * c.head_dim
    parts = [(f"stages {T} x {c.dim}", 4 * T * d * item), (f"projections {T} x {width}", 4 * T * width * item),
             (f"parameters {d} x {width}", 4 * max(d, width) ** 2 * item)]
    parts += [_attention(ATTENTION[v].kernel, v, T, c, item) for v in c.attention if v in ATTENTION]
    return parts


def check(c: Config, T: int) -> None:
    """Refuse, naming the biggest array and the way out, when the estimate exceeds --max-memory."""
    parts = estimate(c, T)
    total = sum(n for _, n in parts)
    if total > c.max_memory:
        what, n = max(parts, key=lambda p: p[1])
        hint = "use -a flash (linear memory) or raise --max-memory" if "weights" in what or "scores" in what \
            else "use a smaller --dim or raise --max-memory"
        raise VectorizeError(f"this run needs about {human(total)} ({what}: {human(n)}), over --max-memory "
                             f"{human(c.max_memory)}; {hint}")
