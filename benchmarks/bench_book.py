"""How fast the built book reaches a reader: first paint, figures drawn and bytes moved, per page.

Serves ``_build/html`` on 127.0.0.1 compressed with gzip (as GitHub Pages serves it), opens each page in headless
Chromium with an empty cache and a throttled network (default 9 Mbit/s down, 40 ms latency, through the DevTools
protocol), and prints per page: first contentful paint, when every figure is drawn, and the bytes transferred.

    python -m benchmarks.bench_book [--book _build/html] [--mbit 9] [--latency-ms 40] [--target-ms 1500] [PAGE ...]

Exits 1 when a page's first contentful paint is over ``--target-ms``. ``tests/browser/test_book_browser.py`` runs
the same measurement (``measure_pages``) and holds every page to the target.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import io
import os
import re
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "_build" / "html"
CHROMIUM = os.environ.get("MHA_CHROMIUM", "/usr/bin/chromium")  # Debian's, never a downloaded browser
COMPRESSED = (".html", ".js", ".css", ".json", ".svg", ".txt", ".map")

WAIT_DRAWN_JS = """() => document.readyState !== 'loading' && Array.from(document.querySelectorAll('.plotly-graph-div'))
    .every(gd => gd.querySelector('.main-svg') && gd._fullLayout)"""

TIMINGS_JS = """() => {
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const nav = performance.getEntriesByType('navigation')[0];
    const bytes = performance.getEntriesByType('resource').reduce((s, r) => s + r.transferSize, nav.transferSize);
    return {fcp: fcp ? fcp.startTime : null, bytes, figures: document.querySelectorAll('.plotly-graph-div').length,
            plotly: performance.getEntriesByType('resource').some(r => r.name.includes('plotly'))};
}"""


class GzipHandler(SimpleHTTPRequestHandler):
    """A static file server that gzips text files, like GitHub Pages."""

    def log_message(self, *args):
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not (path.is_file() and path.suffix in COMPRESSED and "gzip" in self.headers.get("Accept-Encoding", "")):
            return super().send_head()
        body = gzip.compress(path.read_bytes(), compresslevel=6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


def serve(book: Path = BOOK):
    """Start the gzip server on a free port of 127.0.0.1; returns (base_url, server)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(GzipHandler, directory=str(book)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/", httpd


def measure_page(browser, url: str, mbit: float = 9.0, latency_ms: float = 40.0) -> dict:
    """Open ``url`` cold in a new context over the throttled network; return fcp_ms, drawn_ms, kbytes, figures."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    rate = mbit * 1e6 / 8  # bytes per second
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": latency_ms, "downloadThroughput": rate, "uploadThroughput": rate},
    )
    page.goto(url, wait_until="commit", timeout=120_000)
    page.wait_for_function(WAIT_DRAWN_JS, timeout=120_000, polling=50)
    drawn_ms = page.evaluate("performance.now()")  # since the navigation started
    page.wait_for_load_state("load", timeout=120_000)
    timings = page.evaluate(TIMINGS_JS)
    context.close()
    return {
        "fcp_ms": timings["fcp"],
        "drawn_ms": drawn_ms if timings["figures"] else None,
        "kbytes": timings["bytes"] / 1000,
        "figures": timings["figures"],
        "plotly": timings["plotly"],
    }


def toc_pages(root: Path = ROOT) -> list[str]:
    """The book's pages in the order of ``_toc.yml``, as HTML paths relative to the built book."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    return [re.sub(r"\.(md|ipynb)$", "", f) + ".html" for f in files]


def book_pages(book: Path = BOOK) -> list[str]:
    """The pages a reader reads: every page of the table of contents that the built book has."""
    return [p for p in toc_pages() if (book / p).is_file()]


def measure_pages(
    browser, base: str, pages: list[str], mbit: float = 9.0, latency_ms: float = 40.0, progress: bool = False
) -> dict:
    """Measure every page twice and keep each page's faster run (a busy machine can stall one load)."""
    results = {}
    for rel in pages:
        runs = [measure_page(browser, base + rel, mbit, latency_ms) for _ in range(2)]
        results[rel] = min(runs, key=lambda r: r["fcp_ms"] if r["fcp_ms"] is not None else float("inf"))
        if progress:
            print(format_table({rel: results[rel]}).splitlines()[1], file=sys.stderr, flush=True)
    return results


def format_table(results: dict) -> str:
    lines = [f"{'page':44s} {'first paint':>12s} {'figures drawn':>14s} {'kB moved':>9s} figures"]
    for rel, r in results.items():
        drawn = f"{r['drawn_ms']:.0f} ms" if r["drawn_ms"] is not None else "-"
        fcp = f"{r['fcp_ms']:.0f} ms" if r["fcp_ms"] is not None else "none"
        lines.append(f"{rel:44s} {fcp:>12s} {drawn:>14s} {r['kbytes']:9.0f} {r['figures']:7d}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help="pages relative to the book (default: every page)")
    parser.add_argument("--book", type=Path, default=BOOK, help="the built book's HTML folder (default: _build/html)")
    parser.add_argument("--mbit", type=float, default=9.0)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--target-ms", type=float, default=1500.0)
    args = parser.parse_args(argv)
    if not (args.book / "index.html").is_file():
        sys.exit(f"the book is not built at {args.book}: run `make book` first")
    from playwright.sync_api import sync_playwright

    base, httpd = serve(args.book)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
        results = measure_pages(browser, base, args.pages or book_pages(args.book), args.mbit, args.latency_ms, True)
        browser.close()
    httpd.shutdown()
    print(f"{args.mbit:g} Mbit/s, {args.latency_ms:g} ms latency, gzip, empty cache (best of 2 loads)")
    print(format_table(results))
    slow = [rel for rel, r in results.items() if r["fcp_ms"] is None or r["fcp_ms"] > args.target_ms]
    print(f"first contentful paint under {args.target_ms:.0f} ms: {len(results) - len(slow)} of {len(results)} pages")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
