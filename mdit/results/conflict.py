"""The conflict-set table (the paper's third open question): where the mask and the caption disagree on one shape
attribute, how often does the generated face follow each, per setting, beside the same pairs in agreement; and each
setting against the reference row on the same pairs. `<stem>_conflict.{md,csv,tex}`, from a sweep that sweeps
`eval.set` over `conflict` and `agree` (mdit.data.synthfaces.conflict; mdit.metrics.following).

Every cell is a mean over the pairs (0/1 per pair: followed or not) with its 95 % bootstrap interval over the pairs
(over the seeds' means with several training seeds); the paired differences are on the same pairs and noise seeds.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdit.results.collect import Run
from mdit.results.layout import Cell, Header, Section, Table
from mdit.results.paired import ALPHA, PairedTable, compare
from mdit.results.render import csv_number, write_records
from mdit.results.rows import Row, group_rows, setting_label
from mdit.results.samples import RunScores, ScoreBook
from mdit.results.stats import Interval, format_interval, format_paired, mean_interval, over_seeds
from mdit.scores import FOLLOWING
from mdit.variants import CONFLICT_ATTRIBUTES as ATTRIBUTES

SET_KEY = "eval.set"
SETS = ("conflict", "agree")
LABELS = {"follows_mask": "follows the mask (%)", "follows_caption": "follows the caption (%)"}


@dataclass
class Setting:
    """One setting's two rows: its runs evaluated on the conflict pairs and on the same pairs in agreement."""

    label: str
    conflict: Row | None
    agree: Row | None


def settings(runs: list[Run], swept: dict, name: str, fixed: dict) -> list[Setting]:
    """The sweep's settings (its swept keys but eval.set), each with its conflict and agree rows."""
    others = {k: v for k, v in swept.items() if k != SET_KEY}
    rows, _ = group_rows(runs, {**others, SET_KEY: list(SETS)}, name, fixed)
    found: dict[str, Setting] = {}
    for row in rows:
        params = {k: v for k, v in row.params.items() if k != SET_KEY}
        label = setting_label(params, name)
        entry = found.setdefault(label, Setting(label, None, None))
        setattr(entry, row.params[SET_KEY], dataclasses.replace(row, label=label))
    return list(found.values())


def _interval(scores: list[RunScores], key: str, attribute: str | None = None) -> Interval | None:
    """The mean (%) of a 0/1 column over the pairs (of one attribute), with its interval; None without scores."""
    if not scores or any(s.problem for s in scores):
        return None
    per_run = [
        [100 * row[key] for row in s.rows or () if row[key] is not None and attribute in (None, row["attribute"])]
        for s in scores
    ]
    if not all(per_run):
        return None
    return mean_interval(per_run[0]) if len(per_run) == 1 else over_seeds([statistics.fmean(v) for v in per_run])


def _scores(row: Row | None, book: ScoreBook) -> list[RunScores]:
    return book.all_of(row.finished, row.evaluation) if row is not None else []


def _pairs(row: Row | None, book: ScoreBook) -> str:
    counts = {len(s.rows or ()) for s in _scores(row, book)}
    return "/".join(map(str, sorted(counts))) or "—"


def _cell(interval: Interval | None) -> Cell:
    return Cell("—" if interval is None else format_interval(interval, 1))


def _real(rows: list[Row], key: str) -> str:
    """The judge on the real faces (drawn to the given mask): its rate, the same images for every run."""
    for row in rows:
        for run in row.finished:
            value = (run.metrics or {}).get("eval", {}).get(row.evaluation, {}).get("real_images", {}).get(key)
            if value is not None:
                return f"{value:.1f}"
    return "—"


def numbers(s: Setting, book: ScoreBook) -> dict[str, Interval | None]:
    """A setting's cells: follows the mask / the caption in the conflict set, follows both in the agree set, and
    follows the caption in the conflict set per attribute (`caption:<attribute>`)."""
    conflict, agree = _scores(s.conflict, book), _scores(s.agree, book)
    return {
        "conflict_follows_mask": _interval(conflict, "follows_mask"),
        "conflict_follows_caption": _interval(conflict, "follows_caption"),
        "agree_follows_both": _interval(agree, "follows_caption"),
        **{f"conflict_follows_caption:{a}": _interval(conflict, "follows_caption", a) for a in ATTRIBUTES},
    }


