"""The nbval plugin that starts a kernel again when it dies before running a cell (tests/nbval_kernel_start.py)."""

import nbval.kernel
import pytest

from tests import nbval_kernel_start as plugin


def fake_starts(outcomes):
    calls = []

    def start(*args, **kwargs):
        calls.append(args)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return start, calls


def test_a_kernel_that_dies_while_starting_is_started_again(monkeypatch):
    assert nbval.kernel.start_new_kernel is plugin.start_new_kernel  # the plugin is what nbval calls
    died = RuntimeError("Kernel died before replying to kernel_info")
    start, calls = fake_starts([died, ("km", "kc")])
    monkeypatch.setattr(plugin, "_start_kernel", start)
    assert plugin.start_new_kernel(startup_timeout=60) == ("km", "kc") and len(calls) == 2
    start, calls = fake_starts([died] * 3)
    monkeypatch.setattr(plugin, "_start_kernel", start)
    with pytest.raises(RuntimeError, match="died before replying"):
        plugin.start_new_kernel()
    assert len(calls) == plugin.STARTS


def test_other_errors_are_not_retried(monkeypatch):
    start, calls = fake_starts([RuntimeError("Kernel didn't respond to heartbeats in 60 seconds and timed out")])
    monkeypatch.setattr(plugin, "_start_kernel", start)
    with pytest.raises(RuntimeError, match="heartbeats"):
        plugin.start_new_kernel()
    assert len(calls) == 1
