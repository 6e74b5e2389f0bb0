"""Fixtures shared by the training tests (tests/test_train.py, tests/test_experiments.py) and by the tests that
drive headless Chromium (tests/test_frontends.py, tests/test_figure_pane.py)."""

import os
from pathlib import Path

import pytest

from mha import data
from mha.train import train


@pytest.fixture(scope="module")
def task():
    """A small two-relation task (128 sequences): fast to train on."""
    return data.make_two_relation_task(128, seed=0)


@pytest.fixture(scope="module")
def trained(task):
    """Two heads trained 100 steps on ``task`` (seed 0)."""
    return train(task, num_heads=2, d_model=16, steps=100, seed=0)


CHROMIUM = Path(os.environ.get("MHA_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser). Skipped with the reason where either is
    missing; ``MHA_REQUIRE_BROWSER=1`` (``.ci/run``) makes that a failure."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("Playwright is not installed (make setup installs it)")
    if not CHROMIUM.exists():
        _skip_or_fail(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def _skip_or_fail(reason: str):
    if os.environ.get("MHA_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)
