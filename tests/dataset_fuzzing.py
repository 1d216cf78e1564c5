"""A dataset and index fuzzer (issue 26), in the spirit of tests/fuzzing.py and tests/model_fuzzing.py: small datasets
made by the real `vectorize embed` and `vectorize index` (float32, int8, binary), copied, then damaged at random:

    truncate    a file (a part, _SUCCESS, _index.usearch, _index.json) cut to a random length
    flip        1 to 8 random bytes of a file xor-ed with a random mask
    success     _SUCCESS's JSON: a key removed, a value of the wrong type, NaN / inf, huge numbers, nesting, a parts
                list with a part twice, missing, extra or reordered
    meta-one    one part's `vectorize` metadata (rewritten by pyarrow, checksums and footer kept) mutated as above
    meta-all    every part's, with values that are never valid (a consistent forge of valid values, such as other
                finite int8 ranges in every part, is beyond what a dataset records and is not generated)
    index-json  _index.json's JSON mutated as above
    files       a file removed, or a part copied under another part's name or a new one

Each damaged dataset is searched (exact and --ann) and verified in-process, and judged by check():

    search exit 0   the same bytes as the untampered dataset's search, nothing on stderr
    verify exit 0   search gives exit 0 too (verify never calls sound what search refuses)
    exit 1 or 2     exactly one stderr line `vectorize: error: ...`, nothing on stdout (verify: its report)
    never           a traceback, exit 70, another exit code, a signal, a Python warning

concurrent() runs two real `embed --force` processes into one directory at once: one may be refused (exit 2 naming
the holder's pid), and the dataset left is sound and equal to one embed's, byte for byte in every column.
Used by tests/test_dataset_fuzz.py (a fixed slice in CI) and benchmarks/fuzz.py --datasets (2,000+ cases).
"""

import json
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [f"sentence number {i} about {w}" for i, w in enumerate(
    ["cats", "dogs", "tea", "trains", "rain", "music", "games", "bread", "rivers", "snow", "chess", "kites"])]
TEXTS += ["café ünïcode 漢字", "a much longer line " * 20]
PRECISIONS = ("float32", "int8", "binary")
QUERY = "cats and dogs"
VALUES = [None, True, False, 0, -1, 1, 1.5, 2**63, 10**400, float("nan"), float("inf"), float("-inf"), "", "x",
          "384", [], {}, [1, 2], {"a": 1}, "part-00000.parquet"]
NEVER_VALID = [None, "", "x", [], {}, {"a": 1}, float("nan"), float("inf"), float("-inf"), 10**400]
DEEP = "[" * 100_000 + "]" * 100_000  # nested past any parser's recursion


def invoke(*args):
    from typer.testing import CliRunner

    from vectorize_cli.cli import app

    return CliRunner(env={"COLUMNS": "120"}).invoke(app, [str(a) for a in args])


@dataclass
class Case:
    base: str  # which made dataset: a precision
    damage: list[str] = field(default_factory=list)  # what was done, in words
    exits: tuple = ()  # (search, search --ann, verify) exit codes

    def __repr__(self) -> str:
        return f"{self.base}: {'; '.join(self.damage) or 'untampered'}"


@dataclass
class Base:
    path: Path
    search: str  # the untampered dataset's `search -F json` output
    ann: str  # and with --ann


def make_bases(root: Path) -> dict[str, Base]:
    """The datasets every case starts from: TEXTS embedded (parts of 5 rows: 3 parts) and indexed, per precision."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "in.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    bases = {}
    for p in PRECISIONS:
        out = root / p
        if not (out / "_index.json").exists():
            shutil.rmtree(out, ignore_errors=True)
            for args in (("embed", root / "in.txt", "-o", out, "--part-rows", 5, "--precision", p), ("index", out)):
                r = invoke(*args)
                assert r.exit_code == 0, r.stderr
        bases[p] = Base(out, *(invoke(*search_args(out, ann)).stdout for ann in (False, True)))
    return bases


def search_args(path: Path, ann: bool) -> list:
    return ["search", QUERY, "-D", path, "-F", "json", "-k", "20", *(["--ann"] if ann else [])]  # every row: any
    # vector or text changed changes the output


def _paths(doc, prefix=()) -> list[tuple]:
    """Every path into a JSON document (keys and indices), the root's children first; long lists: their first 3."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc[:3]) if isinstance(doc, list) else []
    for k, v in items:
        out.append((*prefix, k))
        out += _paths(v, (*prefix, k))
    return out


