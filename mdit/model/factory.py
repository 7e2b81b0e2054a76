"""One factory from a config's `model` section to an MDiTTransformer, and the section's LoRA settings."""

from __future__ import annotations

from diffusers import FluxTransformer2DModel
from omegaconf import DictConfig

from mdit.model.adapters import LoraSettings
from mdit.model.mdit import MDiTTransformer


def lora_settings(lora: DictConfig) -> LoraSettings:
    """The `model.lora` section as the model's LoraSettings."""
    return LoraSettings(lora.rank, lora.alpha, lora.dropout, tuple(lora.targets), lora.image_stream)


def build_transformer(base: FluxTransformer2DModel, model: DictConfig) -> MDiTTransformer:
    """The variant `model.attention` over `base`: adapters as `model.lora` says under finetune=lora, none under
    finetune=full; the static modulation of `model.static_modulation` at `model.reference_t`; the condition tokens
    `model.mask_token_stride` and their readers `model.mask_readers`, for the conditions `model.conditions`."""
    lora = lora_settings(model.lora) if model.finetune == "lora" else None
    return MDiTTransformer(
        base,
        model.attention,
        lora,
        model.static_modulation,
        model.reference_t,
        model.mask_token_stride,
        model.mask_readers,
        tuple(model.conditions),
    )
