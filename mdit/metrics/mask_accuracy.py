"""Mask accuracy and mean IoU: a face parser labels the generated image, compared with the input label map."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy

from mdit.conditioning.mask import validate_label_maps
from mdit.labels import NUM_CLASSES
from mdit.metrics.iou import confusion_matrices, correct_pixels, mean_iou
from mdit.metrics.per_sample import concatenated, mean_or_nan

Parser = Callable[[torch.Tensor], torch.Tensor]  # images [B, 3, H, W] in [-1, 1] -> label maps [B, H, W]


class MaskAccuracy(Metric):
    """Percent of pixels whose parsed label equals the conditioning mask's, over all images seen.

    The parser is the judge (the embedded U-Net, or BiSeNet with its ids remapped to the official
    order); its accuracy on real images is this metric's ceiling and is reported beside it. The same
    parser pass also keeps each image's correct pixels and mean IoU (`per_sample`, `mean_iou`), so
    tables can bootstrap over samples.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, parser: Parser, **kwargs) -> None:
        super().__init__(**kwargs)
        self.parser = parser
        self.accuracy = MulticlassAccuracy(NUM_CLASSES, average="micro", multidim_average="global")
        self.add_state("correct", default=[], dist_reduce_fx="cat")  # per image: pixels labelled as in the mask
        self.add_state("pixels", default=[], dist_reduce_fx="cat")  # per image: pixels in all
        self.add_state("iou", default=[], dist_reduce_fx="cat")  # per image: mean IoU in %

    def update(self, images: torch.Tensor, masks: torch.Tensor) -> None:
        validate_label_maps(masks)
        if images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
            raise ValueError(f"images {tuple(images.shape)} and masks {tuple(masks.shape)} differ in batch or size")
        labels = self.parser(images).to(masks.device)
        self.accuracy.update(labels, masks)
        confusion = confusion_matrices(labels, masks, NUM_CLASSES)
        self.correct.append(correct_pixels(confusion))
        self.pixels.append(torch.full((masks.shape[0],), masks[0].numel(), device=masks.device))
        self.iou.append(mean_iou(confusion))

    def compute(self) -> torch.Tensor:
        return 100 * self.accuracy.compute()

    def per_sample(self) -> dict[str, torch.Tensor]:
        """[N] float64 tensors, in the order seen: "mask_accuracy" (% of the image's pixels) and "miou" (%)."""
        correct = concatenated(self.correct, torch.long).double()
        pixels = concatenated(self.pixels, torch.long).double()
        return {"mask_accuracy": 100 * correct / pixels, "miou": concatenated(self.iou)}

    def mean_iou(self) -> torch.Tensor:
        """The mean over images of each image's mean IoU (%): the statistic a bootstrap over samples resamples."""
        return mean_or_nan(concatenated(self.iou))

    def reset(self) -> None:
        super().reset()
        self.accuracy.reset()
