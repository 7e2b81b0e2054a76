"""Channel-concat conditioning: widen FLUX's `x_embedder` the way diffusers' Control-LoRA does."""

from __future__ import annotations

import torch
import torch.nn as nn
from diffusers import FluxTransformer2DModel


def widen_x_embedder(base: FluxTransformer2DModel, extra_channels: int) -> None:
    """Append `extra_channels` zero-initialised input features to `x_embedder`, in place.

    Layout as in diffusers' Flux Control LoRA (64 -> 128 for FLUX): columns [:in] keep the
    pretrained weights, the new columns start at zero, the bias is kept, so the widened
    model starts exactly as the backbone. Inputs are `cat([image_latents, mask_latents], -1)`.
    """
    old = base.x_embedder
    new = nn.Linear(
        old.in_features + extra_channels,
        old.out_features,
        bias=old.bias is not None,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_features] = old.weight
        if old.bias is not None:
            new.bias.copy_(old.bias)
    new.weight.requires_grad_(old.weight.requires_grad)
    if new.bias is not None:
        new.bias.requires_grad_(old.bias.requires_grad)
    base.x_embedder = new
    # out_channels defaults to in_channels in FLUX's config: pin it before in_channels grows.
    base.register_to_config(in_channels=new.in_features, out_channels=base.out_channels)
