"""Time the explorers of ``mha.widgets`` the way a learner uses them, and check the course's targets.

    python -m benchmarks.bench_widgets            # from the repository root
    python -m benchmarks.bench_widgets --quick    # fewer repeats

An update is one ``explorer.set(...)`` call: checking the settings, computing, building the figure and
handing it to the widget the browser receives it from, all synchronous: the figure pane (plotly JSON) where
ipywidgets 8 runs, the Output widget (plotly JSON and HTML) under ipywidgets 7 (classic Notebook, Colab), timed
here too.
The settings cycle through num_heads in (1, 2, 4, 8) and two values of d_model, so no two updates in a row
draw the same figure. A training run is ``TrainExplorer.set(num_heads=...)`` on a setting not trained before.

Targets, printed as PASS or FAIL (on a 2-core CPU):
  1. ShapeExplorer: median update <= 100 ms (figure pane and Output widget).
  2. HeadExplorer (random weights): median update <= 100 ms (figure pane and Output widget).
  3. TrainExplorer: median training run (train, evaluate, draw) <= 5 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from mha import explorers
from mha import widgets as W

TARGETS = {
    "ShapeExplorer update": 0.100,
    "ShapeExplorer update, Output": 0.100,
    "HeadExplorer update": 0.100,
    "HeadExplorer update, Output": 0.100,
    "TrainExplorer training run": 5.0,
}


def with_output_widget(explorer_class):
    """An explorer that draws into an Output widget, as under ipywidgets 7 (classic Notebook, Colab)."""
    available = W.figure_pane.available
    W.figure_pane.available = lambda: False
    try:
        return explorer_class()
    finally:
        W.figure_pane.available = available


def median_update(explorer, settings: list[dict], repeats: int) -> float:
    """The median time of ``explorer.set(**s)`` over ``repeats`` passes through ``settings``, after one warm-up pass."""
    for s in settings:
        explorer.set(**s)
    times = []
    for _ in range(repeats):
        for s in settings:
            start = time.perf_counter()
            explorer.set(**s)
            times.append(time.perf_counter() - start)
            assert explorer.message == "", explorer.message
    return statistics.median(times)


def median_training_run(runs: int) -> float:
    """The median time of a training run of TrainExplorer (d_model 16, the explorers' steps and task)."""
    explorer = W.TrainExplorer(num_heads=1)  # warms up imports and the task
    times = []
    for i, h in enumerate([2, 4, 8, 1, 2, 4][:runs]):
        explorers.forget_trained_models()  # a fresh run, not a remembered one
        start = time.perf_counter()
        explorer.set(num_heads=h, seed=i + 1)
        times.append(time.perf_counter() - start)
        assert explorer.message == "", explorer.message
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    repeats, runs = (2, 3) if args.quick else (5, 5)

    grid = [{"num_heads": h, "d_model": d} for d in (32, 64) for h in (1, 2, 4, 8)]
    results = {
        "ShapeExplorer update": median_update(W.ShapeExplorer(), grid, repeats),
        "ShapeExplorer update, Output": median_update(with_output_widget(W.ShapeExplorer), grid, repeats),
        "HeadExplorer update": median_update(W.HeadExplorer(), grid, repeats),
        "HeadExplorer update, Output": median_update(with_output_widget(W.HeadExplorer), grid, repeats),
        "TrainExplorer training run": median_training_run(runs),
    }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"mha.widgets on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), load average {load:.1f}"
    )
    failed = 0
    for name, seconds in results.items():
        target = TARGETS[name]
        ok = seconds <= target
        failed += not ok
        shown = f"{seconds * 1000:8.1f} ms" if target < 1 else f"{seconds:8.2f} s "
        limit = f"{target * 1000:.0f} ms" if target < 1 else f"{target:.0f} s"
        print(f"{name:30s} median {shown}   target <= {limit:7s} {'PASS' if ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
