"""`mdit sweep`, `mdit sweep-run`, `mdit table`, `mdit report`: a sweep YAML of sweeps/, run, collected, reported.

`mdit sweep` and `mdit table` read the sweep's config: its command's -c files unless -c is given, then the profile.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from mdit.cli.common import add_config_args, add_verb, config_files, config_from

SWEEP_FILE = "sweep YAML, e.g. sweeps/ablation_attention.yaml"
SWEEP_BASE = "the sweep command's -c files"


def _sweep_base(args: argparse.Namespace) -> list[str] | None:
    """The config layers under the profile when no -c is given: the sweep YAML's command's -c files."""
    from mdit.sweep.spec import load_sweep

    return None if args.config else load_sweep(args.file).config_files


def run_sweep(args: argparse.Namespace) -> int:
    from mdit.sweep.spec import load_sweep, with_launch

    spec = load_sweep(args.file)
    if args.backend == "local" and (args.print_only or args.count is not None):
        raise ValueError("--print-only and --count are for --backend wandb")
    files = config_files(args, _sweep_base(args))
    seeds = [int(seed) for seed in args.seeds.split(",")] if args.seeds else None
    spec = with_launch(spec, files, args.overrides, seeds)
    if args.backend == "local":
        from mdit.sweep.local import run_local

        return 0 if run_local(spec, log=partial(print, flush=True)).ok else 1
    from mdit.sweep.wandb_backend import run_wandb

    wandb_cfg = config_from(args, _sweep_base(args)).wandb
    project = args.project or spec.config.get("project") or wandb_cfg.project
    entity = args.entity or spec.config.get("entity") or wandb_cfg.entity
    run_wandb(spec, project, entity, args.count, args.print_only)
    return 0


def add_sweep(verbs) -> None:
    parser = add_verb(
        verbs,
        "sweep",
        "run a sweep YAML of sweeps/: locally (W&B's engine picks the runs, one subprocess each, W&B offline) or "
        "as a W&B sweep with agents",
        run_sweep,
    )
    parser.add_argument("file", metavar="FILE", help=SWEEP_FILE)
    parser.add_argument(
        "--backend", choices=["local", "wandb"], default="local", help="where the runs run: here, or W&B agents"
    )
    add_config_args(
        parser,
        "the base config of every run",
        base=SWEEP_BASE,
        profile="on top of the base; each profile keeps its runs in its own output_dir",
        overrides="key=value for every run, e.g. train.threads=2",
    )
    parser.add_argument("--seeds", default=None, help="comma-separated seeds replacing the sweep's, e.g. 0,1,2")
    parser.add_argument("--project", default=None, help="W&B project (default: the sweep's, else wandb.project)")
    parser.add_argument("--entity", default=None, help="W&B entity (default: the sweep's, else wandb.entity)")
    parser.add_argument("--count", type=int, default=None, help="wandb: runs this agent takes before it stops")
    parser.add_argument(
        "--print-only",
        action="store_true",
        help="wandb: create the sweep and print the `wandb agent` command, start no agent",
    )


def run_sweep_run(args: argparse.Namespace) -> int:
    from mdit.sweep.trial import prepare, run_trial

    log = partial(print, flush=True)
    if args.prepare:
        prepare(args.config or [], [*args.set, *args.overrides], log)
        return 0
    print(f"sweep run complete: {run_trial(args.config or [], args.set, args.overrides, log)}")
    return 0


def add_sweep_run(verbs) -> None:
    parser = add_verb(
        verbs,
        "sweep-run",
        "one sweep run: train (resume, or skip when trained), then eval each mode not evaluated yet (the command "
        "of every sweep YAML)",
        run_sweep_run,
    )
    add_config_args(
        parser,
        "the run's config (a profile is one more layer: -c experiments/profiles/NAME.yaml)",
        profile=None,
        overrides="the sweep's parameters as key=value (${args_no_hyphens}); eval.mode=M is evaluated, not "
        "trained; dropout=P sets text and mask dropout",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fixed override (not part of the run's name), repeatable",
    )
    parser.add_argument(
        "--prepare", action="store_true", help="only build the backbone and judges the config needs (once; cached)"
    )


def _table_remedy(args: argparse.Namespace) -> str:
    """The command that makes the runs `mdit table` looked for: the sweep with the table's config, profile, runs."""
    from mdit.results.no_runs import local_remedy, wandb_remedy

    if args.source == "wandb":
        return wandb_remedy(args.sweep)
    moved = [f"output_dir={args.runs}"] if args.runs else []  # --runs: where the sweep must write them
    return local_remedy(args.file, args.config, args.profile, [*args.overrides, *moved])


