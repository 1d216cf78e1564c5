"""The HTML page: its size and its time to first render in headless Chromium, for MiniLM at
T = 16, 128, 256 and 512 tokens (6 layers x 12 heads; 512 from a copy of the model without
sentence_bert_config.json, which reads its whole position table) and the toy pipeline at T = 1,000.

    python benchmarks/html_page.py                 # 3 rounds each, medians; a Markdown table on stdout

build: trace to page bytes in Python (the pipeline not counted). render: from navigation to the page's
script marking itself ready (data decoded, every view drawn), Playwright driving the system's Chromium;
script: the part of it the page's own script took (performance.now()).
"""

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vectorize_cli.config import Config  # noqa: E402
from vectorize_cli.views.html import page  # noqa: E402
from vectorize_cli.pipelines.bert import trace as model_trace  # noqa: E402
from vectorize_cli.pipelines.toy import trace as toy_trace  # noqa: E402


def minilm_512(folder: Path):
    """all-MiniLM-L6-v2 read past its 256 tokens: figure.minilm_512's folder, loaded."""
    from figure import minilm_512 as files  # benchmarks/figure.py, beside this script

    from vectorize_cli.model.bert import load

    return load(str(files(folder)))


def render(browser, path: Path, timeout_ms: int) -> tuple[float, float]:
    """One fresh tab opening the page at path until it says it is drawn -> (seconds to that, the page's own
    script's seconds)."""
    tab = browser.new_page(viewport={"width": 1400, "height": 900})
    t0 = time.perf_counter()
    tab.goto(path.as_uri())
    tab.wait_for_selector("body[data-ready='1']", timeout=timeout_ms)
    took = time.perf_counter() - t0
    script = tab.evaluate("window.vectorizeRenderMs") / 1000
    tab.close()
    return took, script


def cases(tmp: str) -> dict:
    from vectorize_cli.model.bert import load
    model = load("minilm")
    out = {}
    for T in (16, 128, 256, 512):
        t = model_trace(model if T <= 256 else minilm_512(Path(tmp) / "minilm-512"), " ".join(["cat"] * (T - 2)))
        assert len(t.tokens) == T
        out[f"MiniLM, T = {T} (6 layers x 12 heads)"] = [t]
    words = " ".join(f"w{i}" for i in range(1000))
    t = toy_trace(words, Config())
    assert len(t.tokens) == 1000
    out["toy multi-head, T = 1,000 (2 heads, d = 8)"] = [t]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("VECTORIZE_CHROMIUM") or shutil.which("chromium")
    rows = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path=chromium)
        for name, traces in cases(tmp).items():
            t0 = time.perf_counter()
            html = page(traces)
            build = time.perf_counter() - t0
            path = Path(tmp) / "page.html"
            path.write_bytes(html)
            renders, scripts = zip(*(render(browser, path, 300_000) for _ in range(a.rounds)))
            rows.append((name, len(html), build, statistics.median(renders), statistics.median(scripts)))
        version = browser.version
        browser.close()
    print(f"Chromium {version} headless, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {a.rounds} rounds, medians\n")
    print("| page | size | build s | render s | of which script s |\n|---|---|---|---|---|")
    for name, size, build, took, script in rows:
        print(f"| {name} | {size / 1e6:.2f} MB | {build:.2f} | {took:.2f} | {script:.2f} |")


if __name__ == "__main__":
    main()
