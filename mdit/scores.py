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
# the conflict and agree sets' own (mdit.metrics.following): the contested attribute, who the face follows (0 / 1)
TEXT_COLUMNS = ("attribute",)
FOLLOWING = ("follows_mask", "follows_caption")
QUALITY_SCORES = ("mask_accuracy", "miou", "clip_t", "topiq")  # the quality columns of every table
CONDITION_SCORES = ("edge_f1", "chamfer", "nme")  # the sketch and keypoint judges' (n/a where the data lack them)
FLOAT_COLUMNS = (*QUALITY_SCORES, *FOLLOWING, *CONDITION_SCORES)
COLUMNS = INT_COLUMNS + TEXT_COLUMNS + FLOAT_COLUMNS
OPTIONAL = TEXT_COLUMNS + FOLLOWING + CONDITION_SCORES  # absent from files written before them: read as n/a

Row = dict[str, int | float | str | None]


def scores_path(folder: str | Path, key: str, step: int | None = None) -> Path:
    """`<run>/eval/scores_<key>.csv`: the per-sample scores of one evaluation of a run (its key:
    mdit.runs.evaluation_key); of the kept checkpoint of `step`: `<run>/eval/step=NNNNNN/scores_<key>.csv`."""
    return evaluation_dir(folder, step) / f"scores_{key}.csv"


def evaluation_dir(folder: str | Path, step: int | None = None) -> Path:
    """Where one evaluation's grid and scores go: `<run>/eval/`, or `<run>/eval/step=NNNNNN/` for a kept checkpoint."""
    root = Path(folder) / EVAL_DIR
    return root if step is None else root / f"step={step:06d}"


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


def _typed(column: str, text: str | None) -> int | float | str | None:
    if text is None or text == "":
        return None
    if column in TEXT_COLUMNS:
        return text
    return int(text) if column in INT_COLUMNS else float(text)


def read_scores(folder: str | Path, key: str, step: int | None = None) -> list[Row]:
    """The rows of `scores_path(folder, key, step)` in sample order: ints, floats, None where a score is n/a."""
    path = scores_path(folder, key, step)
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ()) and c not in OPTIONAL]
        if missing:
            raise ValueError(f"{path}: columns {missing} missing (expected {', '.join(COLUMNS)})")
        return [{column: _typed(column, row.get(column)) for column in COLUMNS} for row in reader]


def scores_table(rows: Iterable[Row]) -> tuple[list[str], list[list[int | float | None]]]:
    """(columns, data) of a table of the rows, e.g. for wandb.Table(columns=..., data=...)."""
    return list(COLUMNS), [[row.get(column) for column in COLUMNS] for row in rows]
