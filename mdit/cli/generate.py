"""`mdit generate`: sample from a trained run, from a mask PNG and a caption or from the test samples."""

from __future__ import annotations

import argparse

from mdit.cli.common import add_overrides, add_verb


def run_generate(args: argparse.Namespace) -> int:
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
        "mask_guidance_scale": args.mask_guidance_scale,
        "text_guidance_scale": args.text_guidance_scale,
        "mask_strength": args.mask_strength,
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


def add_generate(verbs) -> None:
    parser = add_verb(verbs, "generate", "sample from a trained run: mask PNG + caption, or test samples", run_generate)
    parser.add_argument("run_dir", metavar="RUN", help="run folder written by `mdit train` (runs/<group>/<name>)")
    parser.add_argument("--mask", help="PNG of official label ids or palette colours, at the run's resolution")
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
        "--conditions", default="both", choices=["both", "text", "mask"], help="conditions given to the model"
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
