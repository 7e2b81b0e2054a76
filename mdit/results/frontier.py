"""The cost-quality frontier of a sweep over the mask tokens' stride, their readers or the sampling steps.

Each row is a point: mask accuracy (with its 95 % interval) against its extra cost, counted at the run's own scale
and at FLUX.1-dev scale (both at the row's sampling steps), and against its measured seconds per image. A point is
on the Pareto front when no other has at least its mean accuracy at no more cost (one of the two strictly): a front
of means, so two points whose intervals overlap are not told apart by it. The paper's two settings (holistic and
improved_decoupled at stride 1, image_text, 28 steps) are marked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mdit import atomic
from mdit.config import load_config
from mdit.paper import PAPER_LABEL, PAPER_TABLE4
from mdit.results.flux_scale import ScaledCosts
from mdit.results.layout import MISSING_TEXT, Cell, Header, Section
from mdit.results.rows import READERS_KEY, STEPS_KEY, STRIDE_KEY, Row

FRONTIER_KEYS = (STRIDE_KEY, READERS_KEY, STEPS_KEY)  # a sweep over any of these gets the frontier
PAPER_POINTS = {"holistic": "paper's holistic", "improved_decoupled": "paper's improved"}
PAPER_STEPS = 28
COSTS = {  # axis -> (label, the point's value)
    "run": ("extra GFLOPs per image, counted (run scale)", lambda p: p.run_gflops),
    "flux": ("extra TFLOPs per image, counted (FLUX.1-dev, 512 px)", lambda p: p.flux_tflops),
    "seconds": ("seconds per image, measured (its sampling)", lambda p: p.seconds),
}


def has_frontier(swept: dict) -> bool:
    return any(key in swept for key in FRONTIER_KEYS)


@dataclass(frozen=True)
class Point:
    row: Row
    accuracy: float | None
    low: float | None
    high: float | None
    run_gflops: float | None
    flux_tflops: float | None
    seconds: float | None

    @property
    def paper(self) -> str | None:
        """Which of the paper's two settings this point is, if it is one."""
        if self.row.steps not in (None, PAPER_STEPS):
            return None
        return PAPER_POINTS.get(self.row.paper_attention or "")


def run_scale_costs(rows: list[Row]) -> ScaledCosts | None:
    """The embedded backbone's costs, counted on the first run's config (None for a FLUX-folder backbone, whose
    scale is FLUX.1's own, or without runs)."""
    from mdit.cost.report import SettingCosts, preset
    from mdit.model.factory import lora_settings

    runs = [run for row in rows for run in row.runs]
    if not runs:
        return None
    saved = OmegaConf.create({})
    for key, value in runs[0].config.items():
        OmegaConf.update(saved, key, value, force_add=True)
    try:  # over the defaults: a run saved before a key existed has the default's value
        cfg = OmegaConf.merge(load_config(None), saved)
    except OmegaConfBaseException:
        return None
    if cfg.model.pretrained:
        return None
    text_tokens = cfg.model.text_max_length or cfg.backbone.text_max_length
    lora = lora_settings(cfg.model.lora) if cfg.model.finetune == "lora" else None
    make_base, shape = preset("embedded", cfg.data.resolution, text_tokens, cfg.eval.steps, cfg)
    return ScaledCosts(SettingCosts(make_base, shape, lora), cfg.eval.steps)


def frontier_points(rows: list[Row], flux: ScaledCosts | None, run_costs: ScaledCosts | None) -> list[Point]:
    points = []
    for row in rows:
        stat, cell = row.stats["mask_accuracy"], row.intervals.get("mask_accuracy")
        low, high = (cell.interval.low, cell.interval.high) if cell is not None else (None, None)
        run = run_costs.of(*row.cost_setting).get("delta_tflops") if run_costs else None
        at_flux = flux.of(*row.cost_setting).get("delta_tflops") if flux else None
        seconds = row.stats["sampling_seconds"].mean  # timed by its own evaluation, at its steps
        if seconds is None and row.plain:  # sampled as the run samples: the training-time measurement is the same
            seconds = row.stats["seconds_per_image"].mean
        points.append(Point(row, stat.mean, low, high, None if run is None else run * 1e3, at_flux, seconds))
    return points


def pareto_front(points: list[Point], cost: Callable[[Point], float | None]) -> list[Point]:
    """The points no other point dominates (accuracy at least as high at no more cost, one strictly), by cost."""
    known = [p for p in points if p.accuracy is not None and cost(p) is not None]

    def dominated(p: Point) -> bool:
        return any(
            q.accuracy >= p.accuracy and cost(q) <= cost(p) and (q.accuracy > p.accuracy or cost(q) < cost(p))
            for q in known
        )

    return sorted((p for p in known if not dominated(p)), key=cost)


