"""What the tests share: the small training fixtures, and one way to reach Chromium.

The tests sit in folders by where they run: ``unit/`` (the package, the exercises' checks, the widgets in a kernel),
``grading/`` (the instructor's commands on real submissions), ``notebooks/`` (nbval under every CPU kernel, a
notebook downloaded from the book) and ``browser/`` (the built book, the front ends and the PDF in headless
Chromium). The Makefile selects them by folder.

Chromium is Debian's (``/usr/bin/chromium``, or ``MHA_CHROMIUM``), never a downloaded browser. A test that cannot
run for want of something outside Python calls ``skip_or_fail``: skipped with the reason, or failed where the
environment variable that requires it is set (``.ci/run`` sets ``MHA_REQUIRE_BROWSER=1``).
"""

import os
from pathlib import Path

import pytest

from mha import data
from mha.train import train

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("MHA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def skip_or_fail(reason: str, required_by: str = "MHA_REQUIRE_BROWSER"):
    """Skip the test with ``reason``, or fail it where the environment variable ``required_by`` is set (not 0)."""
    if os.environ.get(required_by, "") not in ("", "0"):
        pytest.fail(f"{reason} ({required_by} is set, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright; skipped (or failed, see ``skip_or_fail``) where either is missing."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        skip_or_fail(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MHA_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the python package playwright is not installed (pip install -r requirements.txt)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def task():
    """A small two-relation task (128 sequences): fast to train on."""
    return data.make_two_relation_task(128, seed=0)


@pytest.fixture(scope="module")
def trained(task):
    """Two heads trained 100 steps on ``task`` (seed 0)."""
    return train(task, num_heads=2, d_model=16, steps=100, seed=0)
