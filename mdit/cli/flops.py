"""`mdit flops`: the FLOPs the mask condition adds per generation, per variant and per frontier setting, from shapes
alone (no weights)."""

from __future__ import annotations

import argparse

from mdit.cli.common import add_config_args, add_verb, config_from


def run_flops(args: argparse.Namespace) -> int:
    import json

    from mdit.conditions import parse_conditions
    from mdit.cost.report import flops_report
    from mdit.paper import PAPER_TABLE4

    cfg = config_from(args) if args.preset == "embedded" else None
    resolution = args.resolution or (cfg.data.resolution if cfg is not None else 512)
    conditions = parse_conditions(args.conditions) if args.conditions else None
    report = flops_report(args.preset, resolution, args.text_tokens, args.steps, cfg, conditions)
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
    print("\nthe frontier (model.mask_token_stride, model.mask_readers; saved = vs stride-1 holistic)")
    print(f"{'setting':<34}{'delta TFLOPs':>14}{'saved':>9}{'paper conv.':>13}{'saved':>9}")
    for name, row in report["settings"].items():
        print(
            f"{name:<34}{row['delta_tflops']:>14.2f}{row['reduction_vs_holistic']:>9.1%}"
            f"{row['delta_paper']:>13.2f}{row['reduction_vs_holistic_paper']:>9.1%}"
        )
    if conditions is not None:
        chosen = report["condition_set"]
        names = "+".join(chosen["conditions"])
        print(f"\nconditions {names} (saved = vs holistic with them; extra = over the mask alone)")
        print(f"{'variant':<20}{'delta TFLOPs':>14}{'saved':>9}{'extra':>9}{'paper conv.':>13}{'saved':>9}{'extra':>9}")
        for name, row in chosen["variants"].items():
            print(
                f"{name:<20}{row['delta_tflops']:>14.2f}{row['reduction_vs_holistic']:>9.1%}"
                f"{row['extra_vs_mask_tflops']:>9.2f}{row['delta_paper']:>13.2f}"
                f"{row['reduction_vs_holistic_paper']:>9.1%}{row['extra_vs_mask_paper']:>9.2f}"
            )
    for key, text in report["conventions"].items():
        print(f"  {key}: {text}")
    return 0


def add_flops(verbs) -> None:
    parser = add_verb(
        verbs, "flops", "FLOPs the mask condition adds per generation, per variant and setting (no weights)", run_flops
    )
    parser.add_argument(
        "--preset",
        default="flux-dev",
        choices=["flux-dev", "embedded"],
        help="model shape: FLUX.1-dev, or the embedded backbone of the config (-c, --profile, overrides)",
    )
    parser.add_argument("--resolution", type=int, default=0, help="pixels (default: 512, or the config's for embedded)")
    parser.add_argument("--steps", type=int, default=28, help="denoising steps per generation")
    parser.add_argument("--text-tokens", type=int, default=512, help="caption tokens")
    parser.add_argument("--json", action="store_true", help="print the JSON report")
    parser.add_argument(
        "--conditions",
        default="",
        help="also each variant's cost with these spatial conditions, comma-separated (e.g. mask,sketch)",
    )
    add_config_args(
        parser,
        "the embedded preset's config",
        overrides="dotlist overrides of the embedded preset's config, e.g. backbone.hidden=256",
    )


def add_parsers(verbs) -> None:
    add_flops(verbs)
