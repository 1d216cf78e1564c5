"""The README's pictures: the HTML page of the toy pipeline and of MiniLM (screenshots in headless Chromium)
and a static figure of MiniLM's attention; `explain`'s page.

    python docs/screenshots.py            # writes docs/html-toy.png, docs/html-minilm.png, docs/attention.svg
    python docs/screenshots.py explain    # writes docs/html-explain.png
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

from vectorize_cli.config import Config  # noqa: E402
from vectorize_cli.model.bert import load  # noqa: E402
from vectorize_cli.views.figure import figure  # noqa: E402
from vectorize_cli.views.html import page  # noqa: E402
from vectorize_cli.pipelines.bert import trace as model_trace  # noqa: E402
from vectorize_cli.pipelines.toy import trace as toy_trace  # noqa: E402

SENTENCE = "The cat sat on the mat."


def shoot(browser, html: bytes, out: Path, token: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "page.html"
        path.write_bytes(html)
        tab = browser.new_page(viewport={"width": 1280, "height": height}, color_scheme="light")
        tab.goto(path.as_uri())
        tab.wait_for_selector("body[data-ready='1']")
        tab.hover(f".headview text.q[data-i='{token}']")
        tab.screenshot(path=str(out))
        tab.close()


def explain_shot(browser, a: str = "The cat sat on the mat.", b: str = "A cat is sitting on a rug.") -> None:
    """`vectorize explain A B -m minilm -F html`, its top, with the pointer on the pair of largest term."""
    from vectorize_cli.encoder import Encoder
    from vectorize_cli.explain import explain_pair
    from vectorize_cli.views.explain_page import explain_page

    enc = Encoder.open("minilm")
    e = explain_pair(enc.trace(a), enc.trace(b), enc.encode([a, b]).vectors)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "page.html"
        path.write_bytes(explain_page(e, title=f'vectorize explain "{a}" "{b}" --model minilm'))
        tab = browser.new_page(viewport={"width": 1000, "height": 1180}, color_scheme="light")
        tab.goto(path.as_uri())
        tab.wait_for_selector("body[data-ready='1']")
        (i, j, _), (n, m) = e.top(1)[0], e.pairs.shape
        canvas = tab.locator("figure .heat canvas").first
        box = canvas.bounding_box()
        canvas.hover(position={"x": 1 + (j + 0.5) * (box["width"] - 2) / m, "y": 1 + (i + 0.5) * (box["height"] - 2) / n})
        tab.screenshot(path=str(DOCS / "html-explain.png"))
        tab.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    if sys.argv[1:] == ["explain"]:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=os.environ.get("VECTORIZE_CHROMIUM") or shutil.which("chromium"))
            explain_shot(browser)
            browser.close()
        return

    model = load("minilm")
    minilm = model_trace(model, SENTENCE)
    toy = toy_trace(SENTENCE, Config(attention=("multi-head", "self", "additive"), heads=3, dim=12))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("VECTORIZE_CHROMIUM") or shutil.which("chromium"))
        shoot(browser, page([toy], title=f"vectorize run \"{SENTENCE}\" -a multi-head -a self -a additive"),
              DOCS / "html-toy.png", 1, 900)
        shoot(browser, page([minilm], title=f"vectorize run \"{SENTENCE}\" --model minilm"), DOCS / "html-minilm.png",
              2, 1000)
        browser.close()
    (DOCS / "attention.svg").write_bytes(figure(minilm, layer=5))


if __name__ == "__main__":
    main()