def conflict_table(name: str, source: str, found: list[Setting], reference: str | None) -> tuple[Table, list[dict]]:
    """The sections (who wins; per attribute; paired differences) and notes of the conflict table, and its CSV
    records (one per setting, every number in full)."""
    book = ScoreBook()
    table = Table(f"{name}: the conflict set", source, [], None)
    cells_of = {s.label: numbers(s, book) for s in found}
    headers = [
        Header("", "setting"),
        Header("", "pairs"),
        Header("conflict", f"conflict: {LABELS['follows_mask']}"),
        Header("conflict", f"conflict: {LABELS['follows_caption']}"),
        Header("agree", "agree: follows both (%)"),
    ]
    who = ("conflict_follows_mask", "conflict_follows_caption", "agree_follows_both")
    cells = [
        [Cell(s.label), Cell(_pairs(s.conflict, book)), *(_cell(cells_of[s.label][k]) for k in who)] for s in found
    ]
    conflicts = [s.conflict for s in found if s.conflict is not None]
    agrees = [s.agree for s in found if s.agree is not None]
    real = [
        Cell("the judge on the real faces"),
        Cell(""),
        Cell(_real(conflicts, "follows_mask")),
        Cell(_real(conflicts, "follows_caption")),
        Cell(_real(agrees, "follows_caption")),
    ]
    table.sections.append(Section("Whom the face follows (95 % CI over the pairs)", headers, [*cells, real], "who"))
    by_attribute = [Header("", "setting"), *(Header("conflict", a.replace("_", " ")) for a in ATTRIBUTES)]
    rows = [
        [Cell(s.label), *(_cell(cells_of[s.label][f"conflict_follows_caption:{a}"]) for a in ATTRIBUTES)] for s in found
    ]
    title = "Conflict set: follows the caption (%), per contested attribute"
    table.sections.append(Section(title, by_attribute, rows, "attributes"))
    paired = compare(conflicts, reference, book, FOLLOWING) if reference in {r.label for r in conflicts} else None
    table.paired = paired
    if paired is not None and paired.keys:
        table.sections.append(_paired_section(paired, conflicts))
    table.notes = _notes(found, reference, paired)
    return table, _records(cells_of, paired)


def _records(cells_of: dict[str, dict[str, Interval | None]], paired: PairedTable | None) -> list[dict[str, Any]]:
    records = []
    for label, cells in cells_of.items():
        record: dict[str, Any] = {"setting": label}
        for key, interval in cells.items():
            record[key] = csv_number(interval.mean if interval else None)
            record[f"{key}_ci_low"] = csv_number(interval.low if interval else None)
            record[f"{key}_ci_high"] = csv_number(interval.high if interval else None)
        for key in FOLLOWING:
            c = paired.of(label, key) if paired is not None else None
            result = c.paired if c is not None else None
            record[f"{key}_diff_vs_reference"] = csv_number(100 * result.mean_difference if result else None)
            record[f"{key}_p_holm"] = csv_number(c.p_holm if c is not None else None)
        records.append(record)
    return records


def _paired_section(paired: PairedTable, rows: list[Row]) -> Section:
    headers = [
        Header("", "setting"),
        Header("", "pairs"),
        *(Header(f"vs {paired.reference}", f"Δ {LABELS[key].removesuffix(' (%)')} (points)") for key in paired.keys),
    ]
    cells = []
    for row in rows:
        if row.label == paired.reference:
            continue
        found = [paired.of(row.label, key) for key in paired.keys]
        n = next((c.paired.n for c in found if c is not None and c.paired is not None), None)
        line = [Cell(row.label), Cell(str(n) if n else "—")]
        for c in found:
            if c is not None and c.paired is not None:
                scaled = dataclasses.replace(
                    c.paired,
                    mean_difference=100 * c.paired.mean_difference,
                    low=None if c.paired.low is None else 100 * c.paired.low,
                    high=None if c.paired.high is None else 100 * c.paired.high,
                )
                line.append(Cell(format_paired(scaled, c.p_holm, 1, ALPHA)))
            else:
                line.append(Cell("not paired" if c is not None and c.problem else "n/a"))
        cells.append(line)
    title = f"Conflict set: paired differences vs {paired.reference} (same pairs and noise seeds, percentage points)"
    return Section(title, headers, cells, "paired")


def _notes(found: list[Setting], reference: str | None, paired: PairedTable | None) -> list[str]:
    notes = [
        "Pairs: SynthFaces faces drawn twice, with one shape attribute (hat, eyeglasses, earrings, hair length, "
        "open mouth) at the caption's value and at the other value; conflict = the other value's mask with the "
        "caption, agree = the caption's value's mask with the same caption, the same noise seed "
        "(mdit.data.synthfaces.conflict).",
        "Whom a face follows: on the pixels where the two masks differ, the judge (the face parser) labels the "
        "generated face; the version it agrees with on more of them wins, a tie is neither "
        "(mdit.metrics.following). In the conflict set following the mask and following the caption exclude each "
        "other; the rest is neither.",
        "The judge on the real faces: the same vote on the faces drawn to the given mask (conflict: the other "
        "value, so following the mask is the judge's ceiling; agree: the caption's value).",
        "Accessories are stated by a caption only when present: their conflict is always 'the caption adds it, the "
        "mask leaves it out'. Hair length and an open mouth are stated both ways, in turn.",
    ]
    if reference and paired is None:
        notes.append(f"No paired differences: no setting {reference} here.")
    elif paired is not None:
        notes.append(
            f"Paired: row − {reference} per pair (0/1 each), mean in percentage points [95 % bootstrap CI], paired "
            f"permutation p Holm-corrected across the rows, * = significant at {ALPHA}."
        )
    missing = [s.label for s in found if s.conflict is None or s.agree is None]
    if missing:
        notes.append(f"—: no conflict or agree evaluation for {', '.join(missing)} (`mdit eval RUN --set conflict`).")
    return notes


def write_conflict_csv(records: list[dict[str, Any]], path: Path) -> Path:
    """One row per setting: each cell's mean and interval (percent), each paired difference and its Holm p."""
    return write_records(path, list(dict.fromkeys(key for record in records for key in record)), records)
