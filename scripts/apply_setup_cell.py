"""Write the canonical setup cell (tests/unit/test_setup_cell.py: SETUP_CELL) into every notebooks/NN_*.ipynb.

    python scripts/apply_setup_cell.py [FOLDER]     # FOLDER: notebooks/ by default

Only the source of each notebook's first code cell changes; the file is read and written as JSON the way
nbformat writes it (indent 1, sorted keys), so nothing else in it moves. Prints the notebooks it changed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def canonical_setup_cell() -> str:
    spec = importlib.util.spec_from_file_location("test_setup_cell", ROOT / "tests" / "unit" / "test_setup_cell.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SETUP_CELL


def apply(path: Path, cell: str) -> bool:
    """Put ``cell`` into the first code cell of the notebook at ``path``; whether the file changed."""
    raw = path.read_text(encoding="utf-8")
    nb = json.loads(raw)
    first = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
    if first is None:
        raise SystemExit(f"{path}: no code cell")
    first["source"] = cell.splitlines(keepends=True)
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if text == raw:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else ROOT / "notebooks"
    cell = canonical_setup_cell()
    notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SystemExit(f"no NN_*.ipynb notebooks in {folder}")
    for path in notebooks:
        if apply(path, cell):
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
