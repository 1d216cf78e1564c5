"""The shape of the code, held by tests: imports only go down the layers (docs/architecture.md), no
cycles, no module-level name meaning two things, no module over 300 lines, and the default `run`
never imports what it does not need."""

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vectorize_cli"

# lower layers first; a module may import only from its own layer or below (docs/architecture.md)
LAYERS = [
    ["errors", "seeded", "config", "parallel", "pooling", "tokens", "embedding", "positional", "backend", "trace",
     "safe_read",
     "focus"],
    ["attention.kernels", "attention.dispatch", "attention.sdpa", "attention.params", "attention.variants",
     "attention.rollout",
     "model.nn", "model.object_cache", "model.compiled", "model.files", "model.weights", "model.tokenizer", "model.validate", "model.bert"],
    ["memory", "compare", "model.budget"],
    ["pipelines.toy", "pipelines.bert", "views.matrix", "views.table", "views.json", "views.figure",
     "views.attention_tables", "views.formats"],
    ["sink", "inputs", "progress", "output", "example", "bench", "plot", "views.html", "views.pictures"],
    ["corpus.inputs", "corpus.quantize", "corpus.dataset", "corpus.local", "corpus.ray_engine", "corpus.job",
     "search.dataset", "search.vectors", "search.topk", "search.exact", "search.ann", "search.query", "search.hits"],
    ["commands.options", "commands.command", "commands.model", "commands.run", "commands.similarity", "commands.info", "commands.bench",
     "commands.embed", "commands.search"],
    ["cli", "__main__"],
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if not name.endswith("__init__"):
            out[name] = path
    return out


def _imports(path: Path) -> set[str]:
    """Every vectorize_cli module this file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vectorize_cli"):
            base = node.module.removeprefix("vectorize_cli").lstrip(".")
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                found.add(candidate if candidate in LAYER else base)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("vectorize_cli.") for a in node.names if a.name.startswith("vectorize_cli.")}
    return {m for m in found if m}


def test_every_module_has_a_layer():
    assert set(_modules()) - {"__init__"} <= set(LAYER), set(_modules()) - set(LAYER)


@pytest.mark.parametrize("name", sorted(LAYER))
def test_imports_go_down_the_layers(name):
    path = _modules().get(name)
    if path is None:
        pytest.fail(f"{name} is in LAYERS but not in the package")
    for imported in _imports(path):
        if imported in ("", "__init__"):
            continue
        assert imported in LAYER, f"{name} imports {imported}, which has no layer"
        assert LAYER[imported] <= LAYER[name], f"{name} (layer {LAYER[name]}) imports {imported} (layer {LAYER[imported]})"


def test_no_import_cycles():
    graph = {name: {m for m in _imports(p) if m in LAYER} for name, p in _modules().items()}
    state: dict[str, int] = {}

    def visit(n, stack):
        state[n] = 1
        for m in graph.get(n, ()):
            assert state.get(m) != 1, " -> ".join([*stack, n, m])
            if m not in state:
                visit(m, [*stack, n])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [])


SAME_MEANING = {"EPILOG": "commands.", "trace": "pipelines.", "embed_chunks": "corpus."}


def test_no_module_level_name_means_two_things():
    """Functions, classes and constants defined at module level, in every module of the package: one name,
    one place. Three names are defined alike on purpose, as one interface: EPILOG (each command module's
    examples), trace (each pipeline's text -> Trace) and embed_chunks (each corpus engine's chunks -> vectors)."""
    where = defaultdict(list)
    for name, path in _modules().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = [node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else \
                [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
            for n in names:
                where[n].append(name)
    twice = {n: ms for n, ms in where.items() if len(ms) > 1 and n not in SAME_MEANING}
    assert not twice, twice
    for n, prefix in SAME_MEANING.items():
        assert all(m.startswith(prefix) for m in where[n]), (n, where[n])


def test_small_files():
    sizes = {name: len(p.read_text(encoding="utf-8").splitlines()) for name, p in _modules().items()}
    assert max(sizes.values()) <= 300, {n: s for n, s in sizes.items() if s > 300}
    assert sizes["cli"] < 200


def test_the_default_run_imports_no_heavy_module():
    code = ("import sys; sys.argv = ['vectorize', 'run', 'hi', '-F', 'json']; from vectorize_cli.__main__ import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'pyarrow', 'ray', 'matplotlib', 'safetensors', 'tokenizers', 'playwright')"
            " if m in sys.modules]\nsys.stderr.write(repr(heavy))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stderr.strip().endswith("[]"), r.stderr