def mutate_json(rng: random.Random, doc, values: list, skip=()) -> tuple[object, str]:
    """One random change to a JSON document -> (the document, or a raw string to write; what was done)."""
    paths = [p for p in _paths(doc) if not any(p[: len(s)] == s for s in skip)]
    if not paths or rng.random() < 0.03:
        return (DEEP, "nested 100,000 deep") if rng.random() < 0.5 else (rng.choice(values), "replaced whole")
    path = rng.choice(paths)
    *parent_path, key = path
    parent = doc
    for k in parent_path:
        parent = parent[k]
    op = rng.random()
    if op < 0.25:
        del parent[key]
        return doc, f"{'.'.join(map(str, path))} removed"
    if op < 0.35 and isinstance(parent[key], list) and parent[key]:
        lst = parent[key]
        how = rng.choice(["twice", "reversed", "emptied", "one dropped"])
        parent[key] = {"twice": lst + lst[:1], "reversed": lst[::-1], "emptied": [], "one dropped": lst[1:]}[how]
        return doc, f"{'.'.join(map(str, path))} {how}"
    value = rng.choice(values)
    parent[key] = value
    return doc, f"{'.'.join(map(str, path))} = {value!r:.40}"


def _dump(doc) -> str:
    return doc if doc is DEEP else json.dumps(doc)  # NaN and Infinity as Python writes them


def _parts(d: Path) -> list[Path]:
    return sorted(d.glob("part-*.parquet"))


def _rewrite_meta(part: Path, text: str) -> None:
    import pyarrow.parquet as pq

    f = pq.ParquetFile(part, page_checksum_verification=True)  # a damaged page is never laundered into a new file
    footer = (f.metadata.metadata or {}).get(b"vectorize_part")
    t = f.read().replace_schema_metadata({b"vectorize": text.encode()})
    with pq.ParquetWriter(part, t.schema, write_page_checksum=True) as w:
        w.write_table(t, row_group_size=8192)
        if footer is not None:
            w.add_key_value_metadata({b"vectorize_part": footer})


