"""The embedded landmark judge: a small U-Net whose heatmaps locate the 20 landmarks by soft-argmax.

It plays facexlib's alignment model's role for SynthFaces: images in [-1, 1] -> keypoints [B, 20, 3] (x, y in pixels,
pixel centres at integers; visible where its visibility head says so). The heatmaps are at half the image's
resolution and the soft-argmax (the heatmap's expected position) is differentiable, so it trains on the coordinates
directly and places points between pixels. It pools down to 8 x 8 whatever the image size, so every heatmap sees
the whole face (an eye must know which eye it is). Its held-out NME on real renders is the floor of the keypoint
error.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mdit.keypoints import NUM_KEYPOINTS

BOTTOM_SIDE = 8  # the coarsest level's side


def levels_for(resolution: int) -> int:
    """Downsamplings below the half-resolution level that bring a `resolution` image to 8 x 8 (1 at 32 px)."""
    if resolution < 2 * BOTTOM_SIDE or resolution & (resolution - 1):
        raise ValueError(f"the landmark regressor needs a power-of-two resolution of at least 16, got {resolution}")
    return max(1, int(math.log2(resolution // (2 * BOTTOM_SIDE))))


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
        _norm(cout),
        nn.SiLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        _norm(cout),
        nn.SiLU(),
    )


def soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """Heatmap logits [B, K, H, W] -> expected positions [B, K, 2] (x = column, y = row; cell centres at integers)."""
    height, width = logits.shape[-2:]
    weights = logits.flatten(2).softmax(-1).view_as(logits)
    rows = torch.arange(height, dtype=weights.dtype, device=weights.device)
    cols = torch.arange(width, dtype=weights.dtype, device=weights.device)
    return torch.stack([(weights.sum(-2) * cols).sum(-1), (weights.sum(-1) * rows).sum(-1)], dim=-1)


class LandmarkRegressor(nn.Module):
    """A strided stem to half resolution, `levels` 2x poolings (channels doubling, at most 4x `width`), the way back
    up to half resolution with skips, one heatmap per landmark there; a visibility logit per landmark from the
    coarsest level."""

    def __init__(self, width: int = 32, levels: int = 1) -> None:
        super().__init__()
        self.width, self.levels = width, levels
        channels = [width * min(2**level, 4) for level in range(levels + 1)]
        self.stem = _block(3, width, stride=2)
        self.downs = nn.ModuleList(_block(channels[i], channels[i + 1]) for i in range(levels))
        self.ups = nn.ModuleList(_block(channels[i + 1] + channels[i], channels[i]) for i in range(levels))
        self.heatmaps = nn.Conv2d(width, NUM_KEYPOINTS, 1)
        self.visibility = nn.Linear(channels[-1], NUM_KEYPOINTS)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B, 3, H, W] in [-1, 1] -> (heatmap logits [B, K, H/2, W/2], visibility logits [B, K])."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W], got {tuple(images.shape)}")
        step = 2 ** (self.levels + 1)
        if images.shape[-1] % step or images.shape[-2] % step:
            raise ValueError(f"image side must be divisible by {step}, got {tuple(images.shape[-2:])}")
        skips = [self.stem(images)]
        for down in self.downs:
            skips.append(down(F.avg_pool2d(skips[-1], 2)))
        x = skips.pop()
        visibility = self.visibility(x.mean((-2, -1)))
        for up in reversed(self.ups):
            x = up(torch.cat([F.interpolate(x, scale_factor=2.0), skips.pop()], dim=1))
        return self.heatmaps(x), visibility

    def positions(self, logits: torch.Tensor) -> torch.Tensor:
        """Heatmap logits -> image positions [B, K, 2] in pixels: half-resolution cell j is pixels 2j and 2j + 1."""
        return 2.0 * soft_argmax(logits) + 0.5

    @torch.no_grad()
    def locate(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] in [-1, 1] -> keypoints [B, K, 3] (x, y in pixels, visible 0 / 1)."""
        logits, visibility = self(images)
        return torch.cat([self.positions(logits), (visibility > 0).to(logits.dtype)[..., None]], dim=-1)
