"""Each row against the table's reference row, per quality metric: the mean of the per-sample differences
(row - reference) with its 95 % interval and a paired permutation p-value, Holm-corrected across the rows.

Rows are paired on the same test samples (the `sample` column) generated with the same seeds (identical
`seed` columns); with several training seeds, each run is paired with the reference's run of the same seed
and the per-sample differences are averaged over the seeds both rows have. A row that cannot be paired gets
no difference and says why (never a difference computed on unpaired samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mdit.results.rows import Row
from mdit.results.samples import PER_SAMPLE, RunScores, ScoreBook
from mdit.results.stats import RESAMPLES, Paired, holm, paired_difference, significant
from mdit.sweep.params import is_evaluated

# Permutation resamples of each test: scipy's default count, ~0.3 s a test at the default 256 test samples, so a
# table of 5 rows x 4 metrics takes about 5 s.
PAIRED_RESAMPLES = RESAMPLES
ALPHA = 0.05  # family-wise level of the Holm-corrected tests (per metric, across the rows of a table)
IDENTITY = ("sample_id", "caption_index")  # must agree too where both runs recorded them (the same test items)


class NotPaired(ValueError):
    """Why a row and the reference cannot be paired on a metric."""


@dataclass(frozen=True)
class Comparison:
    """One row against the reference on one metric: the paired result, or why there is none (None: n/a)."""

    label: str
    key: str
    paired: Paired | None = None
    seeds: tuple[Any, ...] = ()
    p_holm: float | None = None
    problem: str | None = None
    left_out: tuple[str, ...] = ()  # runs of either row whose training seed the other row lacks

    @property
    def significant(self) -> bool:
        return significant(self.p_holm, ALPHA)


@dataclass
class PairedTable:
    """The comparisons of a table with its reference row: (row label, metric) -> Comparison."""

    reference: str
    comparisons: dict[tuple[str, str], Comparison] = field(default_factory=dict)
    problem: str | None = None  # why no row is compared at all (the reference has no per-sample scores, ...)
    metrics: tuple[str, ...] = PER_SAMPLE  # the per-sample columns compared

    @property
    def keys(self) -> list[str]:
        """The metrics with at least one difference, in column order."""
        return [key for key in self.metrics if any(c.paired for (_, k), c in self.comparisons.items() if k == key)]

    def of(self, label: str, key: str) -> Comparison | None:
        return self.comparisons.get((label, key))


def _by_seed(scores: list[RunScores], label: str) -> dict[Any, RunScores]:
    """A row's runs by training seed; two runs of one seed cannot be told apart, so they are not paired."""
    seeds: dict[Any, RunScores] = {}
    for run in scores:
        if run.seed in seeds:
            raise NotPaired(f"{label} has two runs of seed {run.seed} ({seeds[run.seed].run}, {run.run})")
        seeds[run.seed] = run
    return seeds


def _check_same_samples(run: RunScores, reference: RunScores) -> None:
    """The two runs scored the same test samples with the same generation seeds, else NotPaired."""
    mine = {row["sample"]: row for row in run.rows or ()}
    theirs = {row["sample"]: row for row in reference.rows or ()}
    if set(mine) != set(theirs):
        raise NotPaired(
            f"{run.run} and {reference.run} scored different test samples ({len(mine)} against {len(theirs)}; "
            "evaluate both with the same eval.count)"
        )
    if any(mine[s]["seed"] != theirs[s]["seed"] for s in mine):
        raise NotPaired(f"{run.run} and {reference.run} generated with different seeds (eval.seed)")
    for column in IDENTITY:
        if any(None not in (mine[s][column], theirs[s][column]) and mine[s][column] != theirs[s][column] for s in mine):
            raise NotPaired(f"{run.run} and {reference.run} differ in {column}: not the same test items")


