"""A W&B report of a sweep: quality and cost bars per varied parameter, loss curves, sample grids, run comparer.

Built offline as `wandb_workspaces.reports.v2` objects (no network until `save_report`). The runs are those
of the sweep's group (the sweep file's stem, which every run carries, W&B sweep or `wandb sync`-ed offline
runs alike); the bars are grouped by the config key the sweep varies (mean over seeds, min-max range).
The metric names are the ones the runs' W&B summaries and histories hold: `eval/<mode>/<metric>` (`mdit eval`),
`cost/<key>` (the cost callback), `train/loss`, `val/loss`, `val/loss_without_mask` (Lightning's logs) and
the `val/samples` images (the sample-grid callback). Given the Markdown `mdit table` wrote, the report also shows
that table (its intervals and paired differences: what the bars, min to max over seeds, cannot say).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdit.config import EvalConfig
from mdit.results.columns import COST, COSTS, EVAL, QUALITY
from mdit.results.smoke import TITLE_SUFFIX, smoke_line, smoke_settings
from mdit.sweep.params import ALIASES, EVAL_MODE
from mdit.sweep.spec import SweepSpec, load_sweep

if TYPE_CHECKING:
    import wandb_workspaces.reports.v2 as wr

DEFAULT_PROJECT = "mditface"
DEFAULT_MODE = EvalConfig().mode  # the mode of a sweep that does not vary it
# The eval metrics of the bars: the tables' quality columns read straight from eval[mode] (real_images/... are
# the judges' own scores on the real images, not a property of the variant).
QUALITY_METRICS = tuple(column.key for column in QUALITY if len(column.path) == 1)
# The cost bars: the extra FLOPs (counted, paper convention) and the latency against text-only `none`.
COST_METRICS = tuple(column.key for column in COSTS if column.key != "seconds_per_image")
# Cost titles of their own: the tables print GFLOPs, W&B holds the TFLOPs of metrics.json.
COST_TITLES = {
    "tflops_delta": "extra TFLOPs per generation (counted)",
    "tflops_delta_paper": "extra TFLOPs per generation (paper convention)",
    "latency_ratio_vs_none": "latency × text-only none",
}
TRAIN_CURVES = {"train loss": ("train/loss",), "validation loss": ("val/loss", "val/loss_without_mask")}
SAMPLES_KEY = "val/samples"  # mdit.callbacks.sample_grid: WandbLogger.log_image(key=...)
NOT_VARIED = ("group", "name", "tags", "seed")  # constant per sweep, or replicates (averaged over)
GRID_WIDTH, PANEL_WIDTH, PANEL_HEIGHT = 24, 8, 6  # a report's panel grid is 24 units wide


def _wr() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # wandb-workspaces' pydantic v1-style validators warn on import
        import wandb_workspaces.reports.v2 as wr
    return wr


def eval_key(mode: str, metric: str) -> str:
    """The W&B summary name of an eval metric (mdit.sweep.state.summary's `eval/<mode>/<metric>`)."""
    return f"{EVAL}/{mode}/{metric}"


def cost_key(key: str) -> str:
    """The W&B summary name of a cost metric (mdit.callbacks.CostMeasurement: `cost/<key>`)."""
    return f"{COST}/{key}"


def sweep_modes(spec: SweepSpec) -> list[str]:
    """The eval modes the sweep's runs are scored in: the `eval.mode` parameter's values, else the default."""

    parameter = spec.config["parameters"].get(EVAL_MODE, {})
    if "values" in parameter:
        return [str(value) for value in parameter["values"]]
    return [str(parameter.get("value", DEFAULT_MODE))]


def varied_key(spec: SweepSpec) -> str | None:
    """The config key the runs differ in, for grouping: the first parameter with several values that is not
    the seed, the mode (a metric-name prefix, not a config key) or a label; an alias gives its first target."""

    for key, parameter in spec.config["parameters"].items():
        if key in NOT_VARIED or key == EVAL_MODE:
            continue
        if len(parameter.get("values", [])) > 1 or "distribution" in parameter or "min" in parameter:
            return ALIASES.get(key, (key,))[0]
    return None


def run_filter(group: str) -> str:
    """The runset filter of the sweep's runs, as wandb-workspaces writes it: the run attribute Group (the
    backend's `run.group`) equals the sweep's stem."""
    wr = _wr()
    from wandb_workspaces import expr

    return wr.Runset(filters=expr.And(expr.Metric("Group") == group)).filters


def _laid_out(panels: list[Any], width: int = PANEL_WIDTH) -> list[Any]:
    """Panels placed left to right, GRID_WIDTH // width a row (the default layout stacks them all at x=y=0)."""
    wr = _wr()
    per_row = GRID_WIDTH // width
    for index, panel in enumerate(panels):
        row, column = divmod(index, per_row)
        panel.layout = wr.Layout(x=column * width, y=row * PANEL_HEIGHT, w=width, h=PANEL_HEIGHT)
    return panels


def table_blocks(markdown: str | None) -> list[Any]:
    """The table `mdit table` wrote (results/<sweep>.md) as a Markdown block under its own heading; none without."""
    if not markdown:
        return []
    wr = _wr()
    return [wr.H2("Table (`mdit table`)"), wr.MarkdownBlock(text=markdown)]


def build_report(
    sweep_file: str | Path,
    entity: str,
    project: str,
    title: str | None = None,
    smoke: bool = False,
    table: str | None = None,
) -> wr.Report:
    """The report of a sweep's runs in ENTITY/PROJECT, built offline (nothing is sent until `save_report`); a smoke
    report (`smoke`: the sweep ran with the smoke profile) says in its title and first line that its numbers mean
    nothing. `table`: the Markdown of the sweep's table (intervals, paired differences), shown after the intro."""
    wr = _wr()
    spec = load_sweep(sweep_file)
    group, modes, key = spec.group, sweep_modes(spec), varied_key(spec)
    groupby = wr.Config(key) if key else None
    by = f" by `{key}`" if key else ""
    bars: dict[str, Any] = (
        dict(groupby=groupby, groupby_aggfunc="mean", groupby_rangefunc="minmax", orientation="v")
        if key
        else dict(orientation="v")
    )
    lines: dict[str, Any] = dict(groupby=groupby, groupby_aggfunc="mean", groupby_rangefunc="minmax") if key else {}

    def grid(name: str, panels: list[Any], width: int = PANEL_WIDTH) -> Any:
        runset = wr.Runset(
            entity=entity,
            project=project,
            name=name,
            filters=run_filter(group),
            groupby=[f"config.{key}"] if key else [],
        )
        return wr.PanelGrid(runsets=[runset], panels=_laid_out(panels, width))

    labels = {column.key: column.label for column in QUALITY}
    quality = [
        wr.BarPlot(title=labels[metric], metrics=[eval_key(mode, metric) for mode in modes], **bars)
        for metric in QUALITY_METRICS
    ]
    cost = [
        wr.BarPlot(title=COST_TITLES.get(metric, metric), metrics=[cost_key(metric)], **bars) for metric in COST_METRICS
    ]
    curves = [wr.LinePlot(title=name, x="Step", y=list(keys), **lines) for name, keys in TRAIN_CURVES.items()]
    samples = wr.MediaBrowser(
        title="validation samples (mask | generated | ground truth)",
        media_keys=[SAMPLES_KEY],
        num_columns=1,
        gallery_axis="run",
    )
    description = spec.config.get("description", "")
    warning = [wr.CalloutBlock(smoke_line(smoke_settings()))] if smoke else []
    blocks = [
        *warning,
        wr.P(
            f"Runs of group `{group}` (sweep file `{spec.path.name}`, {spec.method}), eval modes {', '.join(modes)}"
            f"{by}: mean over seeds, bars from min to max."
        ),
        *table_blocks(table),
        wr.H2("Quality"),
        grid("quality", quality),
        wr.H2("Cost against text-only `none`"),
        wr.P("Extra TFLOPs per generation (counted, and in the paper's convention) and latency ratio."),
        grid("cost", cost),
        wr.H2("Training"),
        grid("training", [*curves, samples]),
        wr.H2("Runs"),
        grid("runs", [wr.RunComparer(diff_only="split")], GRID_WIDTH),
    ]
    suffix = TITLE_SUFFIX if smoke else ""  # kept whole: W&B titles stop at 128 characters
    title = (title or f"MDiTFace sweep: {group}")[: 128 - len(suffix)] + suffix
    return wr.Report(entity=entity, project=project, title=title, description=description, blocks=blocks, width="fluid")


def panels_of(report: Any) -> list[tuple[str, Any]]:
    """(the grid's runset name, panel) for every panel of the report, in order."""
    wr = _wr()
    return [
        (block.runsets[0].name, panel)
        for block in report.blocks
        if isinstance(block, wr.PanelGrid)
        for panel in block.panels
    ]


def describe(report: Any) -> list[str]:
    """One line per panel (kind, title, metric keys, grouping) after a header line: what `mdit report` prints."""
    wr = _wr()
    grids = [block for block in report.blocks if isinstance(block, wr.PanelGrid)]
    runset = grids[0].runsets[0] if grids else None
    lines = [
        f"report {report.title!r} in {report.entity}/{report.project}"
        + (f": runs where {runset.filters}, grouped by {runset.groupby or 'run'}" if runset else "")
    ]
    for block in report.blocks:
        if isinstance(block, wr.MarkdownBlock):
            lines.append(f"  [table] MarkdownBlock: {len(block.text.splitlines())} lines")
    for name, panel in panels_of(report):
        keys = getattr(panel, "metrics", None) or getattr(panel, "y", None) or getattr(panel, "media_keys", None)
        group = getattr(panel, "groupby", None)
        lines.append(
            f"  [{name}] {type(panel).__name__}"
            + (f" {panel.title!r}" if getattr(panel, "title", None) else "")
            + (f": {', '.join(map(str, keys))}" if keys else "")
            + (f" (by {group.name})" if group is not None else "")
        )
    return lines


def save_report(report: Any) -> str:
    """Save the report to W&B (network; needs `wandb login` or WANDB_API_KEY) and return its URL."""
    report.save()
    return report.url
