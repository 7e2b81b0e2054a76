"""`mdit flops`: the spatial conditions' extra cost per variant, per frontier setting (stride x readers) and per
condition set (`--conditions mask,sketch`), on weightless (meta-device) models.

Presets: `flux-dev` (diffusers' FluxTransformer2DModel defaults + guidance embedding = FLUX.1-dev,
VAE x8, T5 4096, pooled CLIP 768) and `embedded` (the config's tiny backbone, pixel-space autoencoder).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from diffusers import FluxTransformer2DModel
from omegaconf import DictConfig

from mdit.backbone import embedded_transformer_kwargs
from mdit.conditions import DEFAULT_CONDITIONS
from mdit.cost.flops import TERA, GenerationShape, generation_parts, paper_convention_macs
from mdit.model import STRATEGIES, LoraSettings, MDiTTransformer
from mdit.model.mdit import DEFAULT_LORA
from mdit.variants import MASK_READERS, MASK_TOKEN_STRIDES

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


@dataclass(frozen=True)
class Setting:
    """One setting of the cost-quality frontier: a strategy, its stride, who reads its keys, the conditions read."""

    attention: str
    stride: int = 1
    readers: str = "image_text"
    conditions: tuple[str, ...] = DEFAULT_CONDITIONS

    @property
    def label(self) -> str:
        """`improved_decoupled-s2-image` (`...-mask+sketch` with other conditions): the key of `mdit flops --json`'s
        settings."""
        conditions = "" if self.conditions == DEFAULT_CONDITIONS else "-" + "+".join(self.conditions)
        return f"{self.attention}-s{self.stride}-{self.readers}{conditions}"


@dataclass(frozen=True)
class Parts:
    """A setting's FLOPs per generation as a function of the sampling steps: once per sample + steps x per step,
    counted and in the paper's convention."""

    static: int
    step: int
    paper_static: int
    paper_step: int

    def counted(self, steps: int) -> int:
        return self.static + steps * self.step

    def paper(self, steps: int) -> int:
        return self.paper_static + steps * self.paper_step


def frontier_settings(image_tokens: int) -> list[Setting]:
    """Every mask-token strategy x stride (those that tile the square token grid) x readers."""
    side = math.isqrt(image_tokens)
    strides = [s for s in MASK_TOKEN_STRIDES if side % s == 0]
    tokens = [name for name, strategy in STRATEGIES.items() if strategy.mask_tokens]
    return [Setting(a, s, r) for a in tokens for s in strides for r in MASK_READERS]


class SettingCosts:
    """The cost parts of any setting on one weightless backbone (with the runs' adapters: LoRA is counted too),
    counted once per setting when first asked for."""

    def __init__(
        self,
        make_base: Callable[[], FluxTransformer2DModel],
        shape: GenerationShape,
        lora: LoraSettings | None = DEFAULT_LORA,
    ) -> None:
        self.make_base, self.shape, self.lora = make_base, shape, lora
        self._parts: dict[Setting, Parts] = {}

    def parts(self, setting: Setting) -> Parts:
        if setting not in self._parts:
            with torch.device("meta"):
                model = MDiTTransformer(
                    self.make_base(),
                    setting.attention,
                    self.lora,
                    mask_token_stride=setting.stride,
                    mask_readers=setting.readers,
                    conditions=setting.conditions,
                )
                model.set_empty_caption(torch.zeros(self.shape.pooled_dim))  # weightless: any value counts the same
            static, step = generation_parts(model, self.shape)
            no_steps, one_step = (paper_convention_macs(model, replace(self.shape, steps=n)) for n in (0, 1))
            self._parts[setting] = Parts(static, step, no_steps, one_step - no_steps)
        return self._parts[setting]

    def row(self, setting: Setting, steps: int) -> dict[str, float]:
        """Total and extra (vs `none`) TFLOPs at `steps`, both conventions, and the reductions vs stride-1 holistic
        with the same conditions."""
        none = self.parts(Setting("none")).counted(steps)
        holistic = self.parts(Setting("holistic", conditions=setting.conditions))
        parts = self.parts(setting)
        delta, delta_paper = parts.counted(steps) - none, parts.paper(steps)
        return {
            "total_tflops": parts.counted(steps) / TERA,
            "delta_tflops": delta / TERA,
            "delta_paper": delta_paper / TERA,
            "reduction_vs_holistic": 1 - delta / (holistic.counted(steps) - none),
            "reduction_vs_holistic_paper": 1 - delta_paper / holistic.paper(steps),
        }


def condition_costs(costs: SettingCosts, conditions: tuple[str, ...], steps: int) -> dict:
    """Per variant (stride 1, image_text) with `conditions`: its row, and what the conditions beyond the mask add
    to the same variant with the mask alone (TFLOPs counted and in the paper's convention)."""
    rows = {}
    for attention in STRATEGIES:
        if attention == "none":
            continue
        row = costs.row(Setting(attention, conditions=conditions), steps)
        alone = costs.row(Setting(attention), steps)
        row["extra_vs_mask_tflops"] = row["delta_tflops"] - alone["delta_tflops"]
        row["extra_vs_mask_paper"] = row["delta_paper"] - alone["delta_paper"]
        rows[attention] = row
    return {"conditions": list(conditions), "variants": rows}


def flops_report(
    name: str,
    resolution: int,
    text_tokens: int,
    steps: int,
    cfg: DictConfig | None = None,
    conditions: tuple[str, ...] | None = None,
) -> dict:
    """Per variant (the paper's setting: stride 1, image_text) and per frontier setting: total and extra (vs
    `none`) TFLOPs counted, the paper convention, and the reductions vs stride-1 holistic in both; with
    `conditions`, the same per variant for that condition set (`condition_costs`)."""
    costs = SettingCosts(*preset(name, resolution, text_tokens, steps, cfg))
    settings = frontier_settings(costs.shape.image_tokens)
    report = {
        "preset": name,
        "resolution": resolution,
        "steps": steps,
        "text_tokens": text_tokens,
        "image_tokens": costs.shape.image_tokens,
        "none_total_tflops": costs.parts(Setting("none")).counted(steps) / TERA,
        "variants": {a: costs.row(Setting(a), steps) for a in STRATEGIES if a != "none"},
        "settings": {
            s.label: {
                "attention": s.attention,
                "mask_token_stride": s.stride,
                "mask_readers": s.readers,
                **costs.row(s, steps),
            }
            for s in settings
        },
        "conventions": {
            "delta_tflops": "counted by torch FlopCounterMode over the sampler: every matmul incl. attention, "
            "2 FLOPs per multiply-add, static pass once + all steps, minus the `none` baseline",
            "delta_paper": "multiply-adds of the linear layers the extra tokens pass through (mask tokens every "
            "step for holistic; static [T_s;M] once for decoupled; N/s^2 mask tokens at stride s), no attention "
            "(so readers do not change it), no LoRA",
            "reductions": "vs holistic at stride 1 with image_text readers (the paper's holistic)",
            "settings": "<attention>-s<model.mask_token_stride>-<model.mask_readers>; `variants` are the "
            "paper's setting (s1, image_text) of every strategy",
            "condition_set": "`variants` with model.conditions as given; reductions vs holistic with the same "
            "conditions; extra_vs_mask = its delta minus the same variant's with the mask alone",
        },
    }
    if conditions is not None:
        report["condition_set"] = condition_costs(costs, conditions, steps)
    return report
