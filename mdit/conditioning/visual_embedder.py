"""The visual embedder: packed mask latents -> the transformer's hidden size."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


class VisualEmbedder(nn.Module):
    """A copy of the backbone's `x_embedder`, so mask tokens start in the image tokens' space.

    In LoRA mode the copy is frozen and the "mask" adapter learns W_M = W_X + B_M A_M.
    """

    def __init__(self, x_embedder: nn.Linear) -> None:
        super().__init__()
        self.proj = copy.deepcopy(x_embedder)

    def forward(self, mask_latents: torch.Tensor) -> torch.Tensor:
        return self.proj(mask_latents)
