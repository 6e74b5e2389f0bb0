"""What the instructor reads: a short summary, the full table, grades.csv, learners.csv and grades.json.

``summary`` gives the isolation in force, the per-learner totals, each exercise's pass rate, the slowest and the
failed submissions. ``write_reports`` writes the files (a row for every file found: graded, invalid, not a course
notebook, duplicate, missing from the roster) and reads them back to check they say what was meant.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from mha.grading.run import Submission

FILE_FIELDS = ["learner", "file", "notebook", "status", "points", "max_points", "seconds", "notes"]
LEARNER_FIELDS = ["learner", "points", "max_points", "notebooks", "missing", "duplicates", "problems"]


def roster_rows(subs: list[Submission], expect: list[str], roster: list[str]) -> list[Submission]:
    """A "missing" row for each expected notebook a learner did not hand in; roster: learners expected (those with
    no file at all get a row per expected notebook, or one row when nothing is expected)."""
    have: dict[str, set[str]] = {}
    for s in subs:
        if s.status == "not found":
            continue
        have.setdefault(s.learner, set())
        if s.notebook and s.status != "duplicate":
            have[s.learner].add(s.notebook)
    learners = list(dict.fromkeys([*roster, *have]))
    rows = []
    for learner in learners:
        if learner not in have and not expect:
            rows.append(Submission("", None, learner, "missing", notes=["on the roster, no notebook found"]))
        for number in expect:
            if number not in have.get(learner, set()):
                rows.append(Submission("", number, learner, "missing", notes=[f"notebook {number} not found"]))
    if roster:
        for s in subs:
            if s.learner not in roster and "not on the roster" not in s.notes:
                s.notes.append("not on the roster")
    return rows


def learner_totals(subs: list[Submission]) -> list[dict]:
    totals: dict[str, dict] = {}
    for s in subs:
        if s.status == "not found":
            continue
        t = totals.setdefault(
            s.learner,
            {"learner": s.learner, "points": 0.0, "max_points": 0.0, "notebooks": [], "missing": [], "duplicates": 0},
        )
        t.setdefault("problems", 0)
        if s.status == "missing":
            t["missing"].append(s.notebook or "all")
        elif s.status == "duplicate":
            t["duplicates"] += 1
        else:
            t["points"] += s.points
            t["max_points"] += s.max_points
            if s.notebook:
                t["notebooks"].append(s.notebook)
            if s.status != "graded":
                t["problems"] += 1
    return list(totals.values())


def summary(subs: list[Submission], isolation_line: str, seconds: float | None = None) -> str:
    lines = [isolation_line]
    graded = [s for s in subs if s.status == "graded"]
    counts: dict[str, int] = {}
    for s in subs:
        counts[s.status] = counts.get(s.status, 0) + 1
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    lines.append(f"{len(subs)} rows{took}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    lines.append("\nper learner (points / max, notebooks):")
    for t in sorted(learner_totals(subs), key=lambda t: t["learner"]):
        extra = f"  missing {','.join(t['missing'])}" if t["missing"] else ""
        extra += f"  {t['duplicates']} duplicate(s)" if t["duplicates"] else ""
        extra += f"  {t['problems']} file(s) not graded" if t["problems"] else ""
        notebooks = ",".join(sorted(t["notebooks"])) or "-"
        lines.append(f"  {t['learner']:<28} {t['points']:g}/{t['max_points']:g}  ({notebooks}){extra}")
    rates: dict[str, list[int]] = {}
    for s in graded:
        for g in s.grades:
            rates.setdefault(g.exercise, [0, 0])
            rates[g.exercise][0] += g.points == g.max_points
            rates[g.exercise][1] += 1
    if rates:
        lines.append("\nper exercise (passed / graded):")
        for ex_id in sorted(rates):
            passed, n = rates[ex_id]
            lines.append(f"  {ex_id}  {passed}/{n}  ({100 * passed / n:.0f} %)")
    slow = sorted(graded, key=lambda s: -s.seconds)[:3]
    if slow:
        lines.append("\nslowest: " + ", ".join(f"{s.file} ({s.seconds:g} s)" for s in slow))
    failed = [s for s in subs if s.status not in ("graded", "duplicate") or any("kernel" in n for n in s.notes)]
    if failed:
        lines.append("needs a look:")
        lines += [f"  {s.file or s.learner}: {s.status}; {'; '.join(s.notes)[:160]}" for s in failed]
    return "\n".join(lines)


def table(subs: list[Submission]) -> str:
    rows = [("file", "exercise", "points", "status", "feedback")]
    for sub in subs:
        for g in sub.grades:
            feedback = g.feedback if len(g.feedback) <= 70 else g.feedback[:67] + "..."
            rows.append((sub.file, g.exercise, f"{g.points:g}/{g.max_points:g}", g.status, feedback))
        total = f"{sub.points:g}/{sub.max_points:g}"
        rows.append((sub.file or sub.learner, "TOTAL", total, sub.status, "; ".join(sub.notes)[:200]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = io.StringIO()
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4], file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 8, file=out)
    return out.getvalue()


def _file_rows(subs: list[Submission]) -> tuple[list[str], list[dict]]:
    exercises = sorted({g.exercise for s in subs for g in s.grades})
    rows = []
    for s in subs:
        row = {
            "learner": s.learner,
            "file": s.file,
            "notebook": s.notebook or "",
            "status": s.status,
            "points": f"{s.points:g}",
            "max_points": f"{s.max_points:g}",
            "seconds": f"{s.seconds:g}",
            "notes": "; ".join(s.notes),
        }
        row.update({ex: "" for ex in exercises})
        row.update({g.exercise: f"{g.points:g}" for g in s.grades})
        rows.append(row)
    return FILE_FIELDS + exercises, rows


def _learner_rows(subs: list[Submission]) -> list[dict]:
    return [
        {
            **t,
            "points": f"{t['points']:g}",
            "max_points": f"{t['max_points']:g}",
            "notebooks": ",".join(sorted(t["notebooks"])),
            "missing": ",".join(t["missing"]),
        }
        for t in learner_totals(subs)
    ]


def _write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def write_reports(subs: list[Submission], out_dir: Path, isolation: str) -> list[Path]:
    """grades.csv (a row per file), learners.csv (a row per learner), grades.json, table.txt; each read back."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fields, rows = _file_rows(subs)
    learners = _learner_rows(subs)
    report = {"isolation": isolation, "submissions": [s.to_dict() for s in subs]}
    paths = [out_dir / "grades.csv", out_dir / "learners.csv", out_dir / "grades.json", out_dir / "table.txt"]
    _write_csv(paths[0], fields, rows)
    _write_csv(paths[1], LEARNER_FIELDS, [{k: str(r[k]) for k in LEARNER_FIELDS} for r in learners])
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    paths[2].write_text(text, encoding="utf-8")
    paths[3].write_text(table(subs), encoding="utf-8")
    check_reports(out_dir, rows, learners, report)
    return paths


class ReportMismatch(RuntimeError):
    """A report file does not say what the grader wrote into it."""


def check_reports(out_dir: Path, rows: list[dict], learners: list[dict], report: dict) -> None:
    """Read the reports back: the rows, totals and JSON must be what was written (else ReportMismatch)."""
    with open(out_dir / "grades.csv", newline="", encoding="utf-8") as f:
        if list(csv.DictReader(f)) != rows:
            raise ReportMismatch(f"{out_dir / 'grades.csv'} does not hold what was written")
    with open(out_dir / "learners.csv", newline="", encoding="utf-8") as f:
        read = list(csv.DictReader(f))
    if [(r["learner"], r["points"]) for r in read] != [(r["learner"], str(r["points"])) for r in learners]:
        raise ReportMismatch(f"{out_dir / 'learners.csv'} does not hold what was written")
    if json.loads((out_dir / "grades.json").read_text(encoding="utf-8")) != json.loads(json.dumps(report)):
        raise ReportMismatch(f"{out_dir / 'grades.json'} does not hold what was written")
    for s in report["submissions"]:
        if s["points"] != sum(e["points"] for e in s["exercises"]):
            raise ReportMismatch(f"{s['file']}: its total is not the sum of its exercises")


def relative(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path
