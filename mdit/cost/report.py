"""`mdit flops`: the mask condition's extra cost per variant, on weightless (meta-device) models.

Presets: `flux-dev` (diffusers' FluxTransformer2DModel defaults + guidance embedding = FLUX.1-dev,
VAE x8, T5 4096, pooled CLIP 768) and `embedded` (the config's tiny backbone, pixel-space autoencoder).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import FluxTransformer2DModel
from omegaconf import DictConfig

from mdit.backbone import embedded_transformer_kwargs
from mdit.cost.flops import TERA, GenerationShape, generation_flops, paper_convention_macs
from mdit.model import STRATEGIES, MDiTTransformer

PRESETS = ("flux-dev", "embedded")


def preset(
    name: str, resolution: int, text_tokens: int, steps: int, cfg: DictConfig | None = None
) -> tuple[Callable[[], FluxTransformer2DModel], GenerationShape]:
    """A weightless base-model factory and the generation's shape for a preset."""
    if name == "flux-dev":
        downsample, latent_channels, text_dim, pooled_dim, guidance = 8, 16, 4096, 768, 3.5
        kwargs: dict = {"guidance_embeds": True}
    elif name == "embedded":
        if cfg is None:
            raise ValueError("preset 'embedded' needs a config (-c experiments/synthfaces.yaml)")
        b = cfg.backbone
        downsample, latent_channels, guidance = b.autoencoder_factor, 3 * b.autoencoder_factor**2, None
        text_dim = pooled_dim = b.text_dim
        kwargs = embedded_transformer_kwargs(b)
    else:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    if resolution % (2 * downsample):
        raise ValueError(f"resolution {resolution} must be a multiple of {2 * downsample} for preset {name!r}")
    shape = GenerationShape(
        image_tokens=(resolution // (2 * downsample)) ** 2,
        text_tokens=text_tokens,
        latent_features=4 * latent_channels,
        text_dim=text_dim,
        pooled_dim=pooled_dim,
        steps=steps,
        guidance=guidance,
    )
    return lambda: FluxTransformer2DModel(**kwargs), shape


def flops_report(name: str, resolution: int, text_tokens: int, steps: int, cfg: DictConfig | None = None) -> dict:
    """Per variant: total and extra (vs `none`) TFLOPs counted, the paper convention, reductions vs holistic."""
    make_base, shape = preset(name, resolution, text_tokens, steps, cfg)
    counted, paper = {}, {}
    for attention in STRATEGIES:
        with torch.device("meta"):
            model = MDiTTransformer(make_base(), attention)
            model.set_empty_caption(torch.zeros(shape.pooled_dim))  # weightless: any value counts the same
        counted[attention] = generation_flops(model, shape)
        paper[attention] = paper_convention_macs(model, shape)
    variants = {}
    for attention in STRATEGIES:
        if attention == "none":
            continue
        delta, delta_paper = counted[attention] - counted["none"], paper[attention]
        variants[attention] = {
            "total_tflops": counted[attention] / TERA,
            "delta_tflops": delta / TERA,
            "delta_paper": delta_paper / TERA,
            "reduction_vs_holistic": 1 - delta / (counted["holistic"] - counted["none"]),
            "reduction_vs_holistic_paper": 1 - delta_paper / paper["holistic"],
        }
    return {
        "preset": name,
        "resolution": resolution,
        "steps": steps,
        "text_tokens": text_tokens,
        "image_tokens": shape.image_tokens,
        "none_total_tflops": counted["none"] / TERA,
        "variants": variants,
        "conventions": {
            "delta_tflops": "counted by torch FlopCounterMode over the sampler: every matmul incl. attention, "
            "2 FLOPs per multiply-add, static pass once + all steps, minus the `none` baseline",
            "delta_paper": "multiply-adds of the linear layers the extra tokens pass through (mask tokens every "
            "step for holistic; static [T_s;M] once for decoupled), no attention, no LoRA",
        },
    }
