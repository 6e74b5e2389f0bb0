"""Checks for the exercises at the end of each notebook.

A learner writes a function (or sets a value) in one cell and calls its check in the next:

    def split_heads(x, num_heads):
        ...

    mha.exercises.check_split_heads(split_heads);

A check runs the learner's function on fresh random inputs of several shapes, compares the result with the
package (``mha.attention``) and prints one short line. When the answer is wrong it names the likely mistake
(a reshape without transpose, a missing sqrt(d_k), softmax over the wrong axis, ...), not just "wrong".

Every check returns a ``CheckResult`` (exercise, passed, points, max_points, status, feedback). It never raises
because of the learner's code and never hangs: an exception is reported with its type and message, a function
still raising ``NotImplementedError`` (or a value still ``...``) is "not done yet", and a function that runs for
more than ``TIME_LIMIT`` seconds is stopped.

The package reads like the course:

- ``engine``: what every check shares (running the learner's code safely, comparing, naming known mistakes,
  reporting, the registry of exercises, and ``final_check``, which the grader runs after a whole notebook);
- one module per notebook, named ``nbNN_<name>.py`` (``nb01_one_head``, ..., ``nb09_whats_next``), each holding
  that notebook's checks, the known mistakes they recognise, and its ``EXERCISES``: the records of its exercises,
  each pointing at its check.

Adding a notebook's exercises is one new file: write ``nbNN_<name>.py`` like the others (``from mha.exercises
import engine``; its checks call ``engine.run_check("NN.k", ...)`` and end their docstrings with "Hint: ...", what
the student version's stub says; its public checks are listed in ``__all__``; it ends with
``EXERCISES = (engine.Exercise("NN.k", title, learner's name, check), ...)``). This package finds it, registers its
exercises and offers its checks as ``mha.exercises.check_...``.

This package imports only ``mha.attention``, torch and numpy (no plotly, no ipywidgets).
"""

from __future__ import annotations

import importlib
import pkgutil

from mha.exercises.engine import (
    EXERCISES,
    RESULTS_ENV,
    TIME_LIMIT,
    CheckResult,
    CheckTimeout,
    Exercise,
    exercises_for,
    final_check,
    register,
)

# The notebooks' modules, in the course's order (nb01_..., nb02_..., found in this folder).
NOTEBOOK_MODULES = tuple(
    importlib.import_module(f"{__name__}.{info.name}")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
    if info.name[:2] == "nb" and info.name[2:4].isdigit()
)

__all__ = [
    "CheckResult",
    "CheckTimeout",
    "Exercise",
    "EXERCISES",
    "NOTEBOOK_MODULES",
    "RESULTS_ENV",
    "TIME_LIMIT",
    "exercises_for",
    "final_check",
    "register",
]

for _module in NOTEBOOK_MODULES:
    register(_module.EXERCISES)
    for _name in _module.__all__:  # each notebook's checks: mha.exercises.check_...
        if _name in globals():
            raise ImportError(f"{_module.__name__} exports {_name}, a name another exercise module already exports")
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
