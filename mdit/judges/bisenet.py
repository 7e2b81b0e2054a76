"""The real face parser: facexlib's BiSeNet (CelebAMask-HQ) from a local file, its ids remapped to the official order.

BiSeNet numbers the 19 classes in its own order (face-parsing.PyTorch's); mask accuracy compares against
masks in the official CelebAMask-HQ order (mdit.labels), so every prediction goes through the table.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from facexlib.parsing.bisenet import BiSeNet

from mdit.judges.weights import require_file
from mdit.labels import BISENET_TO_OFFICIAL, NUM_CLASSES  # the table lives with the label order

__all__ = ["BISENET_TO_OFFICIAL", "BISENET_WEIGHTS_FILE", "BiSeNetParser", "load_bisenet_parser", "remap_bisenet"]

BISENET_WEIGHTS_FILE = "parsing_bisenet.pth"  # facexlib's release file name
BISENET_INPUT_SIZE = 512
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def remap_bisenet(labels: torch.Tensor) -> torch.Tensor:
    """BiSeNet ids (any shape, any device) -> official CelebAMask-HQ ids, by table lookup."""
    table = torch.as_tensor(BISENET_TO_OFFICIAL, dtype=torch.long, device=labels.device)
    return table[labels.long()]


class BiSeNetParser(nn.Module):
    """Images [B, 3, H, W] in [-1, 1] -> official label maps [B, H, W] (int64) at the input size.

    The protocol of face-parsing.PyTorch: RGB resized to 512 (bilinear; antialiased like its PIL resize),
    ImageNet mean/std, `out[0].argmax(1)`; the labels are then resized back with nearest neighbour.
    """

    def __init__(self, model: BiSeNet) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> BiSeNetParser:
        """A judge never leaves eval mode (its batch norms must use their running statistics)."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W], got {tuple(images.shape)}")
        size = images.shape[-2:]
        x = ((images.to(self.mean.device, torch.float32) + 1) / 2).clamp(0, 1)
        if tuple(size) != (BISENET_INPUT_SIZE, BISENET_INPUT_SIZE):
            x = F.interpolate(x, size=(BISENET_INPUT_SIZE,) * 2, mode="bilinear", antialias=True).clamp(0, 1)
        predicted = remap_bisenet(self.model((x - self.mean) / self.std)[0].argmax(1))
        if tuple(predicted.shape[-2:]) != tuple(size):
            predicted = F.interpolate(predicted[:, None].float(), size=tuple(size), mode="nearest")[:, 0].long()
        return predicted


def load_bisenet_parser(path: str | Path, device: str | torch.device = "cpu") -> BiSeNetParser:
    """facexlib's BiSeNet from `path` (a folder holding parsing_bisenet.pth, or the file), strictly; nothing downloaded.

    facexlib's own init_parsing_model would download a missing file, so the network is built here directly.
    """
    where = f"put facexlib's {BISENET_WEIGHTS_FILE} (BiSeNet face parser) in the folder given as judges.parser"
    file = require_file(path, where, name=BISENET_WEIGHTS_FILE)
    model = BiSeNet(num_class=NUM_CLASSES)
    state = torch.load(file, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise ValueError(f"{file} is not a state dict of facexlib's BiSeNet(num_class=19): {error}") from error
    return BiSeNetParser(model).to(device)
