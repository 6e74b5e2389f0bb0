"""Fixtures shared by the training tests (tests/test_train.py, tests/test_experiments.py)."""

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
