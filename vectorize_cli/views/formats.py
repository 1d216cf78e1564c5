"""FORMATS: every `--format` the tool writes, in one registry: which kinds of result each draws, what it
draws of each (for --help), and which of the options that only some formats read it reads.

A command declares the kinds of result it makes (KINDS); its --format choices are the formats that draw
one of them (commands/options.format_option), so --help lists exactly what the command can write, and an
option given with a format that does not read it is a usage error saying which formats do
(commands/options.check_reads). Names only: the writers are output.py's (table, json, jsonl, npy) and
views/pictures.py's (html, svg, png, pdf); this module imports nothing, so the CLI starts light.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class View:
    draws: dict[str, str]  # kind of result -> what it writes of it, for --help ("" says nothing more)
    reads: frozenset[str] = field(default_factory=frozenset)  # options read by some formats only: these


# kind of result -> the options its making reads, whatever the format (the others are each format's)
KINDS: dict[str, frozenset[str]] = {
    "trace": frozenset(),  # run: every stage of a sentence (the toy's or a model's)
    "vectors": frozenset({"batch_size"}),  # run --model -F npy: the sentence vectors, in batches
    "similarity": frozenset({"batch_size"}),  # similarity: the cosine of every pair
    "example": frozenset(),  # example: the article's worked example
    "variants": frozenset(),  # variants: the registry of attention variants
    "bench": frozenset(),  # bench: time and memory against sequence length
    "hits": frozenset({"batch_size"}),  # search: the nearest rows to each query
    "explain": frozenset(),  # explain: two texts' cosine split by token pairs and layers
    "verify": frozenset(),  # verify: a dataset's problems, one a line
}
RECORDS = {kind: "" for kind in KINDS if kind != "vectors"}  # every kind but raw vectors has a record
PICTURE = {"trace": "a figure of one sentence", "explain": "a figure"}

FORMATS: dict[str, View] = {
    "table": View(RECORDS, frozenset({"decimals", "token", "layer", "head", "rollout"})),
    "json": View(RECORDS, frozenset({"omit", "layer", "head", "rollout"})),
    "jsonl": View({**RECORDS, "trace": "a record a line", "hits": "a line a query"},
                  frozenset({"omit", "layer", "head", "rollout"})),
    "npy": View({"vectors": "--model's sentence vectors", "similarity": "the cosine matrix"}),
    "html": View({"trace": "a page", "similarity": "a page", "example": "a page", "explain": "a page"},
                 frozenset({"token"})),
    "svg": View(PICTURE, frozenset({"layer", "head"})),
    "png": View(PICTURE, frozenset({"layer", "head"})),
    "pdf": View(PICTURE, frozenset({"layer", "head"})),
}
# the options only some formats (or kinds of result) read: given where none reads them, an error
VIEW_OPTIONS = frozenset().union(*(v.reads for v in FORMATS.values()), *KINDS.values())


def formats_for(kinds: tuple[str, ...]) -> dict[str, str]:
    """The formats that draw one of kinds -> the kind each draws (a command's first that it can)."""
    return {name: next(k for k in kinds if k in v.draws) for name, v in FORMATS.items()
            if any(k in v.draws for k in kinds)}


def reads(name: str, kind: str) -> frozenset[str]:
    """The options that --format name reads when it draws kind."""
    return FORMATS[name].reads | KINDS[kind]


def describe(kinds: tuple[str, ...]) -> str:
    """--format's help: "table, json, jsonl (a record a line) or html (a page)"; formats that say the same
    thing share it ("svg, png or pdf (a figure of one sentence)")."""
    drawn = formats_for(kinds)
    said = [FORMATS[n].draws[k] for n, k in drawn.items()]
    words = [n + (f" ({s})" if s and (i + 1 == len(said) or said[i + 1] != s) else "")
             for i, (n, s) in enumerate(zip(drawn, said))]
    return (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]) + "."
