"""FLOPs and latency of a trained variant against the `none` baseline (what `callbacks.CostMeasurement` logs).

Both on the module's real configuration (resolution, text length, sampling steps, LoRA). FLOPs are counted on
weightless meta-device copies; latency is timed on the trained model itself.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from diffusers import FluxTransformer2DModel
from omegaconf import DictConfig

from mdit.conditioning import EMPTY_CAPTION
from mdit.conditioning.spatial import blank_conditions
from mdit.cost.flops import TERA, GenerationShape, generation_flops, paper_convention_macs
from mdit.model import MDiTTransformer, build_transformer
from mdit.pipeline import Pipeline


class Sampler(Protocol):
    """What is measured: a pipeline, the config it was built from, and how it generates (the LightningModule)."""

    cfg: DictConfig
    pipeline: Pipeline
    device: torch.device
    training: bool

    def generate(self, masks: torch.Tensor, captions: Sequence[str], steps: int, conditions: str) -> torch.Tensor: ...
    def eval(self) -> Any: ...
    def train(self, mode: bool = True) -> Any: ...


# What `measure_cost` returns: into metrics.json, and as cost/<key> into the W&B summary.
COST_KEYS = (
    "tflops",
    "tflops_delta",
    "tflops_delta_paper",
    "seconds_per_image",
    "seconds_per_image_none",
    "latency_ratio_vs_none",
)


def generation_shape(module: Sampler, steps: int) -> GenerationShape:
    """The shape of one generation of this module: its resolution, text length and latent size."""
    pipeline = module.pipeline
    base = pipeline.model.base
    guidance = pipeline.guidance if base.config.guidance_embeds else None
    return GenerationShape(
        image_tokens=pipeline.image_tokens,
        text_tokens=pipeline.text.max_length,
        latent_features=pipeline.model.latent_channels,
        text_dim=base.config.joint_attention_dim,
        pooled_dim=base.config.pooled_projection_dim,
        steps=steps,
        guidance=guidance,
    )


def variant_flops(module: Sampler, steps: int) -> dict[str, float]:
    """Counted FLOPs of one generation, the delta against `none` and the paper-convention delta, in TFLOPs."""
    config = dict(module.pipeline.model.base.config)
    channels = module.pipeline.model.latent_channels  # concat widened the live base; the copies start unwidened
    config.update(in_channels=channels, out_channels=config.get("out_channels") or channels)
    shape = generation_shape(module, steps)
    with torch.device("meta"):
        variant = build_transformer(FluxTransformer2DModel.from_config(config), module.cfg.model)
        baseline = MDiTTransformer(FluxTransformer2DModel.from_config(config), "none", None)
        variant.set_empty_caption(torch.zeros(shape.pooled_dim))  # weightless: any value counts the same
    counted, none = generation_flops(variant, shape), generation_flops(baseline, shape)
    return {
        "tflops": counted / TERA,
        "tflops_delta": (counted - none) / TERA,
        "tflops_delta_paper": paper_convention_macs(variant, shape) / TERA,
    }


def seconds_per_image(generate: Any, batch: int, repeats: int) -> float:
    """Median wall time per image of `generate()` over `repeats` runs after one warm-up (CUDA-synchronised)."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    generate()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generate()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / batch


def measure_cost(module: Sampler, steps: int, repeats: int) -> dict[str, float]:
    """FLOPs (variant, delta vs `none`, paper convention) and latency (s/image, ratio vs `none`) of a module, where
    it is. The latency baseline is the same model with the mask dropped, timed in the same process: for the
    mask-token variants exactly the base FLUX forward (every condition of the model given, blank: the cost does not
    depend on what a condition shows) (the parity tests prove it); `concat` keeps its zero mask
    channels and image adapter. The caption is the empty prompt: every text encoder and cache has it, and text is
    padded to its full length anyway."""
    results = variant_flops(module, steps)
    side = module.cfg.data.resolution
    spatial = blank_conditions(module.model.conditions, 1, (side, side), module.device)
    caption = [EMPTY_CAPTION]
    was_training = module.training
    module.eval()
    latency = {}
    for key, conditions in (("variant", "both"), ("none", "text")):
        run = lambda c=conditions: module.generate(spatial, caption, steps=steps, conditions=c)  # noqa: E731
        latency[key] = seconds_per_image(run, 1, repeats)
    module.train(was_training)
    results["seconds_per_image"] = round(latency["variant"], 4)
    results["seconds_per_image_none"] = round(latency["none"], 4)
    results["latency_ratio_vs_none"] = round(latency["variant"] / latency["none"], 3)
    return results