def run_table(args: argparse.Namespace) -> int:
    from mdit.results.table import build_table

    runs = args.runs or config_from(args, _sweep_base(args)).output_dir
    paths = build_table(
        args.file,
        source=args.source,
        out_dir=args.out,
        wandb_sweep=args.sweep,
        runs_root=runs,
        flux_dev=not args.no_flux_dev,
        profile=args.profile,
        remedy=_table_remedy(args),
        reference=args.reference,
    )
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0


def add_table(verbs) -> None:
    parser = add_verb(verbs, "table", "a sweep's runs as results/<sweep>.{md,csv,tex,png}", run_table)
    parser.add_argument("file", metavar="FILE", help=SWEEP_FILE)
    parser.add_argument(
        "--source", choices=["local", "wandb"], default="local", help="where the runs are read: run folders, or W&B"
    )
    parser.add_argument("--sweep", default=None, metavar="ENTITY/PROJECT/ID", help="the W&B sweep (--source wandb)")
    parser.add_argument("--out", default="results", help="output folder")
    parser.add_argument(
        "--runs", default=None, help="local run folders' root (default: output_dir of the config the sweep ran with)"
    )
    add_config_args(
        parser,
        "the base config the sweep ran with",
        base=SWEEP_BASE,
        profile="the sweep ran with (its output_dir); smoke, like smoke runs, labels every output as smoke",
        overrides="the key=value overrides the sweep ran with (output_dir=...)",
    )
    parser.add_argument("--no-flux-dev", action="store_true", help="skip the FLUX.1-dev-scale cost columns (~25 s)")
    parser.add_argument(
        "--reference",
        default=None,
        metavar="ROW",
        help="the row every other row is compared with (paired differences on the same test samples), by its "
        "setting label; default: the sweep's (ablation_attention: holistic, ablation_tokenization: concat, "
        "guidance: plain); plain: each row against its own training sampled plainly; off: no comparison",
    )


def run_report(args: argparse.Namespace) -> int:
    from mdit.results.report import DEFAULT_PROJECT, build_report, describe, save_report
    from mdit.results.smoke import SMOKE
    from mdit.sweep.profiles import profile_files
    from mdit.sweep.spec import load_sweep

    profile_files(args.profile)  # an unknown profile is an error listing the known ones
    project = args.project or load_sweep(args.file).config.get("project") or DEFAULT_PROJECT
    table = Path(args.table).read_text() if args.table else None
    report = build_report(args.file, args.entity, project, args.title, smoke=args.profile == SMOKE, table=table)
    print("\n".join(describe(report)))
    if args.save:
        print(f"saved: {save_report(report)}")
    return 0


def add_report(verbs) -> None:
    parser = add_verb(verbs, "report", "a W&B report of a sweep's runs: prints its panels; --save saves it", run_report)
    parser.add_argument("file", metavar="FILE", help=SWEEP_FILE)
    parser.add_argument("--entity", required=True, help="W&B entity of the runs and the report")
    parser.add_argument("--project", default=None, help="W&B project (default: the sweep's, else mditface)")
    parser.add_argument("--title", default=None, help="report title (default: MDiTFace sweep: <stem>)")
    parser.add_argument(
        "--profile",
        default="default",
        metavar="NAME",
        help="the profile the sweep ran with; smoke says so in the report's title and first line",
    )
    parser.add_argument(
        "--table",
        default=None,
        metavar="MD",
        help="the sweep's table as `mdit table` wrote it (results/<sweep>.md): shown in the report, with its "
        "intervals and paired differences",
    )
    parser.add_argument("--save", action="store_true", help="save it to W&B and print its URL (needs wandb login)")


def add_parsers(verbs) -> None:
    add_sweep(verbs)
    add_sweep_run(verbs)
    add_table(verbs)
    add_report(verbs)
