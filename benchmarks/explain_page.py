"""`vectorize explain --format html`: the page's size and its time to first render in headless Chromium, for two
MiniLM texts of T = 16, 128 and 256 tokens each (T x T pair terms; single-token words drawn with a fixed seed),
and the time to explain them.

    python benchmarks/explain_page.py              # 3 rounds each, medians; a Markdown table on stdout

explain: two traces, the encoder's two vectors and the split (Python, the model's run included); build: the
Explanation to page bytes; render: from navigation to the page's script marking itself ready, Playwright
driving the system's Chromium; script: the part of it the page's own script took (performance.now()).
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

import numpy as np  # noqa: E402

from vectorize_cli.encoder import Encoder  # noqa: E402
from vectorize_cli.explain import explain_pair  # noqa: E402
from vectorize_cli.views.explain_page import explain_page  # noqa: E402
from html_page import render  # noqa: E402  benchmarks/html_page.py, beside this script

WORDS = "the cat sat on a mat dog ran to house man ate food sky is blue red green tree book day night water".split()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    encoder = Encoder.open("minilm")
    rng = np.random.default_rng(20261206)
    rows = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path=os.environ.get("VECTORIZE_CHROMIUM") or shutil.which("chromium"))
        for T in (16, 128, 256):
            texts = [" ".join(rng.choice(WORDS, T - 2)) for _ in range(2)]
            explains, builds, renders, scripts = [], [], [], []
            for _ in range(a.rounds):
                t0 = time.perf_counter()
                e = explain_pair(*(encoder.trace(t) for t in texts), encoder.encode(texts).vectors)
                t1 = time.perf_counter()
                html = explain_page(e)
                builds.append(time.perf_counter() - t1)
                explains.append(t1 - t0)
                assert e.pairs.shape == (T, T)
                path = Path(tmp) / "page.html"
                path.write_bytes(html)
                took, script = render(browser, path, 60_000)
                renders.append(took)
                scripts.append(script)
            med = statistics.median
            rows.append(f"| MiniLM, {T} x {T} tokens | {len(html) / 2**20:.2f} MB | {med(explains):.2f} | "
                        f"{med(builds):.3f} | {med(renders):.2f} | {med(scripts):.2f} |")
        version = browser.version
        browser.close()
    print(f"Python {platform.python_version()}, Chromium {version}, {os.cpu_count()} cores, "
          f"{a.rounds} rounds, medians\n")
    print("| page | size | explain s | build s | render s | of which script s |\n|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
