"""Render xsell's HTML reports in a real headless browser and check what a person would see.

Run (about 20 seconds; needs Chromium: `apt-get install chromium`, and xsell[report]):

    python benchmarks/render_reports.py                   # screenshots into a temporary folder
    python benchmarks/render_reports.py --keep shots/     # keep the HTML pages and PNG screenshots

Reports (from the synthetic shop, so no download is needed):
  diff        `xsell diff` of a model fitted on the first half of the orders against one fitted on all
              of them, --report (issue 13: the knowledge base's changes)
  evaluation  `xsell evaluate --models cooccurrence,popular --report` (the offline comparison)
Each page is opened by `chromium --headless` from a file:// URL with the network cut off
(--proxy-server to nowhere: a page that needed anything from outside would show it missing), and
screenshotted at 1200 x 2400. Checked on the screenshot: the share of pixels that are not white
(blank page: ~0), the share in matplotlib's first colour (the plots drew), and that every <img> of the
page decoded (Chromium's --dump-dom after load reports each image's natural width). The table prints
each page's size, render time and these shares; the script exits 1 when a page looks blank or a plot
is missing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import emit, log  # noqa: E402

import xsell  # noqa: E402
from xsell.datasets import synthetic_shop  # noqa: E402

XSELL = Path(sys.executable).with_name("xsell")
PLOT_BLUE = np.array([31, 119, 180]) / 255  # matplotlib's C0


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("needs Chromium (apt-get install chromium)")


def _screenshot(browser: str, page: Path, png: Path) -> float:
    start = time.perf_counter()
    subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--proxy-server=127.0.0.1:9", "--window-size=1200,2400", f"--screenshot={png}",
                    page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    return time.perf_counter() - start


def _images_decoded(browser: str, page: Path) -> tuple[int, int]:
    """(images in the page, images Chromium decoded): a data: PNG that fails to decode has width 0."""
    script = page.with_suffix(".probe.html")
    html = page.read_text(encoding="utf-8")
    probe = ("<script>window.addEventListener('load',()=>{const i=[...document.images];"
             "document.title=i.length+':'+i.filter(x=>x.naturalWidth>0).length;});</script>")
    script.write_text(html.replace("</body>", probe + "</body>"), encoding="utf-8")
    out = subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
                          "--virtual-time-budget=5000", "--dump-dom", script.resolve().as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    script.unlink()
    found = re.search(r"<title>(\d+):(\d+)</title>", out)
    return (int(found.group(1)), int(found.group(2))) if found else (-1, -1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, default=None, help="keep pages and screenshots in this folder")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = ap.parse_args()
    from matplotlib.image import imread

    browser = _chromium()
    with tempfile.TemporaryDirectory(prefix="xsell-render-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        shop = synthetic_shop(0)
        frame = shop.orders.to_frame()
        frame.to_csv(folder / "orders.csv", index=False)
        half = frame[frame["order_id"].isin(frame["order_id"].unique()[: frame["order_id"].nunique() // 2])]
        xsell.save_model(xsell.CoOccurrence().fit(xsell.load_orders(half)), folder / "old.xsell")
        xsell.save_model(xsell.CoOccurrence().fit(shop.orders), folder / "new.xsell")
        runs = {"diff": ["diff", "old.xsell", "new.xsell", "--report", "diff.html"],
                "evaluation": ["evaluate", "orders.csv", "--models", "cooccurrence,popular", "--report",
                               "evaluation.html"]}
        rows, failed = [], []
        for name, argv in runs.items():
            log(f"xsell {' '.join(argv)}")
            subprocess.run([str(XSELL), "--quiet", *argv], cwd=folder, check=True, capture_output=True,
                           timeout=600)
            page = folder / f"{name}.html"
            png = folder / f"{name}.png"
            seconds = _screenshot(browser, page, png)
            pixels = imread(png)[..., :3]
            ink = float((pixels.min(axis=2) < 0.9).mean())
            blue = float((np.abs(pixels - PLOT_BLUE).max(axis=2) < 0.08).mean())
            images, decoded = _images_decoded(browser, page)
            ok = ink > 0.02 and blue > 0.001 and images > 0 and decoded == images
            if not ok:
                failed.append(name)
            rows.append(f"| {name} | {page.stat().st_size / 1024:.0f} KB | {seconds:.2f} s | {ink:.1%} | "
                        f"{blue:.2%} | {decoded}/{images} | {'looks right' if ok else 'BLANK OR BROKEN'} |")
        table = ["| report | page size | render | non-white pixels | plot colour | images decoded | verdict |",
                 "|---|---|---|---|---|---|---|", *rows]
        emit("\n".join(table), args.markdown)
        if args.keep:
            log(f"pages and screenshots in {folder}")
    if failed:
        raise SystemExit(f"looks wrong: {', '.join(failed)}")


if __name__ == "__main__":
    main()
