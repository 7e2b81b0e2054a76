"""The table's figure: mask accuracy, the extra cost and the latency ratio per setting, ours beside the paper's.

Mask accuracy's error bars are the cells' 95 % intervals where the runs have per-sample scores (else ± std over
seeds), and a * marks a row significantly different from the reference row (paired, Holm-corrected).

Drawn on a bare matplotlib Figure (no pyplot state), so it works headless and inside a notebook alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mdit import atomic
from mdit.paper import PAPER_LABEL, paper_numbers
from mdit.results.layout import Table
from mdit.results.rows import Row

OURS_COLOR, PAPER_COLOR, FLUX_COLORS = "#1f77b4", "#bbbbbb", ("#ff7f0e", "#2ca02c")
SMOKE_COLOR = "#d62728"


def _bars(ax: Axes, x: np.ndarray, values: list[float | None], width: float, **style: object) -> None:
    """Bars where a value exists (None leaves a gap)."""
    keep = [i for i, v in enumerate(values) if v is not None]
    if keep:
        ax.bar(x[keep], [values[i] for i in keep], width, **style)


def _seeds(ax: Axes, x: np.ndarray, rows: list[Row], key: str) -> None:
    """Each run's own value as a dot over its setting's bar."""
    for xi, row in zip(x, rows):
        values = row.values(key)
        ax.plot([xi] * len(values), values, "k.", markersize=4, zorder=3)


def _error_bars(ax: Axes, x: np.ndarray, rows: list[Row], key: str) -> None:
    """Each bar's 95 % interval where its cell has one, else ± the std over seeds (none with one run)."""
    shown: set[str] = set()

    def label(text: str) -> str:  # each kind of bar in the legend once
        first = text not in shown
        shown.add(text)
        return text if first else f"_{text}"

    for xi, row in zip(x, rows):
        cell, stat = row.intervals.get(key), row.stats[key]
        if cell is not None and cell.interval.low is not None and cell.interval.high is not None:
            mean, low, high = cell.interval.mean, cell.interval.low, cell.interval.high
            bar = [[mean - low], [high - mean]]
            ax.errorbar(xi, mean, bar, color="k", capsize=3, label=label(f"95 % CI over {cell.over}"))
        elif stat.std is not None:
            ax.errorbar(xi, stat.mean, stat.std, color="0.4", capsize=3, label=label("± std over seeds"))


def _significance(ax: Axes, x: np.ndarray, table: Table, key: str) -> None:
    """A * over each bar whose paired difference to the reference is significant after Holm; the reference's
    bar says it is the reference."""
    paired = table.paired
    if paired is None or key not in paired.keys:
        return
    marked = False
    for xi, row in zip(x, table.rows):
        cell, stat = row.intervals.get(key), row.stats[key]
        top = cell.interval.high if cell and cell.interval.high is not None else stat.mean
        if top is None:
            continue
        comparison = paired.of(row.label, key)
        if row.label == paired.reference:
            ax.annotate("ref.", (xi, top), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7)
        elif comparison is not None and comparison.significant:
            ax.annotate("*", (xi, top), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=12)
            marked = True
    if marked:
        ax.plot([], [], " ", label=f"* differs from {paired.reference} (paired, Holm, p ≤ 0.05)")


def mask_accuracy_panel(ax: Axes, table: Table, x: np.ndarray) -> None:
    rows = table.rows
    stats = [row.stats["mask_accuracy"] for row in rows]
    ceiling = [row.stats["real_mask_accuracy"].mean for row in rows]
    paper = [paper_numbers(row.paper_attention, row.evaluation).get("mask_accuracy") for row in rows]
    _bars(ax, x - 0.2, [s.mean for s in stats], 0.4, color=OURS_COLOR, label="ours (mean over seeds)")
    _error_bars(ax, x - 0.2, rows, "mask_accuracy")
    _significance(ax, x - 0.2, table, "mask_accuracy")
    _seeds(ax, x - 0.2, rows, "mask_accuracy")
    _bars(ax, x + 0.2, paper, 0.4, color=PAPER_COLOR, hatch="//", label=PAPER_LABEL)
    for xi, c in zip(x - 0.2, ceiling):
        if c is not None:
            ax.hlines(c, xi - 0.2, xi + 0.2, colors="r", linestyles="--")
    if any(c is not None for c in ceiling):
        ax.plot([], [], "r--", label="parser on the real images (ceiling)")
    if all(s.mean is None for s in stats):
        ax.text(0.5, 0.5, "no eval results yet", transform=ax.transAxes, ha="center")
    ax.set_ylabel("mask accuracy (%)")
    ax.set_title("Mask accuracy")


