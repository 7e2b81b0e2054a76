"""Each run's per-sample scores (`<run>/eval/scores_<mode>.csv`, written by `mdit eval`), read once per table.

They are what the cells' intervals and the paired differences are computed from. A run without them keeps its
plain cell: a run evaluated before `mdit eval` wrote them, or a W&B run (only run folders hold the file).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mdit.results.collect import Run
from mdit.scores import QUALITY_SCORES, read_scores

PER_SAMPLE = QUALITY_SCORES
BEFORE_SCORES = "evaluated before per-sample scores: rerun `mdit eval`"
FROM_WANDB = "a W&B run: per-sample scores are read from run folders (`--source local`)"

ScoreRow = dict[str, Any]


@dataclass(frozen=True)
class RunScores:
    """One run's per-sample scores in one eval mode (rows in sample order), or why it has none."""

    run: str
    seed: Any
    rows: tuple[ScoreRow, ...] | None
    problem: str | None = None

    def values(self, key: str) -> list[float]:
        """The samples' numbers of one metric, the samples where it is n/a left out."""
        return [row[key] for row in self.rows or () if row.get(key) is not None]


def read_run_scores(run: Run, mode: str) -> RunScores:
    """A run's scores of `mode`; a missing or unreadable file is a `problem`, not an error."""
    if run.folder is None:
        return RunScores(run.name, run.seed, None, FROM_WANDB)
    try:
        rows = read_scores(run.folder, mode)
    except FileNotFoundError:
        return RunScores(run.name, run.seed, None, BEFORE_SCORES)
    except (OSError, ValueError) as err:
        return RunScores(run.name, run.seed, None, f"per-sample scores unreadable: {err}")
    if not rows:
        return RunScores(run.name, run.seed, None, "per-sample scores file without a sample")
    return RunScores(run.name, run.seed, tuple(rows))


class ScoreBook:
    """The per-sample scores of a table's runs, each file read at most once: (run name, mode) -> RunScores."""

    def __init__(self) -> None:
        self._scores: dict[tuple[str, str], RunScores] = {}

    def of(self, run: Run, mode: str) -> RunScores:
        key = (run.name, mode)
        if key not in self._scores:
            self._scores[key] = read_run_scores(run, mode)
        return self._scores[key]

    def all_of(self, runs: Iterable[Run], mode: str) -> list[RunScores]:
        return [self.of(run, mode) for run in runs]
