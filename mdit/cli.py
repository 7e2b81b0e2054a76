"""The `mdit` command. Verbs arrive with the capabilities behind them; `mdit --help` lists what exists."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _variants(args: argparse.Namespace) -> int:
    from mdit.model.strategies import STRATEGIES

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

    from mdit.data import label_map_to_color, render

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed in range(args.start, args.start + args.count):
        face = render(seed, args.resolution)
        Image.fromarray(face.image).save(out / f"{seed:07d}.png")
        Image.fromarray(label_map_to_color(face.mask)).save(out / f"{seed:07d}_mask.png")
        (out / f"{seed:07d}.txt").write_text("\n".join(face.captions) + "\n")
    print(f"wrote {args.count} faces (image, palette mask, 10 captions) to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mdit", description="MDiTFace: mask + text face generation on FLUX.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    verbs.add_parser("variants", help="list the attention strategies (the rows of the ablation tables)").set_defaults(
        run=_variants
    )

    config = verbs.add_parser("config", help="print a resolved config (YAML + key=value overrides)")
    config.add_argument("-c", "--config", default=None, help="YAML file, e.g. experiments/synthfaces.yaml")
    config.add_argument("overrides", nargs="*", help="dotlist overrides, e.g. model.attention=holistic seed=1")
    config.set_defaults(run=_config)

    faces = verbs.add_parser("synthfaces", help="render SynthFaces samples to PNG + captions")
    faces.add_argument("--out", required=True, help="output folder")
    faces.add_argument("--count", type=int, default=8)
    faces.add_argument("--start", type=int, default=0, help="first seed")
    faces.add_argument("--resolution", type=int, default=64)
    faces.set_defaults(run=_synthfaces)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"mdit {args.verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
