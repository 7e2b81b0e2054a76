"""`mdit variants`, `mdit config`, `mdit synthfaces`: the strategies, a resolved config, the faces of the data."""

from __future__ import annotations

import argparse
from pathlib import Path

from mdit.cli.common import add_config_args, add_verb, config_from


def run_variants(args: argparse.Namespace) -> int:
    from mdit.variants import STRATEGIES

    width = max(map(len, STRATEGIES))
    for name, strategy in STRATEGIES.items():
        print(f"{name:<{width}}  {strategy.description}")
    return 0


def add_variants(verbs) -> None:
    add_verb(verbs, "variants", "list the attention strategies (the rows of the ablation tables)", run_variants)


def run_config(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    print(OmegaConf.to_yaml(config_from(args)), end="")
    return 0


def add_config(verbs) -> None:
    parser = add_verb(
        verbs, "config", "print a resolved config (YAML layers + profile + key=value overrides)", run_config
    )
    add_config_args(parser)


def run_synthfaces(args: argparse.Namespace) -> int:
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


def add_synthfaces(verbs) -> None:
    parser = add_verb(verbs, "synthfaces", "render SynthFaces samples to PNG + captions", run_synthfaces)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--count", type=int, default=8, help="number of faces")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--resolution", type=int, default=64, help="pixels per side")


def add_parsers(verbs) -> None:
    add_variants(verbs)
    add_config(verbs)
    add_synthfaces(verbs)
