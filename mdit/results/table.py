"""`mdit table SWEEP_FILE`: a sweep's runs as results/<sweep stem>.{md,csv,tex,png}, the paper's numbers beside.

Runs are the local folders runs/<sweep stem>/*/ (config.yaml + metrics.json) or the runs of a W&B sweep. Rows
are the settings of the swept parameters other than the seed, mean ± std over seeds. Missing results are "—"
with a note, never an error; a sweep without a single finished run is NoResults, which names the command to run.
Smoke runs (mdit.results.smoke) make a smoke table: every output says its numbers are not meaningful.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mdit import atomic
from mdit.results.collect import Run, collect_local, collect_wandb, sweep_constants, sweep_parameters
from mdit.results.flux_scale import FluxDevCosts, flux_dev_costs
from mdit.results.layout import Table, cost_section, quality_section
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
from mdit.results.plot import write_png
from mdit.results.render import latex, markdown, write_csv, write_runs_csv
from mdit.results.rows import MODE_KEY, group_rows
from mdit.results.smoke import smoke_note
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


def make_table(
    name: str,
    source_line: str,
    runs: list[Run],
    swept: dict,
    flux: FluxDevCosts | None,
    group_dir: str | None = None,
    default_mode: str | None = None,
    profile: str | None = None,
) -> Table:
    """Rows, both sections and every note of one table; smoke-labelled when its runs (or `profile`) are smoke."""
    rows, skipped = group_rows(runs, swept, name, default_mode)
    finished = len({r.name for row in rows for r in row.finished})
    source_line += f" {finished} finished runs in {len(rows)} settings."
    table = Table(name, source_line, rows, flux, smoke=smoke_note(runs, profile))
    kinds = frechet_kinds(rows)
    table.sections = [quality_section(table, kinds), cost_section(table)]
    table.notes = [
        "Cells: mean ± sample standard deviation over seeds (± only with 2 or more); n = finished runs of the "
        "setting; (n=k): only k of them have that number.",
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
) -> dict[str, Path]:
    """Write out_dir/<sweep stem>.{md,csv,tex,png} (and <stem>_runs.csv, one row per run); print the Markdown.

    `flux_dev=False` skips the FLUX.1-dev-scale cost columns (~25 s to count). `profile`: the one the sweep ran
    with (smoke labels the table, as smoke runs do themselves). With no finished run, NoResults says where none
    were found and `remedy` (default: the plain `mdit sweep` command) what makes them. Returns the four main paths.
    """
    sweep_file = Path(sweep_file)
    name = sweep_file.stem
    swept = sweep_parameters(sweep_file)
    fixed_mode = sweep_constants(sweep_file).get(MODE_KEY)
    runs, source_line = read_runs(name, source, runs_root, wandb_sweep)
    if not any(run.metrics is not None for run in runs):
        where = f"under {Path(runs_root) / name}" if source == "local" else f"in W&B sweep {wandb_sweep}"
        default = (
            local_remedy(sweep_file, profile=profile or DEFAULT) if source == "local" else wandb_remedy(wandb_sweep)
        )
        raise NoResults(f"{nothing_found(name, where, runs)}: {remedy or default}")
    group_dir = str(Path(runs_root) / name) if source == "local" else None
    flux = flux_dev_costs() if flux_dev else None
    table = make_table(name, source_line, runs, swept, flux, group_dir, fixed_mode and str(fixed_mode), profile)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
    echo(text)
    return paths
