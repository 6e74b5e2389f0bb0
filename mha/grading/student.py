"""The student version of the course's notebooks: every solution replaced by a stub.

A solution is a code cell tagged ``solution``, between the sphinx-exercise gates ``solution-start ex-NN-k`` and
``solution-end`` (the gate's label names the exercise). The student version replaces it by a stub that keeps the
function's signature and docstring and raises ``NotImplementedError`` with the exercise's hint (a value becomes
``...``). ``reference_solutions`` reads the solutions back, for the tests and the grader.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

from mha.exercises import EXERCISES, Exercise

__all__ = [
    "SOLUTION_TAG",
    "NOTEBOOKS",
    "make_stub",
    "reference_solutions",
    "notebook_number",
    "student_version",
    "write_student_versions",
]

SOLUTION_TAG = "solution"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
_GATE = re.compile(r"^\s*(```+|:::+)\s*\{solution-(start|end)\}[ \t]*(\S*)")  # and the label: ex-04-2
_LABEL = re.compile(r"ex-(\d\d)-(\d+)")


def _exercise_by_name(name: str, notebook: str | None) -> Exercise | None:
    matches = [e for e in EXERCISES.values() if e.name == name]
    if notebook:
        matches = [e for e in matches if e.notebook == notebook] or matches
    return matches[0] if matches else None


def make_stub(source: str, notebook: str | None = None) -> str:
    """The student's version of a solution cell: signatures and docstrings kept, bodies replaced.

    A function keeps its ``def`` line(s) and docstring and raises NotImplementedError with a hint; the exercise's
    answer (``name = <value>``) becomes ``name = ...``; imports stay; any other statement is dropped.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "# Exercise: write your code here.\n"
    lines = source.splitlines()
    first = None
    parts = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            parts.append("\n".join(lines[node.lineno - 1 : node.end_lineno]))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            ex = _exercise_by_name(node.name, notebook)
            first = first or ex
            body0 = node.body[0]
            has_doc = (
                isinstance(body0, ast.Expr)
                and isinstance(body0.value, ast.Constant)
                and isinstance(body0.value.value, str)
            )
            start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if body0.lineno == node.lineno:  # `def f(x): return x` on one line
                header = [f"def {node.name}({ast.unparse(node.args)}):"]
                indent = " " * (node.col_offset + 4)
            else:
                header = lines[start - 1 : (body0.end_lineno if has_doc else body0.lineno - 1)]
                indent = " " * body0.col_offset
            message = f"Exercise {ex.id}: {ex.hint}" if ex else "write your code here"
            parts.append("\n".join(header) + f"\n{indent}raise NotImplementedError({message!r})")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:  # the answer becomes `...`; the solution's other variables go
                ex = _exercise_by_name(target.id, notebook) if isinstance(target, ast.Name) else None
                if ex is not None and f"{target.id} = ..." not in "\n".join(parts):
                    first = first or ex
                    parts.append(f"{target.id} = ...  # Exercise {ex.id}: {ex.hint}")
    intro = f"# Exercise {first.id}: " if first else "# Exercise: "
    if any("NotImplementedError" in part for part in parts):
        intro += "replace `raise NotImplementedError(...)` with your code, then run the check below."
    else:
        intro += "replace the `...` with your answer, then run the check below."
    return intro + "\n" + "\n\n\n".join(parts)


def reference_solutions(nb) -> dict[str, str]:
    """The reference solution of every exercise in notebook ``nb``: {exercise id: the source of its solution}.

    A solution is a code cell tagged ``solution`` between the two markdown cells that fold it away in the book
    (sphinx-exercise's gates): one that opens with "```{solution-start} ex-04-2", one with "```{solution-end}".
    The start gate's label names the exercise (ex-04-2 is 04.2). The code cells of one solution are joined by a
    blank line. A tagged cell outside gates, or under a gate without such a label, is skipped.
    """
    solutions: dict[str, list[str]] = {}
    current = None
    for cell in nb.cells:
        gate = _GATE.match(cell.source) if cell.cell_type == "markdown" else None
        if gate:
            label = _LABEL.fullmatch(gate.group(3)) if gate.group(2) == "start" else None
            current = f"{label.group(1)}.{label.group(2)}" if label else None
        elif current and cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", []):
            solutions.setdefault(current, []).append(cell.source)
    return {exercise_id: "\n\n".join(sources) for exercise_id, sources in solutions.items()}


def notebook_number(path: Path, nb=None) -> str | None:
    """The course notebook a file is a version of: from its metadata, else from its name (04_..., hw04, ...)."""
    if nb is not None:
        number = nb.get("metadata", {}).get("mha_course", {}).get("notebook")
        if isinstance(number, str) and re.fullmatch(r"\d\d", number):
            return number
    known = {e.notebook for e in EXERCISES.values()}
    match = re.match(r"(\d\d)(?!\d)", path.name)
    if match and match.group(1) in known:
        return match.group(1)
    for candidate in re.findall(r"(?<!\d)(\d{1,2})(?!\d)", path.stem):
        if f"{int(candidate):02d}" in known:
            return f"{int(candidate):02d}"
    return None


def student_version(nb, number: str | None):
    """A copy of notebook ``nb`` with every solution replaced by a stub and the checks' outputs cleared."""
    import nbformat

    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _GATE.match(cell.source):
            continue  # the sphinx-exercise gates around a solution: the stub is not hidden
        if cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", []):
            cell.source = make_stub(cell.source, number)
            cell.outputs, cell.execution_count = [], None
            tags = [t for t in cell.metadata.get("tags", []) if t not in (SOLUTION_TAG, "hide-input", "hide-cell")]
            cell.metadata["tags"] = tags + ["exercise"]
        elif cell.cell_type == "code" and "mha.exercises.check_" in cell.source:
            cell.outputs, cell.execution_count = [], None  # the solution's "passed" would mislead
        cells.append(cell)
    nb.cells = cells
    nb.metadata["mha_course"] = {"notebook": number, "version": "student"}
    nbformat.validate(nb)
    return nb


def write_student_versions(out_dir: Path, source: Path) -> list[Path]:
    import nbformat

    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        student = student_version(nb, notebook_number(path, nb))
        target = out_dir / path.name
        nbformat.write(student, target)
        written.append(target)
    return written