def cost_panel(ax: Axes, table: Table, x: np.ndarray) -> None:
    rows = table.rows
    paper = [paper_numbers(row.paper_attention, row.evaluation).get("delta_tflops") for row in rows]
    if table.flux is not None:
        counted = [table.flux.of(*r.cost_setting).get("delta_tflops") for r in rows]
        convention = [table.flux.of(*r.cost_setting).get("delta_paper") for r in rows]
        _bars(ax, x - 0.27, counted, 0.27, color=FLUX_COLORS[0], label="FLUX.1-dev scale, counted")
        _bars(ax, x, convention, 0.27, color=FLUX_COLORS[1], label="FLUX.1-dev scale, paper convention")
        _bars(ax, x + 0.27, paper, 0.27, color=PAPER_COLOR, hatch="//", label=f"{PAPER_LABEL}, Table 4")
        ax.set_ylabel("extra TFLOPs per image")
        ax.set_title("Extra cost of the mask (FLUX.1-dev, 512 px, 28 steps)")
    else:
        giga = lambda v: None if v is None else v * 1e3  # noqa: E731
        counted = [giga(r.stats["tflops_delta"].mean) for r in rows]
        convention = [giga(r.stats["tflops_delta_paper"].mean) for r in rows]
        _bars(ax, x - 0.2, counted, 0.4, color=FLUX_COLORS[0], label="counted (run scale)")
        _bars(ax, x + 0.2, convention, 0.4, color=FLUX_COLORS[1], label="paper convention (run scale)")
        ax.set_ylabel("extra GFLOPs per image")
        ax.set_title("Extra cost of the mask (run scale)")


def latency_panel(ax: Axes, rows: list[Row], x: np.ndarray) -> None:
    stats = [row.stats["latency_ratio_vs_none"] for row in rows]
    _bars(ax, x, [s.mean for s in stats], 0.5, color=OURS_COLOR, label="ours (run scale)")
    _seeds(ax, x, rows, "latency_ratio_vs_none")
    ax.axhline(1.0, color="k", linewidth=0.8)
    ax.set_ylabel("s/img ÷ s/img with the mask dropped")
    ax.set_title("Latency vs text-only")


def suptitle(fig: Figure, table: Table) -> None:
    """The figure's title: the table's name; a smoke table's, in red, says its numbers are not meaningful."""
    if table.smoke:
        fig.suptitle(f"{table.title}\n{table.smoke}", color=SMOKE_COLOR)
    else:
        fig.suptitle(table.name)


def figure(table: Table) -> Figure:
    """Three bar panels, one group of bars per setting, under the table's title."""
    rows = table.rows
    x = np.arange(len(rows), dtype=float)
    width = min(max(12, 3.3 * len(rows)), 40)  # at most 40 inches: the efficiency table has 48 rows
    fig = Figure(figsize=(width, 4.8), layout="constrained")
    axes = fig.subplots(1, 3)
    mask_accuracy_panel(axes[0], table, x)
    cost_panel(axes[1], table, x)
    latency_panel(axes[2], rows, x)
    for ax in axes:
        ax.set_xticks(x, [row.label for row in rows], rotation=30, ha="right")
        if ax.get_legend_handles_labels()[0]:
            ax.set_ylim(top=ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
            ax.legend(fontsize=7, loc="upper left")
    suptitle(fig, table)
    return fig


def write_png(table: Table, path: Path) -> Path:
    """The table's figure as a PNG, written aside and renamed into place."""
    fig = figure(table)
    return atomic.write_with(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
