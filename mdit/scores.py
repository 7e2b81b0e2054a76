"""Every evaluation sample's scores, one CSV per mode beside the eval grid: what bootstrap intervals and paired
tests over samples are computed from (the aggregates in metrics.json are their means)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mdit import atomic

EVAL_DIR = "eval"  # in the run folder: the sample grids and the scores
INT_COLUMNS = ("sample", "sample_id", "seed", "caption_index")
FLOAT_COLUMNS = ("mask_accuracy", "miou", "clip_t", "topiq")
COLUMNS = INT_COLUMNS + FLOAT_COLUMNS

Row = dict[str, int | float | None]


def scores_path(folder: str | Path, mode: str) -> Path:
    """`<run>/eval/scores_<mode>.csv`: the per-sample scores of `mdit eval --mode <mode>`."""
    return Path(folder) / EVAL_DIR / f"scores_{mode}.csv"


def _cell(value: int | float | None) -> str:
    """A CSV cell: ints as they are, floats in their shortest exact form, nothing where there is no value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return str(value)


def write_scores(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write `rows` (dicts keyed by COLUMNS; None or NaN left empty) as a CSV, atomically."""
    lines = [list(COLUMNS)] + [[_cell(row.get(column)) for column in COLUMNS] for row in rows]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as file:
            csv.writer(file).writerows(lines)

    return atomic.write_with(path, write)


def _typed(column: str, text: str) -> int | float | None:
    if text == "":
        return None
    return int(text) if column in INT_COLUMNS else float(text)


def read_scores(folder: str | Path, mode: str) -> list[Row]:
    """The rows of `scores_path(folder, mode)` in sample order: ints, floats, None where a score is n/a."""
    path = scores_path(folder, mode)
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        missing = [column for column in COLUMNS if column not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: columns {missing} missing (expected {', '.join(COLUMNS)})")
        return [{column: _typed(column, row[column]) for column in COLUMNS} for row in reader]


def scores_table(rows: Iterable[Row]) -> tuple[list[str], list[list[int | float | None]]]:
    """(columns, data) of a table of the rows, e.g. for wandb.Table(columns=..., data=...)."""
    return list(COLUMNS), [[row.get(column) for column in COLUMNS] for row in rows]
