"""Mask accuracy: a face parser labels the generated image; pixel accuracy against the input label map."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy

from mdit.conditioning.mask import validate_label_maps
from mdit.labels import NUM_CLASSES

Parser = Callable[[torch.Tensor], torch.Tensor]  # images [B, 3, H, W] in [-1, 1] -> label maps [B, H, W]


class MaskAccuracy(Metric):
    """Percent of pixels whose parsed label equals the conditioning mask's, over all images seen.

    The parser is the judge (the embedded U-Net, or BiSeNet with its ids remapped to the official
    order); its accuracy on real images is this metric's ceiling and is reported beside it.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, parser: Parser, **kwargs) -> None:
        super().__init__(**kwargs)
        self.parser = parser
        self.accuracy = MulticlassAccuracy(NUM_CLASSES, average="micro", multidim_average="global")

    def update(self, images: torch.Tensor, masks: torch.Tensor) -> None:
        validate_label_maps(masks)
        if images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
            raise ValueError(f"images {tuple(images.shape)} and masks {tuple(masks.shape)} differ in batch or size")
        self.accuracy.update(self.parser(images).to(masks.device), masks)

    def compute(self) -> torch.Tensor:
        return 100 * self.accuracy.compute()

    def reset(self) -> None:
        super().reset()
        self.accuracy.reset()
