"""Fréchet distances between generated and real images: FID on InceptionV3, or the same on the embedded parser.

Both go through torchmetrics' FrechetInceptionDistance (running sums, DDP sync, its matrix square root);
only the feature network differs. Images are always given in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchmetrics.image.fid import FrechetInceptionDistance

from mdit.judges.embedded_parser import EmbeddedParser
from mdit.judges.weights import require_file

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's FID InceptionV3


class ParserFeatures(nn.Module):
    """Images -> [B, 5 * width]: the embedded parser's bottleneck (4w) and last decoder (w) features, averaged over
    space (the role of Inception's pool3). SynthFaces-domain features, for a Fréchet distance on the embedded data.

    Accepts images in [-1, 1], or uint8 in 0..255 (what torchmetrics probes a custom extractor with); with
    `size`, images are first resized to the side the parser was trained at.
    """

    def __init__(self, parser: EmbeddedParser, size: int | None = None) -> None:
        super().__init__()
        self.parser = parser
        self.size = size
        self.num_features = 5 * parser.width  # read by FrechetInceptionDistance instead of probing
        self.eval()

    def train(self, mode: bool = True) -> ParserFeatures:
        """A judge never trains."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()
        if self.size is not None and x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True).clamp(-1, 1)
        captured: dict[str, torch.Tensor] = {}
        hooks = [
            module.register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, out))
            for name, module in (("bottom", self.parser.bottom), ("up1", self.parser.up1))
        ]
        try:
            self.parser(x.to(next(self.parser.parameters()).device))
        finally:
            for hook in hooks:
                hook.remove()
        return torch.cat([captured["bottom"].mean((-2, -1)), captured["up1"].mean((-2, -1))], dim=1)


class FrechetDistance(FrechetInceptionDistance):
    """FrechetInceptionDistance whose `update(images, real)` takes images in [-1, 1] for any feature network.

    InceptionV3 gets them as uint8 (rounded, as saved images would be); a custom network gets them unchanged.
    """

    def update(self, images: torch.Tensor, real: bool) -> None:  # type: ignore[override]
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W] in [-1, 1], got {tuple(images.shape)}")
        if not self.used_custom_model:
            images = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        super().update(images, real=real)


def frechet_embedded(parser: EmbeddedParser, size: int | None = None, **kwargs) -> FrechetDistance:
    """Fréchet distance on the embedded parser's features (no file needed beyond the parser itself)."""
    return FrechetDistance(feature=ParserFeatures(parser, size), **kwargs)


def frechet_inception(weights: str | Path, **kwargs) -> FrechetDistance:
    """FID with torch-fidelity's InceptionV3 from a local file (or a folder holding it); nothing downloaded.

    antialias=False resizes to 299 like TensorFlow 1.x, matching torch-fidelity and clean-fid's FID numbers.
    """
    file = require_file(
        weights,
        f"give the FID InceptionV3 weights, torch-fidelity's {INCEPTION_WEIGHTS_FILE} "
        "(a file, or the folder holding it)",
        name=INCEPTION_WEIGHTS_FILE,
    )
    return FrechetDistance(feature=2048, feature_extractor_weights_path=str(file), antialias=False, **kwargs)
