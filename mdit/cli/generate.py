"""`mdit generate`: sample from a trained run, from any subset of its spatial conditions (mask PNG, sketch PNG,
keypoints JSON or PNG) and a caption, or from the test samples."""

from __future__ import annotations

import argparse

from mdit.cli.common import add_overrides, add_verb


def spatial_files(args: argparse.Namespace, resolution: int) -> dict:
    """The condition files given on the command line, read at the run's resolution: {kind: raw batch of one}."""
    import torch

    from mdit.data.condition_files import read_keypoints, read_sketch
    from mdit.masks import read_mask

    size = (resolution, resolution)
    readers = {
        "mask": lambda path: read_mask(path, resolution),
        "sketch": lambda path: torch.from_numpy(read_sketch(path, size)),
        "keypoints": lambda path: torch.from_numpy(read_keypoints(path, size)),
    }
    return {kind: read(path)[None] for kind, read in readers.items() if (path := getattr(args, kind)) is not None}


def run_generate(args: argparse.Namespace) -> int:
    from mdit.pipeline import spatial_inputs
    from mdit.run import load_run
    from mdit.visualize import sample_grid, save_png, to_uint8

    module = load_run(args.run_dir, args.overrides, for_sampling=True)
    resolution = module.cfg.data.resolution
    common = {
        "steps": args.steps,
        "seed": args.seed,
        "conditions": args.conditions,
        "guidance_scale": args.guidance_scale,
        "mask_guidance_scale": args.mask_guidance_scale,
        "text_guidance_scale": args.text_guidance_scale,
        "mask_strength": args.mask_strength,
    }
    if args.from_dataset:
        from torch.utils.data import default_collate

        from mdit.data.registry import build_splits
        from mdit.evaluation.scoring import condition_images

        test_set = build_splits(module.cfg)[2]
        batch = default_collate([test_set[i] for i in range(min(args.from_dataset, len(test_set)))])
        spatial = spatial_inputs(batch, module.model.conditions)
        images = module.generate(spatial, batch["caption"], **common)
        shown = condition_images({k: v for k, v in spatial.items() if k != "mask"}, (resolution, resolution))
        grid = sample_grid(spatial.get("mask"), images, batch["image"], batch["caption"], conditions=shown)
        path = save_png(grid, args.out)
    else:
        if args.caption is None:
            raise ValueError(
                "pass --caption TEXT ('' = text dropped) with any of --mask PNG, --sketch PNG, --keypoints "
                "JSON|PNG (those the run reads; none = text only), or --from-dataset N"
            )
        images = module.generate(spatial_files(args, resolution), [args.caption], **common)
        from PIL import Image

        path = save_png(Image.fromarray(to_uint8(images)[0]), args.out)

    print(f"wrote {path}")
    return 0


def add_generate(verbs) -> None:
    parser = add_verb(
        verbs, "generate", "sample from a trained run: conditions + caption, or test samples", run_generate
    )
    parser.add_argument("run_dir", metavar="RUN", help="run folder written by `mdit train` (runs/<group>/<name>)")
    parser.add_argument("--mask", help="PNG of official label ids or palette colours, at the run's resolution")
    parser.add_argument(
        "--sketch", help="line-drawing PNG or JPG: dark lines on white (MM-CelebA-HQ's), resized to the run's size"
    )
    parser.add_argument(
        "--keypoints",
        help='JSON {"keypoints": [[x, y, visible] x 20], "size": [W, H]} or a point-image PNG (docs/DATA.md)',
    )
    parser.add_argument("--caption", help="the text condition; '' = text dropped")
    parser.add_argument(
        "--from-dataset", type=int, default=0, metavar="N", help="grid of the first N test samples (0: use --mask)"
    )
    parser.add_argument("--out", required=True, help="output PNG")
    add_overrides(
        parser,
        "key=value on the run's config, e.g. data.embeddings=false (load the text encoders, for captions the "
        "embedding cache does not hold); a run keeps the config (and profile) it was trained with",
    )
    parser.add_argument("--steps", type=int, default=28, help="Euler steps of FLUX's schedule")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial noise")
    parser.add_argument(
        "--conditions",
        default="both",
        choices=["both", "text", "mask"],
        help="what is given: both, the text only, or the spatial conditions only (mask)",
    )
    parser.add_argument(
        "--guidance-scale", type=float, default=1.0, help="classifier-free guidance over dropped conditions"
    )
    parser.add_argument(
        "--mask-guidance-scale",
        type=float,
        default=1.0,
        help="two-condition guidance: the mask's scale s_m (docs/MODEL.md; not with --guidance-scale; 1 = off)",
    )
    parser.add_argument(
        "--text-guidance-scale", type=float, default=1.0, help="two-condition guidance: the text's scale s_t (1 = off)"
    )
    parser.add_argument(
        "--mask-strength",
        type=float,
        default=1.0,
        help="γ: each mask key's attention weight times γ (mask-token variants; 1 = off)",
    )


def add_parsers(verbs) -> None:
    add_generate(verbs)