def _vector_chunk(part: Path) -> tuple[int, int] | None:
    """The byte range of the vector column's pages in a part's first row group (None: unreadable)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(part).row_group(0)
        col = next(meta.column(c) for c in range(meta.num_columns)
                   if meta.column(c).path_in_schema.startswith("vector"))
    except Exception:  # noqa: BLE001 - an earlier damage
        return None
    start = col.dictionary_page_offset or col.data_page_offset
    return start, start + col.total_compressed_size


def damage(rng: random.Random, d: Path) -> str:
    """One random damage to the dataset in d, said in words: `KIND: what` (KIND one of the module's list)."""
    kind = rng.choice(["truncate", "flip", "flip", "success", "success", "meta-one", "meta-all", "index-json",
                       "files"])
    return f"{kind}: {_damage(rng, d, kind)}"


def _damage(rng: random.Random, d: Path, kind: str) -> str:
    files = sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        return "no file left"
    if kind in ("truncate", "flip"):
        f = rng.choice(files)
        data = bytearray(f.read_bytes())
        if kind == "truncate" or not data:
            n = rng.randrange(len(data)) if data else 0
            f.write_bytes(bytes(data[:n]))
            return f"{f.name} cut to {n} of {len(data)} bytes"
        lo, hi = 0, len(data)
        if f.name.startswith("part-") and rng.random() < 0.5:  # inside the vector column's pages
            lo, hi = _vector_chunk(f) or (lo, hi)
        at = sorted(rng.randrange(lo, hi) for _ in range(rng.choice([1, 1, 1, 2, 8])))
        for i in at:
            data[i] ^= rng.randrange(1, 256)
        f.write_bytes(bytes(data))
        return f"{f.name} bytes {at} flipped"
    if kind in ("success", "index-json"):
        f = d / ("_SUCCESS" if kind == "success" else "_index.json")
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (ValueError, OSError, RecursionError):
            return f"{f.name} not JSON already"
        doc, what = mutate_json(rng, doc, VALUES)
        f.write_text(_dump(doc), encoding="utf-8")
        return f"{f.name}: {what}"
    if kind.startswith("meta"):
        import pyarrow.parquet as pq

        parts = _parts(d)
        if not parts:
            return "no part to mutate"
        chosen = [rng.choice(parts)] if kind == "meta-one" else parts
        try:
            doc = json.loads(pq.read_schema(chosen[0]).metadata[b"vectorize"])
        except Exception:  # noqa: BLE001 - an earlier damage made it unreadable
            return "metadata unreadable already"
        values, skip = (VALUES, ()) if kind == "meta-one" else (NEVER_VALID, ())
        doc, what = mutate_json(rng, doc, values, skip)
        for part in chosen:
            try:
                _rewrite_meta(part, _dump(doc))
            except Exception:  # noqa: BLE001 - an earlier damage made this part unreadable: left as it is
                pass
        return f"{', '.join(p.name for p in chosen)}: {what}"
    parts = _parts(d)
    how = rng.choice(["remove", "copy-over", "copy-new"])
    if how == "remove" or len(parts) < 2:
        f = rng.choice(files)
        f.unlink()
        return f"{f.name} removed"
    a, b = rng.sample(parts, 2)
    target = b if how == "copy-over" else d / f"part-{len(parts) + rng.randrange(3):05d}.parquet"
    if target.exists() and target != b:  # parts numbered with a gap (an earlier removal): the new name is taken
        target = b
    shutil.copyfile(a, target)
    return f"{a.name} copied to {target.name}"


def _one_error(r, code_ok=(1, 2)) -> str | None:
    err = r.stderr.strip().splitlines()
    if r.exit_code not in code_ok:
        return f"exit {r.exit_code}: {r.stderr.strip()[:300]}"
    if len(err) != 1 or not err[0].startswith("vectorize: error: "):
        return f"exit {r.exit_code} with stderr {r.stderr[:500]!r}"
    return None


def check(base: Base, d: Path, case: Case | None = None) -> list[str]:
    """The damaged dataset in d searched (exact, --ann) and verified in-process: what broke the rules (see above);
    the exit codes go to case.exits."""
    failures = []
    results = {}
    for ann in (False, True):
        r = invoke(*search_args(d, ann))
        results[ann] = r
        what = "search --ann" if ann else "search"
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            failures.append(f"{what}: raised {type(r.exception).__name__}: {r.exception}")
        elif r.exit_code == 0:
            if r.stdout != (base.ann if ann else base.search):
                failures.append(f"{what}: exit 0 with other hits: {r.stdout[:300]!r}")
            if r.stderr:
                failures.append(f"{what}: exit 0 with stderr {r.stderr[:300]!r}")
        else:
            why = _one_error(r)
            if why is None and r.stdout:
                why = f"exit {r.exit_code} with stdout {r.stdout[:200]!r}"
            if why:
                failures.append(f"{what}: {why}")
    v = invoke("verify", d)
    if v.exception is not None and not isinstance(v.exception, SystemExit):
        failures.append(f"verify: raised {type(v.exception).__name__}: {v.exception}")
    elif v.exit_code == 0:
        if v.stderr or "sound" not in v.stdout:
            failures.append(f"verify: exit 0 with {v.stdout[:200]!r} {v.stderr[:200]!r}")
        if results[False].exit_code != 0:
            failures.append(f"verify says sound, search refuses: {results[False].stderr.strip()[:300]}")
    else:
        why = _one_error(v, (1,))
        if why is None and not v.stdout.strip():
            why = "exit 1 without a report on stdout"
        if why:
            failures.append(f"verify: {why}")
    if case is not None:
        case.exits = (results[False].exit_code, results[True].exit_code, v.exit_code)
    return failures


def run_case(rng: random.Random, bases: dict[str, Base], tmp: Path, n: int) -> tuple[Case, list[str]]:
    """One case: a base copied to tmp, 1 to 3 damages, then check()."""
    case = Case(rng.choice(PRECISIONS))
    d = tmp / f"case-{n}"
    shutil.copytree(bases[case.base].path, d)
    try:
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            case.damage.append(damage(rng, d))
        return case, check(bases[case.base], d, case)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def concurrent(rng: random.Random, root: Path, tmp: Path, n: int) -> tuple[str, list[str]]:
    """Two real `embed --force` into one directory, the second started after a random delay: refused (exit 2, one
    line naming the pid) or run after the first; the dataset left sound and equal to the base's, every column."""
    import time

    import pyarrow.parquet as pq

    out = tmp / f"concurrent-{n}"
    delay = rng.choice([0.0, 0.0, 0.5, 1.0, 2.0, 4.0])
    cmd = [sys.executable, "-m", "vectorize_cli", "embed", str(root / "in.txt"), "-o", str(out), "--part-rows", "5",
           "--force"]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    second = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    failures = []
    for p in (first, second):
        try:
            _, err = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            p.kill()
            failures.append("an embed did not finish in 300 s")
            continue
        err = err.decode(errors="replace")
        if p.returncode == 0:
            if err:
                failures.append(f"exit 0 with stderr {err[:200]!r}")
        elif p.returncode != 2 or err.count("\n") != 1 or "pid" not in err:
            failures.append(f"exit {p.returncode}: {err[:300]!r}")
    if {first.returncode, second.returncode} == {2}:
        failures.append("both refused")
    v = invoke("verify", out)
    if v.exit_code != 0:
        failures.append(f"verify: {v.stdout[:300]}")
    else:
        base = root / "float32"
        got = [pq.read_table(p).drop_columns([]) for p in _parts(out)]
        want = [pq.read_table(p) for p in _parts(base)]
        if len(got) != len(want) or not all(a.equals(b) for a, b in zip(got, want)):
            failures.append("the dataset left differs from one embed's")
    shutil.rmtree(out, ignore_errors=True)
    return f"two writers, the second {delay} s later", failures
