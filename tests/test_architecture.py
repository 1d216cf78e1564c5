"""The shape of the code, held by tests: every module in docs/architecture.md's map, imports only down its layers, no
cycles, no module-level name meaning two things, no module over 300 lines, and the default `run`
never imports what it does not need."""

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vectorize_cli"
MAP = ROOT / "docs" / "architecture.md"


def _layers() -> list[list[str]]:
    """docs/architecture.md's map, lower layers first: a row `| `path/module.py` | layer | job |` per module; a module
    may import only from its own layer or below."""
    rows = re.findall(r"^\| `([\w/]+)\.py` \| (\d+) \|", MAP.read_text(encoding="utf-8"), re.MULTILINE)
    assert rows, f"{MAP}: no table of modules"
    layers: list[list[str]] = [[] for _ in range(max(int(n) for _, n in rows) + 1)]
    for path, n in rows:
        layers[int(n)].append(path.replace("/", "."))
    return layers


LAYERS = _layers()
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


def test_every_module_is_in_the_map_once():
    names, modules = [n for layer in LAYERS for n in layer], set(_modules())
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert modules <= set(LAYER), f"not in {MAP.name}'s map: {sorted(modules - set(LAYER))}"
    assert set(LAYER) <= modules, f"in {MAP.name}'s map, not in vectorize_cli: {sorted(set(LAYER) - modules)}"
    assert all(LAYERS), f"{MAP.name}: a layer with no module: {[i for i, layer in enumerate(LAYERS) if not layer]}"


def test_package_docstrings_name_only_their_modules():
    """A package's docstring that names its modules (model/__init__.py did, long after they moved) names files
    that are there."""
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        named = set(re.findall(r"(?<![\w/.])([\w/]+\.py)\b", doc))  # beside it, or a path from the package's root
        missing = {n for n in named if not (init.parent / n).is_file() and not (PACKAGE / n).is_file()}
        assert not missing, (str(init.relative_to(ROOT)), sorted(missing))


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


SAME_MEANING = {"EPILOG": "commands.", "trace": "pipelines.", "encode": "pipelines.", "probe": "pipelines.",
                "forward": "model.", "embed_chunks": "corpus."}


def test_no_module_level_name_means_two_things():
    """Functions, classes and constants defined at module level, in every module of the package: one name,
    one place. Some names are defined alike on purpose, as one interface: EPILOG (each command module's
    examples), trace, encode and probe (each pipeline's, which pipelines.of picks by the model's family), forward
    (each model family's forward pass, one signature) and embed_chunks (each corpus engine's chunks -> vectors)."""
    where = defaultdict(list)
    for name, path in _modules().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            else:  # X = ..., X = Y = ..., and annotated X: T = ... (or X: T alone)
                targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
                names = [t.id for t in targets if isinstance(t, ast.Name)]
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
