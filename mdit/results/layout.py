"""A table's content, independent of the output format: two sections (quality, cost) of text cells, and notes.

Column groups keep our numbers and the paper's apart: "ours" (the runs), "FLUX.1-dev scale" (`mdit flops`'s
count of the same variants) and the paper's published numbers, each labelled in every format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mdit.paper import PAPER_LABEL, paper_numbers
from mdit.results.columns import COSTS, QUALITY, Column, fixed
from mdit.results.flux_scale import FluxDevCosts
from mdit.results.rows import Row, Stat
from mdit.results.smoke import TITLE_SUFFIX

OURS, FLUX_GROUP = "ours", "FLUX.1-dev scale (mdit flops)"
PREFIX = {OURS: "", FLUX_GROUP: "FLUX.1-dev", PAPER_LABEL: "paper:"}  # Markdown has no column groups
MISSING_TEXT, NOT_REPORTED = "—", ""
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


@dataclass
class Table:
    """Everything the renderers print: title, sections, numbered footnotes (n/a reasons), notes, smoke line."""

    name: str
    source: str
    rows: list[Row]
    flux: FluxDevCosts | None
    sections: list[Section] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    smoke: str | None = None  # the line saying a smoke table's numbers mean nothing (mdit.results.smoke); else None

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
        published = paper_numbers(row.attention, row.mode)
        cells.append(
            [
                Cell(row.label),
                Cell(str(n)),
                *(stat_cell(table, row.stats[c.key], c, n) for c in QUALITY),
                *(fixed_cell(published.get(key), d, NOT_REPORTED) for key, _, d in paper),
            ]
        )
    return Section(f"Quality (eval mode: {', '.join(sorted({r.mode for r in table.rows}))})", headers, cells)


def cost_section(table: Table) -> Section:
    headers = [
        Header("", "setting"),
        Header("", "n"),
        *(Header(OURS, c.label) for c in COSTS),
        Header(FLUX_GROUP, "ΔTFLOPs counted"),
        Header(FLUX_GROUP, "ΔTFLOPs paper conv."),
        Header(PAPER_LABEL, "ΔTFLOPs (Table 4)"),
    ]
    cells = []
    for row in table.rows:
        n = len(row.finished)
        flux = table.flux.of(row.attention) if table.flux else {}
        published = paper_numbers(row.attention, row.mode)
        cells.append(
            [
                Cell(row.label),
                Cell(str(n)),
                *(stat_cell(table, row.stats[c.key], c, n) for c in COSTS),
                fixed_cell(flux.get("delta_tflops"), 2, MISSING_TEXT),
                fixed_cell(flux.get("delta_paper"), 2, MISSING_TEXT),
                fixed_cell(published.get("delta_tflops"), 2, NOT_REPORTED),
            ]
        )
    return Section("Cost of the mask condition per generated image", headers, cells)
