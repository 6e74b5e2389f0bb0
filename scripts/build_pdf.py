"""The whole book as one PDF, from the built HTML book, offline: ``make pdf``.

    python scripts/build_pdf.py [--book _build/html] [--out _build/pdf/book.pdf] [--no-solutions]

Serves the built book on 127.0.0.1 and prints each page of the table of contents (``_toc.yml``, in its order)
with headless Chromium (``/usr/bin/chromium`` through playwright, ``page.pdf()``; nothing is downloaded), in the
theme's light mode and its print layout. Before a page is printed:

- every plotly figure is drawn at the printed text's width and kept as plotly's own SVG (vectors, real text);
  its toolbar and keyboard controls are left out;
- all math is typeset by MathJax;
- exercise solutions are opened (or, with ``--no-solutions``, removed together with their code cells), and
  other dropdowns are opened; hidden cells and the figures' number tables stay closed.

The pages' PDFs are merged with pypdf into one file, with one bookmark per page of the book.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import re
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_book import toc_pages  # noqa: E402  (the book's pages in the order of _toc.yml)

BOOK = ROOT / "_build" / "html"
OUT = ROOT / "_build" / "pdf" / "book.pdf"
CHROMIUM = os.environ.get("MHA_CHROMIUM", "/usr/bin/chromium")  # Debian's, never a downloaded browser
TIMEOUT_MS = 120_000
MARGIN_MM = 14
PRINT_WIDTH_PX = round((210 - 2 * MARGIN_MM) / 25.4 * 96)  # A4's width less the margins, in CSS pixels

FIGURES_JS = "Array.from(document.querySelectorAll('.plotly-graph-div'))"

READY_JS = f"""() => {{
    const drawn = {FIGURES_JS}.every(gd => gd.querySelector('.main-svg') && gd._fullLayout);
    const math = !document.querySelector('.math') || (window.MathJax && MathJax.startup && MathJax.startup.document
        && document.querySelectorAll('.math').length === document.querySelectorAll('.math mjx-container').length);
    return drawn && math;
}}"""

# The print layout: no toolbars, keyboard overlays or launch buttons; long code lines wrap; wide math shrinks.
PRINT_CSS = """
.modebar-container, .mha-controls, .header-article, .prev-next-area, .bd-footer-article,
.bd-sidebar-primary, .bd-sidebar-secondary, .bd-header, #pst-skip-link, .toggle-button { display: none !important; }
pre, pre code { white-space: pre-wrap !important; word-break: break-word; }
mjx-container[display="true"] { overflow: visible !important; max-width: 100%; }
.plotly-graph-div, .cell_output, figure { break-inside: avoid; }
.bd-article-container, .bd-main .bd-content { max-width: none !important; }
"""

PREPARE_JS = """(solutions) => {
    document.documentElement.dataset.theme = 'light';
    document.documentElement.dataset.mode = 'light';
    if (solutions) {
        document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
    } else {
        document.querySelectorAll('.solution, .tag_solution').forEach(e => e.remove());
        document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
    }
    // sphinx-exercise solutions and hints are togglebutton dropdowns: nothing of them may stay hidden in print
    document.querySelectorAll('.dropdown.admonition > *').forEach(e => { e.style.display = ''; });
    // the answers of "Check your understanding" are <details>: printed open (a figure's table of numbers stays shut)
    document.querySelectorAll('details:not(.mha-figure-data)').forEach(e => { e.open = true; });
    return {figures: document.querySelectorAll('.plotly-graph-div').length,
            solutions: document.querySelectorAll('.solution').length};
}"""

# Every figure drawn at the width the printed text has, and no longer resized by the window.
FIX_FIGURES_JS = f"""(width) => Promise.all({FIGURES_JS}.map(gd => {{
    if (gd._responsiveChartHandler) window.removeEventListener('resize', gd._responsiveChartHandler);
    return Plotly.relayout(gd, {{width: Math.floor(width), autosize: false}});
}}))"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _title(page) -> str:
    return page.evaluate("(document.querySelector('.bd-article h1') || {}).textContent || document.title").strip(" #¶")


