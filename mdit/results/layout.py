"""A table's content, independent of the output format: sections of text cells (quality, the paired differences
against a reference row when there are any, cost), and notes.

Column groups keep our numbers and the paper's apart: "ours" (the runs), "FLUX.1-dev scale" (`mdit flops`'s
count of the same variants) and the paper's published numbers, each labelled in every format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mdit.paper import PAPER_LABEL, paper_numbers
from mdit.results.columns import CONDITIONS, COSTS, QUALITY, SAMPLING_COSTS, Column, fixed
from mdit.results.flux_scale import ScaledCosts
from mdit.results.intervals import DIGITS
from mdit.results.paired import ALPHA, PairedTable
from mdit.results.rows import Row, Stat
from mdit.results.smoke import TITLE_SUFFIX
from mdit.results.stats import format_paired

OURS, FLUX_GROUP = "ours", "FLUX.1-dev scale (mdit flops)"
PREFIX = {OURS: "", FLUX_GROUP: "FLUX.1-dev", PAPER_LABEL: "paper:"}  # Markdown has no column groups
MISSING_TEXT, NOT_REPORTED, NOT_PAIRED = "—", "", "not paired"
FRECHET_HEADERS = {"embedded_parser": "FD (parser feat.)", "inception": "FID (Inception)"}


@dataclass(frozen=True)
class Cell:
    """A cell's text and the numbers of its footnotes (the n/a reasons)."""

    text: str
    marks: tuple[int, ...] = ()


@dataclass(frozen=True)
class Header:
    group: str  # "" for the setting and n columns
    label: str

    @property
    def flat(self) -> str:
        """The header in a one-line format (Markdown, CSV-like): the group as a prefix."""
        prefix = PREFIX.get(self.group, "")
        return f"{prefix} {self.label}".strip()


@dataclass
class Section:
    title: str
    headers: list[Header]
    cells: list[list[Cell]]
    label: str = ""  # LaTeX's \label suffix: quality, paired, cost


@dataclass
class Table:
    """Everything the renderers print: title, sections, numbered footnotes (n/a reasons), notes, smoke line."""

    name: str
    source: str
    rows: list[Row]
    flux: ScaledCosts | None
    sections: list[Section] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    smoke: str | None = None  # the line saying a smoke table's numbers mean nothing (mdit.results.smoke); else None
    paired: PairedTable | None = None  # every row against the reference row, when the table has one

    @property
    def title(self) -> str:
        """The name shown atop every output: a smoke table's says so."""
        return self.name + (TITLE_SUFFIX if self.smoke else "")

    def mark(self, reason: str) -> int:
        """The footnote number of an n/a reason (numbered from 1, in order of appearance)."""
        if reason not in self.footnotes:
            self.footnotes.append(reason)
        return self.footnotes.index(reason) + 1


def stat_cell(table: Table, stat: Stat, column: Column, runs: int) -> Cell:
    """mean ± std (n=k when fewer than the row's runs have it), n/a with its footnotes, or "—"."""
    marks = tuple(table.mark(reason) for reason in stat.na)
    if stat.mean is None:
        return Cell("n/a" if stat.na else MISSING_TEXT, marks)
    text = column.fmt(stat.mean)
    if stat.std is not None:
        text += f" ± {column.fmt(stat.std)}"
    if stat.n is not None and stat.n < runs:
        text += f" (n={stat.n})"
    return Cell(text, marks)


def quality_cell(table: Table, row: Row, column: Column, runs: int) -> Cell:
    """The cell's mean [95 % interval] where its runs have per-sample scores, else `stat_cell`'s mean ± std."""
    interval = row.intervals.get(column.key)
    plain = stat_cell(table, row.stats[column.key], column, runs)
    if interval is None:
        return plain
    stat = row.stats[column.key]
    text = interval.text(column.key)
    if stat.n is not None and stat.n < runs:
        text += f" (n={stat.n})"
    return Cell(text, plain.marks)


def fixed_cell(value: float | None, digits: int, empty: str) -> Cell:
    return Cell(empty if value is None else fixed(digits)(value))


def frechet_header(kinds: set[str]) -> str:
    return FRECHET_HEADERS.get(next(iter(kinds)), "FD") if len(kinds) == 1 else "FD"


