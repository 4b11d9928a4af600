"""Result rows in, checked: the JSON lines `florenz eval-loss` writes (one per checkpoint), as arrays.

A row needs P, Pt, S, F, C (positive numbers), T (positive, or null for a from-scratch run) and the loss of
every split that is fitted; other keys are ignored. Every bad row is named (file:line and run) in one error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from florenz.errors import FlorenzError

ROW_FILES = ("eval_loss.jsonl", "results.jsonl")  # what a directory argument is searched for
NUMBERS = ("P", "Pt", "S", "F", "C")
MAX_NAMED = 8  # bad rows named in an error before "and N more"


@dataclass
class Rows:
    """The checked rows as columns; `where` names each row as file:line."""

    where: list[str]
    run: np.ndarray  # (n,) run id of each row: the bootstrap resamples whole runs
    size: list[str]
    P: np.ndarray
    Pt: np.ndarray
    S: np.ndarray
    T: np.ndarray  # NaN where the row has no T
    F: np.ndarray
    C: np.ndarray
    losses: dict[str, np.ndarray]  # split -> (n,)
    sources: list[str]

    def __len__(self) -> int:
        return len(self.where)


def row_files(paths: tuple[str, ...]) -> list[Path]:
    """The files named, and every eval_loss.jsonl / results.jsonl below each directory named."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            below = sorted(p for pattern in ROW_FILES for p in path.rglob(pattern))
            if not below:
                raise FlorenzError(f"{path} holds no {' or '.join(ROW_FILES)}; run `florenz eval-loss RUN` "
                                   "on its runs first, or name the .jsonl files")
            found += below
        elif path.is_file():
            found.append(path)
        else:
            raise FlorenzError(f"{path} does not exist; name .jsonl files of `florenz eval-loss` or a "
                               "directory that holds them")
    return found


def _read(files: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise FlorenzError(f"{path}:{number} is not a JSON object ({error}); fix or delete that "
                                   "line") from None
            if not isinstance(row, dict):
                raise FlorenzError(f"{path}:{number} is not a JSON object; fix or delete that line")
            rows.append((f"{path}:{number}", row))
    return rows


def _problems(row: dict[str, Any], splits: tuple[str, ...]) -> list[str]:
    problems = []
    for key in (*NUMBERS, "T", *splits):
        value = row.get(key)
        if key == "T" and value is None:
            continue  # a from-scratch run has no starting point and no T
        if key not in row:
            problems.append(f"no {key}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(f"{key} = {value!r} is not a finite number")
        elif value <= 0:
            problems.append(f"{key} = {value!r} is not positive")
    return problems


def _unique(rows: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """One row per checkpoint: a study directory may hold a run's row in two files."""
    seen, kept = set(), []
    for where, row in rows:
        key = row.get("checkpoint_sha256") or (row.get("run"), row.get("S"), row.get("checkpoint"))
        if key not in seen:
            seen.add(key)
            kept.append((where, row))
    return kept


def load_rows(paths: tuple[str, ...], splits: tuple[str, ...]) -> Rows:
    """Read, de-duplicate and check the rows; a FlorenzError names every bad one."""
    files = row_files(paths)
    rows = _unique(_read(files))
    bad = [f"{where} ({row.get('run', 'no run id')}): {', '.join(problems)}" for where, row in rows
           if (problems := _problems(row, splits))]
    if bad:
        more = f"; and {len(bad) - MAX_NAMED} more" if len(bad) > MAX_NAMED else ""
        raise FlorenzError(f"{len(bad)} row(s) cannot be fitted: {'; '.join(bad[:MAX_NAMED])}{more}. Fix or "
                           "remove them (rerun `florenz eval-loss` on their runs)")
    if not rows:
        raise FlorenzError(f"{', '.join(map(str, files))} hold no rows; run `florenz eval-loss RUN` first")

    def column(key: str) -> np.ndarray:
        return np.array([np.nan if row.get(key) is None else float(row[key]) for _, row in rows])

    return Rows(where=[where for where, _ in rows],
                run=np.array([str(row.get("run", where)) for where, row in rows]),
                size=[str(row.get("size", "")) for _, row in rows],
                P=column("P"), Pt=column("Pt"), S=column("S"), T=column("T"), F=column("F"), C=column("C"),
                losses={split: column(split) for split in splits}, sources=[str(path) for path in files])
