"""The `mdit` command. Verbs arrive with the capabilities behind them; `mdit --help` lists what exists."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path


def _variants(args: argparse.Namespace) -> int:
    from mdit.variants import STRATEGIES

    width = max(map(len, STRATEGIES))
    for name, strategy in STRATEGIES.items():
        print(f"{name:<{width}}  {strategy.description}")
    return 0


def _config(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from mdit.config import load_config

    print(OmegaConf.to_yaml(load_config(args.config, args.overrides)), end="")
    return 0


def _synthfaces(args: argparse.Namespace) -> int:
    from PIL import Image

    from mdit.data.synthfaces import render
    from mdit.labels import label_map_to_color

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed in range(args.start, args.start + args.count):
        face = render(seed, args.resolution)
        Image.fromarray(face.image).save(out / f"{seed:07d}.png")
        Image.fromarray(label_map_to_color(face.mask)).save(out / f"{seed:07d}_mask.png")
        (out / f"{seed:07d}.txt").write_text("\n".join(face.captions) + "\n")
    print(f"wrote {args.count} faces (image, palette mask, 10 captions) to {out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from mdit.config import load_config
    from mdit.run import train

    folder = train(load_config(args.config, args.overrides))
    print(f"run folder: {folder}")
    return 0


def _cache_embeddings(args: argparse.Namespace) -> int:
    import json

    from mdit.config import load_config
    from mdit.embeddings.build import cache_embeddings

    print(json.dumps(cache_embeddings(load_config(args.config, args.overrides)), indent=2))
    return 0


def _pretrain_base(args: argparse.Namespace) -> int:
    from mdit.config import load_config
    from mdit.run import pretrain_backbone

    print(f"embedded backbone: {pretrain_backbone(load_config(args.config, args.overrides))}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from mdit.masks import read_mask
    from mdit.run import load_run
    from mdit.visualize import sample_grid, save_png, to_uint8

    module = load_run(args.run_dir, args.overrides, for_sampling=True)
    resolution = module.cfg.data.resolution
    common = {
        "steps": args.steps,
        "seed": args.seed,
        "conditions": args.conditions,
        "guidance_scale": args.guidance_scale,
    }
    if args.from_dataset:
        from torch.utils.data import default_collate

        from mdit.data.registry import build_splits

        test_set = build_splits(module.cfg)[2]
        batch = default_collate([test_set[i] for i in range(min(args.from_dataset, len(test_set)))])
        images = module.generate(batch["mask"], batch["caption"], **common)
        path = save_png(sample_grid(batch["mask"], images, batch["image"], batch["caption"]), args.out)
    else:
        if args.mask is None or args.caption is None:
            raise ValueError("pass --mask PNG and --caption TEXT, or --from-dataset N")
        mask = read_mask(args.mask, resolution)
        images = module.generate(mask[None], [args.caption], **common)
        from PIL import Image

        path = save_png(Image.fromarray(to_uint8(images)[0]), args.out)

    print(f"wrote {path}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from functools import partial

    from mdit.evaluation import evaluate
    from mdit.runs import METRICS_FILE

    overrides = list(args.overrides)
    if args.mode is not None:
        if any(item.split("=", 1)[0].strip() == "eval.mode" for item in overrides):
            raise ValueError("--mode and eval.mode=... both given; pass one")
        overrides.append(f"eval.mode={args.mode}")
    results = evaluate(args.run_dir, overrides, log=partial(print, flush=True))
    print(f"wrote {Path(args.run_dir) / METRICS_FILE} and {results['grid']}")
    return 0


def _flops(args: argparse.Namespace) -> int:
    import json

    from mdit.config import load_config
    from mdit.cost.report import flops_report
    from mdit.paper import PAPER_TABLE4

    cfg = load_config(args.config, args.overrides) if args.preset == "embedded" else None
    resolution = args.resolution or (cfg.data.resolution if cfg is not None else 512)
    report = flops_report(args.preset, resolution, args.text_tokens, args.steps, cfg)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{args.preset}, {resolution} px ({report['image_tokens']} image tokens), {args.steps} steps, "
        f"{args.text_tokens} text tokens; `none` generation: {report['none_total_tflops']:.2f} TFLOPs; "
        "saved = vs holistic"
    )
    print(f"{'variant':<20}{'delta TFLOPs':>14}{'saved':>9}{'paper conv.':>13}{'saved':>9}{'paper':>9}")
    for name, row in report["variants"].items():
        paper = f"{PAPER_TABLE4[name]:.2f}" if name in PAPER_TABLE4 else "-"
        print(
            f"{name:<20}{row['delta_tflops']:>14.2f}{row['reduction_vs_holistic']:>9.1%}"
            f"{row['delta_paper']:>13.2f}{row['reduction_vs_holistic_paper']:>9.1%}{paper:>9}"
        )
    for key, text in report["conventions"].items():
        print(f"  {key}: {text}")
    return 0


def _judges_train(args: argparse.Namespace) -> int:
    from mdit.config import load_config
    from mdit.judges.training import ensure_judges, load_embedded_clip, load_parser

    folder = ensure_judges(load_config(args.config, args.overrides))
    _, parser_card = load_parser(folder)
    _, clip_card = load_embedded_clip(folder)
    print(f"embedded judges: {folder}")
    accuracy = parser_card["heldout_pixel_accuracy"]
    print(f"parser: held-out pixel accuracy {accuracy:.2f} % (the ceiling of mask accuracy)")
    print(
        f"clip: held-out image->caption retrieval top-1 {clip_card['heldout_retrieval_top1']:.2f} % "
        f"among {clip_card['heldout_size']} (chance {100 / clip_card['heldout_size']:.2f} %)"
    )
    return 0


def _sweep_config_files(args: argparse.Namespace) -> list[str]:
    """The config layers of a sweep command: -c (default: the sweep YAML's), then the profile's."""
    from mdit.sweep.profiles import profile_files
    from mdit.sweep.spec import load_sweep

    return [*(args.config or load_sweep(args.file).config_files), *profile_files(args.profile)]


def _sweep_config(args: argparse.Namespace):
    """The config every run of a sweep command is trained with, before its swept parameters."""
    from mdit.config import load_config

    return load_config(_sweep_config_files(args), args.overrides)


def _sweep(args: argparse.Namespace) -> int:
    from mdit.sweep.spec import load_sweep, with_launch

    spec = load_sweep(args.file)
    if args.backend == "local" and (args.print_only or args.count is not None):
        raise ValueError("--print-only and --count are for --backend wandb")
    files = _sweep_config_files(args)
    seeds = [int(seed) for seed in args.seeds.split(",")] if args.seeds else None
    spec = with_launch(spec, files, args.overrides, seeds)
    if args.backend == "local":
        from mdit.sweep.local import run_local

        return 0 if run_local(spec, log=partial(print, flush=True)).ok else 1
    from mdit.sweep.wandb_backend import run_wandb

    wandb_cfg = _sweep_config(args).wandb
    project = args.project or spec.config.get("project") or wandb_cfg.project
    entity = args.entity or spec.config.get("entity") or wandb_cfg.entity
    run_wandb(spec, project, entity, args.count, args.print_only)
    return 0


def _sweep_run(args: argparse.Namespace) -> int:
    from mdit.sweep.trial import prepare, run_trial

    log = partial(print, flush=True)
    if args.prepare:
        prepare(args.config or [], [*args.set, *args.overrides], log)
        return 0
    print(f"sweep run complete: {run_trial(args.config or [], args.set, args.overrides, log)}")
    return 0


def _table(args: argparse.Namespace) -> int:
    from mdit.results.table import build_table

    runs = args.runs or _sweep_config(args).output_dir
    paths = build_table(
        args.file,
        source=args.source,
        out_dir=args.out,
        wandb_sweep=args.sweep,
        runs_root=runs,
        flux_dev=not args.no_flux_dev,
    )
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0


def _report(args: argparse.Namespace) -> int:
    from mdit.results.report import DEFAULT_PROJECT, build_report, describe, save_report
    from mdit.sweep.spec import load_sweep

    project = args.project or load_sweep(args.file).config.get("project") or DEFAULT_PROJECT
    report = build_report(args.file, args.entity, project, args.title)
    print("\n".join(describe(report)))
    if args.save:
        print(f"saved: {save_report(report)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mdit", description="MDiTFace: mask + text face generation on FLUX.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    verbs.add_parser("variants", help="list the attention strategies (the rows of the ablation tables)").set_defaults(
        run=_variants
    )

    config = verbs.add_parser("config", help="print a resolved config (YAML + key=value overrides)")
    config.add_argument(
        "-c",
        "--config",
        action="append",
        default=None,
        help="YAML file, e.g. experiments/synthfaces.yaml; repeat -c to layer files",
    )
    config.add_argument("overrides", nargs="*", help="dotlist overrides, e.g. model.attention=holistic seed=1")
    config.set_defaults(run=_config)

    for verb, run, text in (
        ("train", _train, "train one variant (resumes if its run folder has a checkpoint)"),
        ("pretrain-base", _pretrain_base, "pretrain the embedded backbone (once; cached)"),
        (
            "cache-embeddings",
            _cache_embeddings,
            "precompute text embeddings and VAE latents for data.embeddings=true (resumes if interrupted)",
        ),
    ):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument(
            "-c",
            "--config",
            action="append",
            default=None,
            help="YAML file, e.g. experiments/synthfaces.yaml; repeat -c to layer files",
        )
        sub.add_argument("overrides", nargs="*", help="dotlist overrides, e.g. model.attention=holistic seed=1")
        sub.set_defaults(run=run)

    gen = verbs.add_parser("generate", help="sample from a trained run: mask PNG + caption, or test samples")
    gen.add_argument("run_dir", metavar="RUN", help="run folder written by `mdit train` (runs/<group>/<name>)")
    gen.add_argument("--mask", help="PNG of official label ids or palette colours, at the run's resolution")
    gen.add_argument("--caption", help="the text condition; '' = text dropped")
    gen.add_argument("--from-dataset", type=int, default=0, metavar="N", help="grid of the first N test samples")
    gen.add_argument("--out", required=True, help="output PNG")
    gen.add_argument(
        "overrides",
        nargs="*",
        help="key=value on the run's config, e.g. data.embeddings=false (load "
        "the text encoders, for captions the embedding cache does not hold)",
    )
    gen.add_argument("--steps", type=int, default=28)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--conditions", default="both", choices=["both", "text", "mask"])
    gen.add_argument(
        "--guidance-scale", type=float, default=1.0, help="classifier-free guidance over dropped conditions"
    )
    gen.set_defaults(run=_generate)

    ev = verbs.add_parser("eval", help="generate the test samples of a run and score them (metrics.json, W&B)")
    ev.add_argument("run_dir", metavar="RUN", help="run folder written by `mdit train` (runs/<group>/<name>)")
    ev.add_argument(
        "--mode",
        choices=["both", "text", "mask"],
        default=None,
        help="conditions given to the model (default: eval.mode, both)",
    )
    ev.add_argument(
        "overrides", nargs="*", help="eval.* and judges.* overrides, e.g. eval.count=64 judges.topiq_home=~/torch"
    )
    ev.set_defaults(run=_eval)

    flops = verbs.add_parser("flops", help="FLOPs the mask condition adds per generation, per variant (no weights)")
    flops.add_argument("--preset", default="flux-dev", choices=["flux-dev", "embedded"])
    flops.add_argument("--resolution", type=int, default=0, help="pixels (default: 512, or the config's for embedded)")
    flops.add_argument("--steps", type=int, default=28)
    flops.add_argument("--text-tokens", type=int, default=512)
    flops.add_argument("--json", action="store_true", help="print the JSON report")
    flops.add_argument("-c", "--config", default=None, help="config of the embedded preset")
    flops.add_argument("overrides", nargs="*", help="dotlist overrides of the embedded preset's config")
    flops.set_defaults(run=_flops)

    judges = verbs.add_parser("judges", help="the embedded judges of the metrics")
    judge_verbs = judges.add_subparsers(dest="judges_verb", required=True)
    judges_train = judge_verbs.add_parser(
        "train", help="train and cache the embedded judges (once; their seed is judges.seed, not seed)"
    )
    judges_train.add_argument("-c", "--config", default=None, help="YAML file, e.g. experiments/synthfaces.yaml")
    judges_train.add_argument("overrides", nargs="*", help="dotlist overrides, e.g. judges.parser_steps=500")
    judges_train.set_defaults(run=_judges_train)

    sweep = verbs.add_parser(
        "sweep",
        help="run a sweep YAML of sweeps/: locally (W&B's engine picks the runs, one "
        "subprocess each, W&B offline) or as a W&B sweep with agents",
    )
    sweep.add_argument("file", metavar="FILE", help="sweep YAML, e.g. sweeps/ablation_attention.yaml")
    sweep.add_argument("--backend", choices=["local", "wandb"], default="local")
    sweep.add_argument(
        "-c",
        "--config",
        action="append",
        default=None,
        help="base config, repeat -c to layer files (default: the sweep command's -c files)",
    )
    sweep.add_argument(
        "--profile",
        default="default",
        help="config layer experiments/profiles/NAME.yaml on top of the base (smoke, gpu; default: "
        "none); each profile keeps its runs in its own output_dir",
    )
    sweep.add_argument("--seeds", default=None, help="comma-separated seeds replacing the sweep's, e.g. 0,1,2")
    sweep.add_argument("--project", default=None, help="W&B project (default: the sweep's, else wandb.project)")
    sweep.add_argument("--entity", default=None, help="W&B entity (default: the sweep's, else wandb.entity)")
    sweep.add_argument("--count", type=int, default=None, help="wandb: runs this agent takes before it stops")
    sweep.add_argument(
        "--print-only",
        action="store_true",
        help="wandb: create the sweep and print the `wandb agent` command, start no agent",
    )
    sweep.add_argument("overrides", nargs="*", help="key=value for every run, e.g. train.threads=2")
    sweep.set_defaults(run=_sweep)

    sweep_run = verbs.add_parser(
        "sweep-run",
        help="one sweep run: train (resume, or skip when trained), then eval "
        "each mode not evaluated yet (the command of every sweep YAML)",
    )
    sweep_run.add_argument(
        "-c", "--config", action="append", default=None, help="YAML layer, repeatable: base config, then profile"
    )
    sweep_run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fixed override (not part of the run's name), repeatable",
    )
    sweep_run.add_argument(
        "--prepare", action="store_true", help="only build the backbone and judges the config needs (once; cached)"
    )
    sweep_run.add_argument(
        "overrides",
        nargs="*",
        help="the sweep's parameters as key=value (${args_no_hyphens}); "
        "eval.mode=M is evaluated, not trained; dropout=P sets text and mask dropout",
    )
    sweep_run.set_defaults(run=_sweep_run)

    table = verbs.add_parser("table", help="a sweep's runs as results/<sweep>.{md,csv,tex,png}")
    table.add_argument("file", metavar="FILE", help="sweep YAML, e.g. sweeps/ablation_attention.yaml")
    table.add_argument("--source", choices=["local", "wandb"], default="local")
    table.add_argument("--sweep", default=None, metavar="ENTITY/PROJECT/ID", help="the W&B sweep (--source wandb)")
    table.add_argument("--out", default="results", help="output folder")
    table.add_argument(
        "--runs", default=None, help="local run folders' root (default: output_dir of the config the sweep ran with)"
    )
    table.add_argument(
        "-c",
        "--config",
        action="append",
        default=None,
        help="base config, repeat -c to layer files (default: the sweep command's -c files)",
    )
    table.add_argument("--profile", default="default", help="the profile the sweep ran with (its output_dir)")
    table.add_argument("overrides", nargs="*", help="the key=value overrides the sweep ran with (output_dir=...)")
    table.add_argument("--no-flux-dev", action="store_true", help="skip the FLUX.1-dev-scale cost columns (~25 s)")
    table.set_defaults(run=_table)

    report = verbs.add_parser("report", help="a W&B report of a sweep's runs: prints its panels; --save saves it")
    report.add_argument("file", metavar="FILE", help="sweep YAML, e.g. sweeps/ablation_attention.yaml")
    report.add_argument("--entity", required=True, help="W&B entity of the runs and the report")
    report.add_argument("--project", default=None, help="W&B project (default: the sweep's, else mditface)")
    report.add_argument("--title", default=None, help="report title (default: MDiTFace sweep: <stem>)")
    report.add_argument("--save", action="store_true", help="save it to W&B and print its URL (needs wandb login)")
    report.set_defaults(run=_report)

    faces = verbs.add_parser("synthfaces", help="render SynthFaces samples to PNG + captions")
    faces.add_argument("--out", required=True, help="output folder")
    faces.add_argument("--count", type=int, default=8)
    faces.add_argument("--start", type=int, default=0, help="first seed")
    faces.add_argument("--resolution", type=int, default=64)
    faces.set_defaults(run=_synthfaces)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """argparse, plus `key=value` overrides after an option (`mdit eval RUN --mode text eval.count=64`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    overrides = all("=" in item and not item.startswith("-") for item in extra)
    if extra and overrides and isinstance(getattr(args, "overrides", None), list):
        args.overrides += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"mdit {args.verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
