"""Each quality cell's 95 % interval, from the runs' per-sample scores: with one run (seed) in a setting, the
bootstrap over that run's test samples; with several, the bootstrap over the seeds' means.

A cell gets an interval only when every run behind it has per-sample scores; otherwise it keeps its plain
mean ± std over seeds and the runs without scores are recorded (with why) for the table's notes. Columns
without per-sample scores (FD, the parser on the real images, the costs) never get one.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from mdit.results.columns import CONDITIONS, QUALITY
from mdit.results.rows import Row
from mdit.results.samples import PER_SAMPLE, ScoreBook
from mdit.results.stats import Interval, format_interval, mean_interval, over_seeds
from mdit.scores import CONDITION_SCORES

SAMPLES, SEEDS = "samples", "seeds"  # what an interval is over
DIGITS = {"mask_accuracy": 2, "miou": 2, "clip_t": 2, "topiq": 4}  # decimals, as the plain cells of QUALITY
DIGITS |= {"edge_f1": 2, "chamfer": 3, "nme": 2}  # and of CONDITIONS
COLUMNS = {column.key: column for column in QUALITY if column.key in PER_SAMPLE}
COLUMNS |= {column.key: column for column in CONDITIONS if column.key in CONDITION_SCORES}


@dataclass(frozen=True)
class CellInterval:
    """A cell's mean with its 95 % interval, and what it is over (the test samples of one run, or the seeds)."""

    interval: Interval
    over: str  # SAMPLES or SEEDS

    def text(self, key: str) -> str:
        """The cell: "89.95 [88.10, 91.70]", in the column's decimals."""
        return format_interval(self.interval, DIGITS[key])


def cell_interval(row: Row, key: str, book: ScoreBook) -> tuple[CellInterval | None, dict[str, str]]:
    """The interval of a row's cell over the runs that have a number for it; None and {run: why} when some of
    those runs have no per-sample scores for it."""
    column = COLUMNS[key]
    runs = [run for run in row.finished if column.value(run.metrics, row.evaluation).number is not None]
    if not runs:
        return None, {}
    scores = book.all_of(runs, row.evaluation)
    why = {s.run: s.problem or f"no {key} in its per-sample scores" for s in scores if s.problem or not s.values(key)}
    if why:
        return None, why
    if len(scores) == 1:
        return CellInterval(mean_interval(scores[0].values(key)), SAMPLES), {}
    return CellInterval(over_seeds([statistics.fmean(s.values(key)) for s in scores]), SEEDS), {}


def attach_intervals(rows: list[Row], book: ScoreBook) -> None:
    """Fill each row's `intervals` (column -> CellInterval) and `no_interval` (column -> {run: why})."""
    for row in rows:
        for key in COLUMNS:
            interval, why = cell_interval(row, key, book)
            if interval is not None:
                row.intervals[key] = interval
            if why:
                row.no_interval[key] = why