def frontier_section(points: list[Point]) -> Section:
    """One line per point, cheapest at FLUX.1-dev scale first, with the fronts it is on."""
    fronts = {axis: {id(p) for p in pareto_front(points, value)} for axis, (_, value) in COSTS.items()}
    holistic = next((p.flux_tflops for p in points if p.paper == PAPER_POINTS["holistic"]), None)
    headers = [
        Header("", "setting"),
        Header("", "mask acc. (%) [95 % CI]"),
        Header("", "ΔGFLOPs counted, run scale"),
        Header("", "ΔTFLOPs counted, FLUX.1-dev"),
        Header("", "saved vs paper's holistic at 28 steps (FLUX.1-dev)"),
        Header("", "s/img, its sampling"),
        Header("", "on the front (run / FLUX.1-dev / s)"),
    ]
    cells = []
    for p in sorted(points, key=lambda p: (p.flux_tflops is None, p.flux_tflops or 0.0)):
        accuracy = MISSING_TEXT if p.accuracy is None else f"{p.accuracy:.2f}"
        if p.low is not None and p.high is not None:
            accuracy += f" [{p.low:.2f}, {p.high:.2f}]"
        saved = None if holistic is None or p.flux_tflops is None else 1 - p.flux_tflops / holistic
        on = " / ".join("yes" if id(p) in fronts[axis] else "no" for axis in COSTS)
        cells.append(
            [
                Cell(p.row.label + (f" ({p.paper})" if p.paper else "")),
                Cell(accuracy),
                Cell(_number(p.run_gflops, ".3g")),
                Cell(_number(p.flux_tflops, ".2f")),
                Cell(_number(saved, ".1%")),
                Cell(_number(p.seconds, ".3g")),
                Cell(on),
            ]
        )
    return Section("The cost-quality frontier (each row at its own sampling steps)", headers, cells, "frontier")


def _number(value: float | None, spec: str) -> str:
    return MISSING_TEXT if value is None else format(value, spec)


COLORS = {"holistic": "#ff7f0e", "hard_decoupled": "#2ca02c", "improved_decoupled": "#1f77b4"}
MARKERS = {1: "o", 2: "s", 4: "^"}  # by stride; filled: image_text readers, hollow: image


def _panel(ax: Axes, points: list[Point], axis: str) -> None:
    """One cost axis: a marker per row (colour: strategy, shape: stride, fill: readers, number: steps)."""
    label, cost = COSTS[axis]
    shown = [p for p in points if p.accuracy is not None and cost(p) is not None]
    if not shown:
        ax.text(0.5, 0.5, "no results yet", transform=ax.transAxes, ha="center")
    for p in shown:
        row, color = p.row, COLORS.get(p.row.attention or "", "k")
        low, high = (p.accuracy - p.low, p.high - p.accuracy) if p.low is not None and p.high is not None else (0, 0)
        ax.errorbar(cost(p), p.accuracy, [[low], [high]], fmt="none", ecolor=color, alpha=0.35, capsize=2)
        face = color if row.readers == "image_text" else "white"
        ax.plot(cost(p), p.accuracy, MARKERS.get(row.stride, "D"), color=color, mfc=face, ms=6)
        steps = row.steps or "run"
        ax.annotate(str(steps), (cost(p), p.accuracy), xytext=(4, -3), textcoords="offset points", fontsize=6)
        if p.paper:
            ax.plot(cost(p), p.accuracy, "*", ms=18, mfc="none", mec="k")
            ax.annotate(p.paper, (cost(p), p.accuracy), xytext=(4, 8), textcoords="offset points", fontsize=7)
    front = pareto_front(points, cost)
    if front:
        ax.step([cost(p) for p in front], [p.accuracy for p in front], "r-", where="post", lw=1, label="Pareto front")
    if shown and min(cost(p) for p in shown) > 0:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    if axis == "flux":
        published = f"holistic {PAPER_TABLE4['holistic']}, improved {PAPER_TABLE4['improved_decoupled']} TF"
        ax.set_title(f"{PAPER_LABEL}, its own convention: {published}", fontsize=8)
    ax.set_xlabel(label)
    ax.set_ylabel("mask accuracy (%)")


def _legend(fig: Figure, points: list[Point]) -> None:
    """What the colours, shapes, fills and numbers mean, once for the figure."""
    handles = [Line2D([], [], color="r", label="Pareto front (of the means)")]
    for attention in dict.fromkeys(p.row.attention for p in points if p.row.attention in COLORS):
        handles.append(Line2D([], [], marker="o", ls="", color=COLORS[attention], label=attention))
    for stride in sorted({p.row.stride for p in points}):
        handles.append(Line2D([], [], marker=MARKERS.get(stride, "D"), ls="", color="0.3", label=f"stride {stride}"))
    handles += [
        Line2D([], [], marker="o", ls="", color="0.3", label="readers image_text"),
        Line2D([], [], marker="o", ls="", color="0.3", mfc="white", label="readers image"),
        Line2D([], [], marker="*", ls="", ms=12, mfc="none", mec="k", label="the paper's settings (28 steps)"),
        Line2D([], [], ls="", label="number: sampling steps; bars: 95 % CI"),
    ]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7)


def write_frontier_png(points: list[Point], title: str, path: Path) -> Path:
    """Mask accuracy against the counted extra cost at both scales and against the measured time."""
    fig = Figure(figsize=(18, 5.5), layout="constrained")
    for ax, axis in zip(fig.subplots(1, 3), COSTS):
        _panel(ax, points, axis)
    _legend(fig, points)
    fig.suptitle(f"{title}: the cost-quality frontier")
    return atomic.write_with(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
