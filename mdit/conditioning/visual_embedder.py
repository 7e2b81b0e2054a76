"""The visual embedder: packed mask latents (one group of s x s tokens each) -> the transformer's hidden size."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


class VisualEmbedder(nn.Module):
    """The backbone's `x_embedder`, so mask tokens start in the image tokens' space.

    stride 1: a copy. stride s: a token holds s² packed latents, and its projection starts as `x_embedder` of
    their mean (the weight tiled s² times over s²), so a uniform group embeds exactly as one image token does.
    In LoRA mode the projection is frozen and the "mask" adapter learns W_M = W_X + B_M A_M.
    """

    def __init__(self, x_embedder: nn.Linear, stride: int = 1) -> None:
        super().__init__()
        if stride == 1:
            self.proj = copy.deepcopy(x_embedder)
            return
        weight, bias = x_embedder.weight, x_embedder.bias
        group = stride * stride
        self.proj = nn.Linear(
            x_embedder.in_features * group, x_embedder.out_features, bias is not None, weight.device, weight.dtype
        )
        self.proj.requires_grad_(x_embedder.weight.requires_grad)
        if weight.device.type != "meta":
            with torch.no_grad():
                self.proj.weight.copy_(weight.repeat(1, group) / group)
                if bias is not None:
                    self.proj.bias.copy_(bias)

    def forward(self, mask_latents: torch.Tensor) -> torch.Tensor:
        return self.proj(mask_latents)