def print_page(context, url: str, solutions: bool) -> tuple[bytes, str, dict]:
    """One page of the book as PDF bytes, with its title and what was prepared on it."""
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.route(re.compile(r"^(https?|wss?)://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    page.add_init_script("localStorage.setItem('mode', 'light'); localStorage.setItem('theme', 'light');")
    page.goto(url, wait_until="load")
    page.wait_for_function(READY_JS, timeout=TIMEOUT_MS)
    if page.evaluate("!!(window.MathJax && MathJax.startup && MathJax.startup.promise)"):
        page.evaluate("MathJax.startup.promise")
    info = page.evaluate(PREPARE_JS, solutions)
    page.add_style_tag(content=PRINT_CSS)
    page.emulate_media(media="print")
    # the window as wide as the paper's printed area: the figures are measured in the layout that is printed
    page.set_viewport_size({"width": PRINT_WIDTH_PX, "height": 1100})
    if info["figures"]:
        width = page.evaluate("(document.querySelector('.bd-article') || document.body).getBoundingClientRect().width")
        page.evaluate(FIX_FIGURES_JS, max(320, width - 4))
        page.wait_for_function(READY_JS, timeout=TIMEOUT_MS)
    title = _title(page)
    pdf = page.pdf(
        format="A4",
        print_background=True,
        margin={"top": "16mm", "bottom": "16mm", "left": f"{MARGIN_MM}mm", "right": f"{MARGIN_MM}mm"},
        display_header_footer=True,
        header_template="<span></span>",
        footer_template=(
            '<div style="font-size: 8px; width: 100%; text-align: center; color: #666;">'
            f"{_escape(title)} · <span class='pageNumber'></span> / <span class='totalPages'></span></div>"
        ),
    )
    page.close()
    return pdf, title, info


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_pdf(book: Path = BOOK, out: Path = OUT, solutions: bool = True, pages: list[str] | None = None) -> dict:
    """Print every page of the book and merge them into ``out``; returns the pages, their titles and page counts."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader, PdfWriter

    pages = pages or toc_pages()
    missing = [p for p in pages if not (book / p).is_file()]
    if missing:
        raise FileNotFoundError(f"the book at {book} has no {missing}: build it first (make book)")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(book)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    writer = PdfWriter()
    report = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
            )
            context = browser.new_context(viewport={"width": 1100, "height": 1400})
            for rel in pages:
                pdf, title, info = print_page(context, base + rel, solutions)
                reader = PdfReader(io.BytesIO(pdf))
                first = len(writer.pages)
                for p in reader.pages:
                    writer.add_page(p)
                writer.add_outline_item(title=title, page_number=first)
                report.append({"page": rel, "title": title, "pdf_pages": len(reader.pages), **info})
                print(f"{rel}: {len(reader.pages)} PDF pages, {info['figures']} figures", flush=True)
            browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    writer.add_metadata(
        {"/Title": "Multi-Head Attention: from one head to h heads", "/Author": "The LLM4N course team"}
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        writer.write(f)
    return {"out": str(out), "pages": report, "pdf_pages": sum(r["pdf_pages"] for r in report)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=Path, default=BOOK, help="the built book's HTML folder (default: _build/html)")
    parser.add_argument("--out", type=Path, default=OUT, help="the PDF to write (default: _build/pdf/book.pdf)")
    parser.add_argument(
        "--solutions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include the exercises' solutions (default) or leave them out (--no-solutions)",
    )
    args = parser.parse_args(argv)
    if not (args.book / "index.html").is_file():
        sys.exit(f"the book is not built at {args.book}: run `make book` first")
    result = build_pdf(args.book, args.out, args.solutions)
    print(f"{result['out']}: {result['pdf_pages']} pages, solutions {'included' if args.solutions else 'left out'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
