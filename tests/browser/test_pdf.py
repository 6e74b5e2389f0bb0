"""`make pdf`: the whole book as one PDF (scripts/build_pdf.py), checked page by page.

Builds the PDF from the built book (``MHA_BOOK_HTML``, default ``_build/html``) once with the solutions and once
without, and checks: one bookmark per page of the table of contents and a plausible number of pages; every figure's
title (the name ``_ext/figure_text.py`` gives it) in the PDF's text; the solutions in one and not in the other; no
blank page (each page rendered to a small PNG by poppler's ``pdftoppm`` must have ink on it). The rendered pages
of the PDF with solutions go to ``<book>/../pdf/pages/`` for a person to look at.

Skipped with the reason where Chromium, playwright, pypdf, pdftoppm or the built book is missing;
``MHA_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns every such skip into a failure.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHROMIUM, skip_or_fail  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[2]
BOOK = (ROOT / os.environ.get("MHA_BOOK_HTML", "_build/html")).resolve()
sys.path.insert(0, str(ROOT / "scripts"))


def _squash(text: str) -> str:
    """Text without whitespace, quotes made plain: PDF text extraction splits and joins words its own way."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    if not (BOOK / "index.html").is_file():
        skip_or_fail(f"the book is not built at {BOOK} (run `make book`, or set MHA_BOOK_HTML)")
    if not Path(CHROMIUM).is_file():
        skip_or_fail(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MHA_CHROMIUM)")
    if shutil.which("pdftoppm") is None:
        skip_or_fail("no pdftoppm (apt-get install poppler-utils)")
    try:
        import playwright  # noqa: F401
        import pypdf  # noqa: F401
    except ImportError as e:
        skip_or_fail(f"{e.name} is not installed (pip install -r requirements.txt)")
    import build_pdf

    out = tmp_path_factory.mktemp("pdf")
    with_solutions = build_pdf.build_pdf(BOOK, out / "book.pdf", solutions=True)
    without = build_pdf.build_pdf(BOOK, out / "book-no-solutions.pdf", solutions=False)
    return with_solutions, without


def _text(path: str) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(path).pages]


def _figure_titles() -> dict[str, list[str]]:
    import build_pdf

    titles = {}
    for rel in build_pdf.toc_pages():
        page = (BOOK / rel).read_text(encoding="utf-8")
        titles[rel] = [html.unescape(t) for t in re.findall(r'role="figure" aria-label="([^"]*)"', page)]
    return titles


def test_one_pdf_with_every_page_and_figure(pdfs):
    import build_pdf
    from pypdf import PdfReader

    result, _ = pdfs
    toc = build_pdf.toc_pages()
    reader = PdfReader(result["out"])
    assert [r["page"] for r in result["pages"]] == toc
    assert len(reader.outline) == len(toc), f"{len(reader.outline)} bookmarks for {len(toc)} pages"
    assert len(reader.pages) == result["pdf_pages"]
    assert 2 * len(toc) <= len(reader.pages) <= 60 * len(toc), f"{len(reader.pages)} PDF pages for {len(toc)} pages"
    text = _squash("".join(_text(result["out"])))
    missing = [(rel, t) for rel, ts in _figure_titles().items() for t in ts if _squash(t) not in text]
    n_figures = sum(len(ts) for ts in _figure_titles().values())
    assert n_figures == sum(r["figures"] for r in result["pages"])
    assert not missing, f"{len(missing)} of {n_figures} figure titles are not in the PDF's text: {missing}"
    for r in result["pages"]:
        assert _squash(r["title"]) in text, f"the title of {r['page']} ({r['title']!r}) is not in the PDF"


def test_solutions_are_in_or_left_out(pdfs):
    with_solutions, without = pdfs
    assert sum(r["solutions"] for r in with_solutions["pages"]) > 0, "the book has no solutions to include"
    assert sum(r["solutions"] for r in without["pages"]) == 0
    text_with = _squash("".join(_text(with_solutions["out"])))
    text_without = _squash("".join(_text(without["out"])))
    # each solution's title ("Solution to Exercise (...)") is gone (links to solutions may still name them)
    n_solutions = sum(r["solutions"] for r in with_solutions["pages"])
    assert text_with.count("Solutionto") - text_without.count("Solutionto") >= n_solutions
    assert without["pdf_pages"] < with_solutions["pdf_pages"]


def _pgm_pixels(path: Path) -> bytes:
    """The pixels of a binary greyscale PGM (P5, 8 bit) as written by pdftoppm -gray."""
    data = path.read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:
        match = re.compile(rb"\s*(#[^\n]*\n\s*)*(\S+)").match(data, pos)
        fields.append(match.group(2))
        pos = match.end()
    assert fields[0] == b"P5" and fields[3] == b"255", f"{path}: not an 8-bit PGM"
    width, height = int(fields[1]), int(fields[2])
    return data[pos + 1 : pos + 1 + width * height]


def test_no_page_is_blank(pdfs):
    result, _ = pdfs
    pages_dir = BOOK.parent / "pdf" / "pages"
    shutil.rmtree(pages_dir, ignore_errors=True)
    pages_dir.mkdir(parents=True)
    subprocess.run(["pdftoppm", "-r", "30", "-gray", result["out"], str(pages_dir / "p")], check=True)
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "6", result["out"], str(pages_dir / "look")])
    renders = sorted(pages_dir.glob("p-*.pgm"))
    assert len(renders) == result["pdf_pages"]
    blank = []
    for render in renders:
        pixels = _pgm_pixels(render)
        ink = sum(pixels.count(v) for v in range(200)) / len(pixels)  # share of the page that is not white paper
        if ink < 0.002:
            blank.append(f"{render.name} ({ink:.4f} of its pixels are ink)")
    assert not blank, f"blank pages in {result['out']}: {blank}"


def test_check_your_understanding_answers_are_printed(pdfs):
    """The answers are closed <details> on the page; the PDF prints them open, with and without solutions."""
    answer = _squash("No, a convention: the panel of 4 heads of width 3")  # notebook 3, question 3
    for built in pdfs:
        assert answer in _squash("".join(_text(built["out"]))), f"{built['out']}: an answer is missing"