def paired_values(
    row: list[RunScores], reference: list[RunScores], key: str, label: str
) -> tuple[np.ndarray, np.ndarray, tuple[Any, ...]]:
    """(row, reference) per-sample values of `key`, each averaged over the training seeds both rows have, on
    the samples where every one of those runs has a value; and those seeds. NotPaired when they cannot be."""
    mine, theirs = _by_seed(row, label), _by_seed(reference, "the reference")
    seeds = tuple(seed for seed in mine if seed in theirs)
    if not seeds:
        raise NotPaired(
            f"no training seed in common with the reference ({sorted(map(str, mine))} against "
            f"{sorted(map(str, theirs))})"
        )
    first = theirs[seeds[0]]
    for seed in seeds:
        _check_same_samples(mine[seed], theirs[seed])
        _check_same_samples(theirs[seed], first)  # every seed's runs on the same samples, to average them
    runs = [*(mine[s] for s in seeds), *(theirs[s] for s in seeds)]
    tables = [{r["sample"]: r[key] for r in run.rows or ()} for run in runs]
    samples = sorted(s for s in tables[0] if all(table[s] is not None for table in tables))
    if not samples:
        raise NotPaired(f"no sample has {key} in every run of both rows")
    values = np.asarray([[table[s] for s in samples] for table in tables], dtype=float)
    return values[: len(seeds)].mean(axis=0), values[len(seeds) :].mean(axis=0), seeds


def _has(scores: list[RunScores], key: str) -> bool:
    return any(run.values(key) for run in scores)


def compare_row(row: Row, reference: Row, key: str, book: ScoreBook) -> Comparison:
    """One row against the reference on one metric; a Comparison with a problem where they are not paired."""
    if key in row.stats and row.stats[key].mean is None and reference.stats[key].mean is None:
        return Comparison(row.label, key)  # n/a or missing in both rows (TOPIQ without its weights): nothing to compare
    mine, theirs = book.all_of(row.finished, row.evaluation), book.all_of(reference.finished, reference.evaluation)
    missing = [run for run in (*mine, *theirs) if run.problem]
    if missing:
        return Comparison(row.label, key, problem=f"no per-sample scores for {missing[0].run}: {missing[0].problem}")
    if not _has(mine, key) and not _has(theirs, key):
        return Comparison(row.label, key)  # no sample has a value in either row
    try:
        x, y, seeds = paired_values(mine, theirs, key, row.label)
    except NotPaired as why:
        return Comparison(row.label, key, problem=str(why))
    left_out = tuple(run.run for run in (*mine, *theirs) if run.seed not in seeds)
    return Comparison(row.label, key, paired_difference(x, y, resamples=PAIRED_RESAMPLES), seeds, left_out=left_out)


PLAIN = "the plain sampling of its training"  # the reference of `compare_with_plain`


def compare_with_plain(rows: list[Row], book: ScoreBook, metrics: tuple[str, ...] = PER_SAMPLE) -> PairedTable:
    """Each row against the row of the same training evaluated with the run's own sampling (its key is its mode:
    no guidance, strength or step count of its own), per metric, Holm-corrected per metric across every row."""
    table = PairedTable(PLAIN, metrics=metrics)
    trainings: dict[tuple, list[Row]] = {}
    for row in rows:
        training = tuple((k, repr(v)) for k, v in row.params.items() if not is_evaluated(k))
        trainings.setdefault(training, []).append(row)
    pairs = []
    for group in trainings.values():
        plain = next((row for row in group if row.evaluation == row.mode and row.finished), None)
        if plain is not None:
            pairs += [(row, plain) for row in group if row is not plain and row.finished]
    if not pairs:
        table.problem = "no row has the plain sampling of its training beside it"
    for key in metrics:
        found = [compare_row(row, plain, key, book) for row, plain in pairs]
        adjusted = holm([c.paired.p_value if c.paired else None for c in found])
        for comparison, p in zip(found, adjusted):
            table.comparisons[comparison.label, key] = replace(comparison, p_holm=p)
    return table


def compare(rows: list[Row], reference: str, book: ScoreBook, metrics: tuple[str, ...] = PER_SAMPLE) -> PairedTable:
    """Every other row against the row labelled `reference`, per metric (of `metrics`), Holm-corrected per metric."""
    table = PairedTable(reference, metrics=metrics)
    ref = next(row for row in rows if row.label == reference)
    if not ref.finished:
        table.problem = f"the reference row {reference} has no finished run"
        return table
    scores = book.all_of(ref.finished, ref.evaluation)
    lacking = [run for run in scores if run.problem]
    if lacking:
        table.problem = (
            f"the reference row {reference} has no per-sample scores ({lacking[0].run}: {lacking[0].problem})"
        )
        return table
    others = [row for row in rows if row is not ref and row.finished]
    for key in metrics:
        found = [compare_row(row, ref, key, book) for row in others]
        adjusted = holm([c.paired.p_value if c.paired else None for c in found])
        for comparison, p in zip(found, adjusted):
            table.comparisons[comparison.label, key] = replace(comparison, p_holm=p)
    return table