def quality_section(table: Table, frechet_kinds: set[str]) -> Section:
    labels = {c.key: c.label for c in QUALITY} | {"frechet": frechet_header(frechet_kinds)}
    paper = (("mask_accuracy", "mask acc. (%)", 2), ("clip_t", "CLIP-T", 2), ("topiq", "TOPIQ", 4))
    headers = [
        Header("", "setting"),
        Header("", "n"),
        *(Header(OURS, labels[c.key]) for c in QUALITY),
        *(Header(PAPER_LABEL, label) for _, label, _ in paper),
    ]
    cells = []
    for row in table.rows:
        n = len(row.finished)
        published = paper_numbers(row.paper_attention, row.evaluation)
        cells.append(
            [
                Cell(row.label),
                Cell(str(n)),
                *(quality_cell(table, row, c, n) for c in QUALITY),
                *(fixed_cell(published.get(key), d, NOT_REPORTED) for key, _, d in paper),
            ]
        )
    title = f"Quality (eval mode: {', '.join(sorted({r.mode for r in table.rows}))})"
    return Section(title, headers, cells, "quality")


def condition_section(table: Table) -> Section | None:
    """The spatial conditions' columns (sketch fidelity, keypoint error) that some row has a number or an n/a for;
    None when no row has any (runs evaluated before they existed)."""
    shown = [c for c in CONDITIONS if any(row.stats[c.key].n or row.stats[c.key].na for row in table.rows)]
    if not shown:
        return None
    headers = [Header("", "setting"), Header("", "n"), *(Header(OURS, c.label) for c in shown)]
    cells = []
    for row in table.rows:
        n = len(row.finished)
        cells.append([Cell(row.label), Cell(str(n)), *(quality_cell(table, row, c, n) for c in shown)])
    title = f"Spatial conditions (eval mode: {', '.join(sorted({r.mode for r in table.rows}))})"
    return Section(title, headers, cells, "conditions")


def cost_section(table: Table) -> Section:
    """The training-time cost columns of every run; where the rows differ in their sampling, also each
    evaluation's own latency against the plain sampling (SAMPLING_COSTS)."""
    sampling = SAMPLING_COSTS if any(not row.plain for row in table.rows) else ()
    headers = [
        Header("", "setting"),
        Header("", "n"),
        *(Header(OURS, c.label) for c in COSTS + sampling),
        Header(FLUX_GROUP, "ΔTFLOPs counted"),
        Header(FLUX_GROUP, "ΔTFLOPs paper conv."),
        Header(PAPER_LABEL, "ΔTFLOPs (Table 4)"),
    ]
    cells = []
    for row in table.rows:
        n = len(row.finished)
        flux = table.flux.of(*row.cost_setting) if table.flux else {}
        published = paper_numbers(row.paper_attention, row.evaluation)
        cells.append(
            [
                Cell(row.label),
                Cell(str(n)),
                *(stat_cell(table, row.stats[c.key], c, n) for c in COSTS + sampling),
                fixed_cell(flux.get("delta_tflops"), 2, MISSING_TEXT),
                fixed_cell(flux.get("delta_paper"), 2, MISSING_TEXT),
                fixed_cell(published.get("delta_tflops"), 2, NOT_REPORTED),
            ]
        )
    return Section("Cost of the mask condition per generated image", headers, cells, "cost")


def _counts(values: list[int]) -> str:
    """One count, or the distinct ones ("256/250") where the metrics of a row were paired on different numbers."""
    return "/".join(str(v) for v in dict.fromkeys(values)) or MISSING_TEXT


def paired_section(table: Table) -> Section | None:
    """Each other row minus the reference, per metric: difference [95 % CI] Holm-adjusted p, * where significant.

    None when no row could be compared (the notes say why)."""
    paired = table.paired
    if paired is None or not paired.keys:
        return None
    labels = {c.key: c.label for c in QUALITY}
    group = f"paired difference vs {paired.reference}"
    headers = [
        Header("", "setting"),
        Header("", "seeds"),
        Header("", "samples"),
        *(Header(group, f"Δ {labels[key]}") for key in paired.keys),
    ]
    cells = []
    for row in table.rows:
        found = [c for key in paired.keys if (c := paired.of(row.label, key)) is not None]
        if row.label == paired.reference or not found:
            continue
        done = [c for c in found if c.paired is not None]
        line = [
            Cell(row.label),
            Cell(_counts([len(c.seeds) for c in done])),
            Cell(_counts([c.paired.n for c in done if c.paired is not None])),
        ]
        for c in found:
            if c.paired is not None:
                line.append(Cell(format_paired(c.paired, c.p_holm, DIGITS[c.key], ALPHA)))
            else:
                line.append(Cell(NOT_PAIRED if c.problem else "n/a"))
        cells.append(line)
    title = f"Paired differences vs {paired.reference} (row − {paired.reference}, same test samples and seeds)"
    return Section(title, headers, cells, "paired")
