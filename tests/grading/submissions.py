"""What the grading tests build submissions from: the course's reference solutions, notebook 09's honest mistake,
and a notebook for the kernel the grader starts.

The test modules of this folder import it by name (pytest puts a test module's folder on sys.path).
"""

import nbformat
from nbformat.v4 import new_notebook

from mha.grading import student


def reference_solutions(*names: str) -> dict[str, str]:
    """{exercise id: its solution cell's source}, read from the course notebooks ``names`` (e.g.
    "09_whats_next.ipynb"), or from every course notebook when none is named (the single source of truth)."""
    solutions = {}
    for path in [student.NOTEBOOKS / name for name in names] or sorted(student.NOTEBOOKS.glob("*.ipynb")):
        found = student.reference_solutions(nbformat.read(path, as_version=4))
        assert not set(found) & set(solutions), path.name  # each exercise is solved in one notebook
        solutions.update(found)
    return solutions


# Notebook 09's exercise 09.2 with the honest mistake: every red-team attack hides it and must score no more than it.
WRONG_LAYER_NORM = '''
import torch


def layer_norm(x, eps=1e-5):
    """The honest mistake: x.var divides by n - 1."""
    mean = x.mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(x.var(dim=-1, keepdim=True) + eps)
'''


def notebook(cells) -> nbformat.NotebookNode:
    """A notebook of ``cells`` that asks for the python3 kernel, as a learner's does."""
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb
