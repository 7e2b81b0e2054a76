"""A sweep's learning curves: each row's mask accuracy at every checkpoint its runs kept and scored (`mdit eval RUN
--checkpoints all`), with its 95 % interval, and the validation loss gap (the loss with the mask dropped minus the
loss with it: how much the model reads the mask), against the faces seen; `<stem>_curves.{png,csv}`.

A row with one run: the interval is the bootstrap over that checkpoint's test samples; with several seeds, over the
seeds' means. The losses come from the runs' logged history (mdit.results.history). Rows without checkpoint scores
(`none`, which trains nothing) are drawn as a level line at their last evaluation.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from mdit import atomic
from mdit.results.collect import Run
from mdit.results.history import local_history
from mdit.results.render import csv_number, write_records
from mdit.results.rows import Row
from mdit.results.stats import Interval, mean_interval, over_seeds
from mdit.runs import CHECKPOINTS_KEY
from mdit.scores import read_scores

LOSSES = ("val/loss", "val/loss_without_mask")
FIELDS = (
    "setting",
    "step",
    "faces_seen",
    "mask_accuracy",
    "ci_low",
    "ci_high",
    "ci_over",
    "val_loss",
    "val_loss_without_mask",
)


@dataclass
class Curve:
    """One row's points: step -> mask accuracy interval, and step -> (loss, loss without the mask), both averaged
    over the row's runs; `level`: a row with no checkpoint scores, its plain mask accuracy."""

    label: str
    faces_per_step: int
    over: str  # what the intervals are over: the test samples of one run, or the seeds
    accuracy: dict[int, Interval] = field(default_factory=dict)
    losses: dict[int, tuple[float, float]] = field(default_factory=dict)
    level: float | None = None

    @property
    def drawn(self) -> bool:
        return bool(self.accuracy or self.losses or self.level is not None)


def faces_per_step(run: Run) -> int:
    """Faces one optimizer step sees: batch x accumulation x devices x nodes (the run's saved config)."""
    product = 1
    for key in ("data.batch_size", "train.accumulate", "train.devices", "train.num_nodes"):
        product *= int(run.config.get(key) or 1)
    return product


def _checkpoint_scores(run: Run, key: str, step: int) -> list[float] | None:
    """The per-sample mask accuracy of the kept checkpoint of `step` (eval/step=NNNNNN/scores_<key>.csv), or None."""
    if run.folder is None:
        return None
    try:
        rows = read_scores(run.folder, key, step)
    except (FileNotFoundError, ValueError):
        return None
    return [r["mask_accuracy"] for r in rows if r["mask_accuracy"] is not None]


def row_curve(row: Row) -> Curve:
    """The curve of one row, from its finished runs."""
    runs = row.finished
    curve = Curve(row.label, faces_per_step(runs[0]) if runs else 1, "samples" if len(runs) == 1 else "seeds")
    per_step: dict[int, list[list[float]]] = {}
    for run in runs:
        for step in (run.metrics or {}).get(CHECKPOINTS_KEY, {}).get(row.evaluation, {}):
            values = _checkpoint_scores(run, row.evaluation, int(step))
            if values:
                per_step.setdefault(int(step), []).append(values)
    for step, values in sorted(per_step.items()):
        if len(values) == 1:
            curve.accuracy[step] = mean_interval(values[0])
        else:
            curve.accuracy[step] = over_seeds([statistics.fmean(v) for v in values])
    histories = [local_history(run.folder, LOSSES) for run in runs if run.folder is not None]
    with_mask: dict[int, list[float]] = {}
    without: dict[int, list[float]] = {}
    for history in histories:
        for step, value in history[LOSSES[0]]:
            with_mask.setdefault(step, []).append(value)
        for step, value in history[LOSSES[1]]:
            without.setdefault(step, []).append(value)
    for step in sorted(with_mask.keys() & without.keys()):
        curve.losses[step] = (statistics.fmean(with_mask[step]), statistics.fmean(without[step]))
    if not curve.accuracy:
        curve.level = row.stats["mask_accuracy"].mean
    return curve


def curves(rows: list[Row]) -> list[Curve]:
    """Every row's curve; empty when no row has checkpoint scores (nothing to draw)."""
    found = [row_curve(row) for row in rows]
    return found if any(c.accuracy for c in found) else []


def write_curves_csv(found: list[Curve], path: Path) -> Path:
    """One line per (row, step) with a mask accuracy or losses."""
    records = []
    for c in found:
        for step in sorted(c.accuracy.keys() | c.losses.keys()):
            interval, losses = c.accuracy.get(step), c.losses.get(step)
            records.append(
                {
                    "setting": c.label,
                    "step": step,
                    "faces_seen": step * c.faces_per_step,
                    "mask_accuracy": csv_number(interval.mean if interval else None),
                    "ci_low": csv_number(interval.low if interval else None),
                    "ci_high": csv_number(interval.high if interval else None),
                    "ci_over": c.over if interval else "",
                    "val_loss": csv_number(losses[0] if losses else None),
                    "val_loss_without_mask": csv_number(losses[1] if losses else None),
                }
            )
    return write_records(path, list(FIELDS), records)


def curves_figure(found: list[Curve], title: str) -> Figure:
    """Mask accuracy (95 % band) and the loss gap against the faces seen, one line per row."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    accuracy_ax, gap_ax = fig.subplots(1, 2)
    colors = [f"C{i}" for i in range(10)]
    for c, color in zip(found, colors * 3):
        if c.accuracy:
            steps = sorted(c.accuracy)
            faces = [s * c.faces_per_step / 1000 for s in steps]
            means = [c.accuracy[s].mean for s in steps]
            accuracy_ax.plot(faces, means, "o-", color=color, label=c.label, markersize=4)
            bands = [(f, c.accuracy[s]) for f, s in zip(faces, steps) if c.accuracy[s].low is not None]
            if bands:
                accuracy_ax.fill_between(
                    [f for f, _ in bands], [i.low for _, i in bands], [i.high for _, i in bands], color=color, alpha=0.2
                )
        elif c.level is not None:
            accuracy_ax.axhline(
                c.level, color=color, linestyle="--", linewidth=1, label=f"{c.label} (last checkpoint only)"
            )
        if c.losses:
            steps = sorted(c.losses)
            gaps = [c.losses[s][1] - c.losses[s][0] for s in steps]
            gap_ax.plot([s * c.faces_per_step / 1000 for s in steps], gaps, "o-", color=color, label=c.label, ms=4)
    accuracy_ax.set(xlabel="faces seen (thousands)", ylabel="mask accuracy (%)", title="Mask accuracy, 95 % CI")
    gap_ax.axhline(0.0, color="0.6", linewidth=0.8)
    gap_ax.set(
        xlabel="faces seen (thousands)",
        ylabel="val. loss without mask − with mask",
        title="How much the model reads the mask (loss gap)",
    )
    accuracy_ax.legend(fontsize=8)
    if gap_ax.lines[1:]:
        gap_ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def write_curves_png(found: list[Curve], title: str, path: Path) -> Path:
    fig = curves_figure(found, title)
    return atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
