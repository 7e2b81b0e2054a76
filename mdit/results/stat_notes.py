"""The notes that say what a table's statistics are: what each interval is over (or why a cell has none), and
how the paired differences against the reference row were computed (or why a row has none)."""

from __future__ import annotations

from mdit.results.columns import CONDITIONS, QUALITY
from mdit.results.intervals import COLUMNS, SAMPLES, SEEDS
from mdit.results.paired import ALPHA, PAIRED_RESAMPLES, PairedTable
from mdit.results.rows import Row
from mdit.results.stats import CONFIDENCE, RESAMPLES

LABELS = {column.key: column.label for column in (*QUALITY, *CONDITIONS)}
PLAIN = (
    "mean ± sample standard deviation over seeds (± only with 2 or more); n = finished runs of the setting; "
    "(n=k): only k of them have that number."
)


def _percent() -> str:
    return f"{CONFIDENCE * 100:g} %"


def _span(numbers: set[int]) -> str:
    """ "256", or "8-256" where the cells used different numbers."""
    low, high = min(numbers), max(numbers)
    return str(low) if low == high else f"{low}-{high}"


def _columns(keys: set[str]) -> str:
    return ", ".join(LABELS[key] for key in COLUMNS if key in keys)


def cells_note(rows: list[Row]) -> str:
    """The first note: what a cell is; mean [low, high] where per-sample scores gave an interval."""
    if not any(row.intervals for row in rows):
        return f"Cells: {PLAIN}"
    interval = f"mean [low, high] (a {_percent()} interval, next notes) where the runs have per-sample scores"
    return f"Cells: {interval}; else {PLAIN}"


def _interval_kind(rows: list[Row], over: str) -> str | None:
    """The note of the intervals over test samples (SAMPLES) or over seeds (SEEDS), if any cell has one."""
    cells = [(row, key, c) for row in rows for key, c in row.intervals.items() if c.over == over]
    if not cells:
        return None
    mixed = any(c.over != over for row in rows for c in row.intervals.values())  # name the rows of each kind
    which = f" (rows {', '.join(dict.fromkeys(row.label for row, _, _ in cells))})" if mixed else ""
    columns = _columns({key for _, key, _ in cells})
    methods = "; ".join(sorted({c.interval.method for _, _, c in cells}))
    count = _span({c.interval.n for _, _, c in cells})
    if over == SAMPLES:
        return (
            f"[low, high] in {columns}{which}: {_percent()} bootstrap CI of the mean over the {count} test samples "
            f"of the run (one run per setting: the spread over the test set, not over training seeds; {methods}; "
            f"{RESAMPLES:,} resamples)."
        )
    return (
        f"[low, high] in {columns}{which}: {_percent()} bootstrap CI over the {count} seeds (each seed's mean over "
        f"its test samples; the spread over training seeds; {methods}; {RESAMPLES:,} resamples)."
    )


def interval_notes(rows: list[Row]) -> list[str]:
    """What each interval is over, which columns never have one, and which runs' cells have none and why."""
    notes = [note for over in (SAMPLES, SEEDS) if (note := _interval_kind(rows, over))]
    if notes:
        notes.append(
            "FD and 'parser on real' have one number per run (no per-sample scores): mean ± std over seeds; the cost "
            "columns are exact counts (FLOPs) or timings: mean ± std over seeds."
        )
    why: dict[str, dict[str, set[str]]] = {}  # reason -> run -> columns
    for row in rows:
        for key, runs in row.no_interval.items():
            for run, reason in runs.items():
                why.setdefault(reason, {}).setdefault(run, set()).add(key)
    for reason, runs in why.items():
        columns = _columns({key for keys in runs.values() for key in keys})
        names = ", ".join(sorted(runs))
        notes.append(f"No interval for {names} ({columns}): {reason}; those cells are mean ± std over seeds.")
    return notes


def paired_notes(paired: PairedTable | None) -> list[str]:
    """How the differences against the reference row were computed, and each row that could not be paired."""
    if paired is None:
        return []
    ref = paired.reference
    if paired.problem:
        return [f"No paired differences vs {ref}: {paired.problem}."]
    done = [c for c in paired.comparisons.values() if c.paired is not None]
    notes = []
    if done:
        count = _span({sum(1 for c in done if c.key == key) for key in paired.keys})
        rows = f"{count} {'row' if count == '1' else 'rows'}"
        notes.append(
            f"Paired differences vs {ref}: each row minus {ref} on the same test samples (paired by `sample`, "
            f"identical generation `seed`s): mean difference [{_percent()} bootstrap CI] and the two-sided paired "
            f"permutation test (sign flips: all 2^n of them where that is at most {PAIRED_RESAMPLES:,}, else "
            f"{PAIRED_RESAMPLES:,} random ones), p Holm-corrected per metric across the {rows} compared; "
            f"* = significant at {ALPHA:g} after Holm. An interval that contains 0 does not show a difference."
        )
        seeds = sorted({str(seed) for c in done for seed in c.seeds})
        if any(len(c.seeds) > 1 for c in done):
            notes.append(
                f"Several training seeds ({', '.join(seeds)}): each run is paired with the {ref} run of the same "
                "seed and the per-sample differences are averaged over the seeds both rows have before the interval "
                "and the test, so both are over test samples, not over seeds."
            )
    left_out = sorted({run for c in done for run in c.left_out})
    if left_out:
        notes.append(
            f"Left out of the paired differences (no run of the same training seed in the other row): "
            f"{', '.join(left_out)}."
        )
    problems: dict[tuple[str, str], list[str]] = {}
    for c in paired.comparisons.values():
        if c.problem:
            problems.setdefault((c.label, c.problem), []).append(c.key)
    for (label, problem), keys in problems.items():
        notes.append(f"Not paired with {ref}: {label} ({_columns(set(keys))}): {problem}.")
    return notes
