"""`mdit table SWEEP_FILE`: a sweep's runs as results/<sweep stem>.{md,csv,tex,png}, the paper's numbers beside.

Runs are the local folders runs/<sweep stem>/*/ (config.yaml + metrics.json) or the runs of a W&B sweep. Rows
are the settings of the swept parameters other than the seed. A quality cell is a mean with its 95 % interval
where the runs have per-sample scores (mdit.results.intervals), else mean ± std over seeds; with a reference row
(mdit.results.references), every other row's paired differences to it follow the quality section. Missing
results are "—" with a note, never an error; a sweep without a single finished run is NoResults, which names the
command to run.
Smoke runs (mdit.results.smoke) make a smoke table: every output says its numbers are not meaningful.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mdit import atomic
from mdit.results.collect import Run, collect_local, collect_wandb, sweep_constants, sweep_parameters
from mdit.results.conflict import SET_KEY, conflict_table, settings, write_conflict_csv
from mdit.results.curves import curves, write_curves_csv, write_curves_png
from mdit.results.flux_scale import ScaledCosts, flux_dev_costs
from mdit.results.frontier import frontier_points, frontier_section, has_frontier, run_scale_costs, write_frontier_png
from mdit.results.intervals import attach_intervals
from mdit.results.layout import Table, condition_section, cost_section, paired_section, quality_section
from mdit.results.no_runs import NoResults, local_remedy, nothing_found, wandb_remedy
from mdit.results.notes import (
    cost_notes,
    frechet_kinds,
    judge_notes,
    missing_notes,
    modulation_notes,
    paper_notes,
    skipped_note,
    split_notes,
)
from mdit.results.paired import PairedTable, compare, compare_with_plain
from mdit.results.plot import write_png
from mdit.results.references import PLAIN, Reference, choose_reference
from mdit.results.render import latex, markdown, write_csv, write_runs_csv
from mdit.results.rows import Row, group_rows
from mdit.results.samples import ScoreBook
from mdit.results.smoke import smoke_note
from mdit.results.stat_notes import cells_note, interval_notes, paired_notes
from mdit.sweep.profiles import DEFAULT

SOURCES = ("local", "wandb")


def read_runs(group: str, source: str, runs_root: str | Path, wandb_sweep: str | None) -> tuple[list[Run], str]:
    """The runs of a sweep and a line saying where they came from."""
    if source == "local":
        folder = Path(runs_root) / group
        return collect_local(folder), f"Local runs: `{folder}/*/` (config.yaml + metrics.json)."
    if source == "wandb":
        if not wandb_sweep:
            raise ValueError("source 'wandb' needs the sweep's path: entity/project/sweep_id")
        return collect_wandb(wandb_sweep), f"W&B sweep `{wandb_sweep}` (run config + summary)."
    raise ValueError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")


def paired_with(rows: list[Row], reference: Reference | None, book: ScoreBook) -> tuple[PairedTable | None, list[str]]:
    """The rows against the reference row, or None and why not; a reference the user named must be a row."""
    if reference is None:
        return None, []
    if reference.label == PLAIN:
        return compare_with_plain(rows, book), []
    labels = [row.label for row in rows]
    if labels.count(reference.label) != 1:
        if reference.explicit:
            raise ValueError(f"--reference {reference.label}: no such row; the rows are {', '.join(labels)}")
        return None, [f"No paired differences: no row {reference.label} (this sweep's default reference) here."]
    return compare(rows, reference.label, book), []


def make_table(
    name: str,
    source_line: str,
    runs: list[Run],
    swept: dict,
    flux: ScaledCosts | None,
    group_dir: str | None = None,
    fixed: dict | None = None,
    profile: str | None = None,
    reference: Reference | None = None,
) -> Table:
    """Rows, their sections and every note of one table; smoke-labelled when its runs (or `profile`) are smoke.

    `reference`: the row every other row is compared with (paired differences), or None for no comparison."""
    rows, skipped = group_rows(runs, swept, name, fixed)
    finished = len({r.name for row in rows for r in row.finished})
    source_line += f" {finished} finished runs in {len(rows)} settings."
    table = Table(name, source_line, rows, flux, smoke=smoke_note(runs, profile))
    book = ScoreBook()
    attach_intervals(rows, book)
    table.paired, no_reference = paired_with(rows, reference, book)
    kinds = frechet_kinds(rows)
    quality = quality_section(table, kinds)  # first: its n/a reasons are the first footnotes
    paired, conditions = paired_section(table), condition_section(table)
    table.sections = [quality, *(s for s in (conditions, paired) if s), cost_section(table)]
    table.notes = [
        cells_note(rows),
        *interval_notes(rows),
        *no_reference,
        *paired_notes(table.paired),
        *missing_notes(rows, group_dir),
        *split_notes(rows),
        *modulation_notes(rows),
        *judge_notes(rows),
        *cost_notes(rows, flux),
        *paper_notes(),
        *skipped_note(skipped),
    ]
    return table


def build_table(
    sweep_file: str | Path,
    source: str = "local",
    out_dir: str | Path = "results",
    wandb_sweep: str | None = None,
    *,
    runs_root: str | Path = "runs",
    flux_dev: bool = True,
    echo: Callable[[str], None] = print,
    profile: str | None = None,
    remedy: str | None = None,
    reference: str | None = None,
) -> dict[str, Path]:
    """Write out_dir/<sweep stem>.{md,csv,tex,png} (and <stem>_runs.csv, one row per run); print the Markdown.

    `flux_dev=False` skips the FLUX.1-dev-scale cost columns (~25 s to count). `profile`: the one the sweep ran
    with (smoke labels the table, as smoke runs do themselves). With no finished run, NoResults says where none
    were found and `remedy` (default: the plain `mdit sweep` command) what makes them. `reference`: the row the
    others are compared with (default: the sweep's, mdit.results.references; "none": no comparison). Returns the
    four main paths, and "curves" (<stem>_curves.png, with its CSV) where runs have scored checkpoints.
    """
    sweep_file = Path(sweep_file)
    name = sweep_file.stem
    swept = sweep_parameters(sweep_file)
    fixed = sweep_constants(sweep_file)
    sets = swept.pop(SET_KEY, None)  # a swept eval.set: the test rows make the table, the pairs the conflict table
    if sets is not None:
        fixed[SET_KEY] = "test"
    runs, source_line = read_runs(name, source, runs_root, wandb_sweep)
    if not any(run.metrics is not None for run in runs):
        where = f"under {Path(runs_root) / name}" if source == "local" else f"in W&B sweep {wandb_sweep}"
        default = (
            local_remedy(sweep_file, profile=profile or DEFAULT) if source == "local" else wandb_remedy(wandb_sweep)
        )
        raise NoResults(f"{nothing_found(name, where, runs)}: {remedy or default}")
    group_dir = str(Path(runs_root) / name) if source == "local" else None
    flux = flux_dev_costs() if flux_dev else None
    chosen = choose_reference(name, reference)
    table = make_table(name, source_line, runs, swept, flux, group_dir, fixed, profile, chosen)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frontier = None
    if has_frontier(swept):
        run_costs = run_scale_costs(table.rows)
        frontier = frontier_points(table.rows, flux, run_costs)
        if run_costs is None:
            table.notes.append(
                "Frontier, run scale: not counted (the runs' backbone is a FLUX folder, whose scale the FLUX.1-dev "
                "column gives, or their config.yaml could not be read over the defaults)."
            )
        table.sections.append(frontier_section(frontier))
        table.notes.append(
            f"Frontier: `{name}_frontier.png` beside this table (mask accuracy against the extra cost counted at the "
            "run's scale and at FLUX.1-dev scale, each at the row's sampling steps, and against the measured s/img); a "
            "row is on a front when no other has at least its mean accuracy at no more cost: a front of means, where "
            "overlapping intervals are not told apart."
        )
    learning = curves(table.rows)
    if learning:
        table.notes.append(
            f"Learning curves: `{name}_curves.png` and `{name}_curves.csv` beside this table (mask accuracy of every "
            "checkpoint scored by `mdit eval RUN --checkpoints all`, 95 % interval; the validation loss gap) "
            "against the faces seen."
        )
    text = markdown(table)
    paths = {
        "md": out / f"{name}.md",
        "csv": out / f"{name}.csv",
        "tex": out / f"{name}.tex",
        "png": out / f"{name}.png",
    }
    atomic.write_text(paths["md"], text)  # every file of a table: written aside, then renamed into place
    write_csv(table, paths["csv"])
    write_runs_csv(table, out / f"{name}_runs.csv")
    atomic.write_text(paths["tex"], latex(table))
    write_png(table, paths["png"])
    if frontier is not None:
        paths["frontier"] = write_frontier_png(frontier, table.title, out / f"{name}_frontier.png")
    if learning:
        paths["curves"] = write_curves_png(learning, f"{table.title}: learning curves", out / f"{name}_curves.png")
        write_curves_csv(learning, out / f"{name}_curves.csv")
    if sets is not None:
        conflict, records = conflict_table(
            name, source_line, settings(runs, swept, name, fixed), chosen and chosen.label
        )
        conflict.smoke = table.smoke
        paths["conflict"] = out / f"{name}_conflict.md"
        atomic.write_text(paths["conflict"], markdown(conflict))
        atomic.write_text(out / f"{name}_conflict.tex", latex(conflict))
        write_conflict_csv(records, out / f"{name}_conflict.csv")
        text += "\n" + markdown(conflict)
    echo(text)
    return paths
