"""The embedded face parser: a small U-Net trained on SynthFaces renders, the mask-accuracy judge of the default.

It plays BiSeNet's role for SynthFaces: images in [-1, 1] -> logits over the 19 official labels.
Its held-out pixel accuracy on real renders is the ceiling of the mask-accuracy metric.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mdit.labels import NUM_CLASSES


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.GroupNorm(8, cout),
        nn.SiLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.GroupNorm(8, cout),
        nn.SiLU(),
    )


class EmbeddedParser(nn.Module):
    """U-Net with two 2x downsamplings; any input side divisible by 4."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.width = width
        self.down1, self.down2, self.bottom = _conv(3, width), _conv(width, 2 * width), _conv(2 * width, 4 * width)
        self.up2, self.up1 = _conv(6 * width, 2 * width), _conv(3 * width, width)
        self.head = nn.Conv2d(width, NUM_CLASSES, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] in [-1, 1] -> logits [B, 19, H, W]."""
        if images.shape[-1] % 4 or images.shape[-2] % 4:
            raise ValueError(f"image side must be divisible by 4, got {tuple(images.shape[-2:])}")
        d1 = self.down1(images)
        d2 = self.down2(F.avg_pool2d(d1, 2))
        b = self.bottom(F.avg_pool2d(d2, 2))
        u2 = self.up2(torch.cat([F.interpolate(b, scale_factor=2.0), d2], dim=1))
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2.0), d1], dim=1))
        return self.head(u1)

    @torch.no_grad()
    def parse(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] in [-1, 1] -> official label maps [B, H, W] (int64)."""
        return self(images).argmax(1)
