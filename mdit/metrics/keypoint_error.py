"""Keypoint error (NME): how far a landmark judge finds each landmark in the generated image from the one given.

Per image: the mean over the target's visible landmarks of the Euclidean error of the predicted position, divided
by the target's inter-ocular distance (between its two eye centres, mdit.keypoints.EYE_CENTRES), in percent. An
image whose target lacks a visible eye centre (or has both at one point) has no scale: it is skipped and counted,
its per-sample value NaN (n/a), never 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchmetrics import Metric

from mdit.keypoints import EYE_CENTRES, NUM_KEYPOINTS
from mdit.metrics.per_sample import concatenated, mean_or_nan

Landmarker = Callable[[torch.Tensor], torch.Tensor]  # images [B, 3, H, W] in [-1, 1] -> keypoints [B, K, 3]


def inter_ocular_distance(target: torch.Tensor) -> torch.Tensor:
    """[B] distance in px between the two eye centres of keypoints [B, K, 3]; NaN where either is invisible."""
    right, left = target[:, EYE_CENTRES[0]], target[:, EYE_CENTRES[1]]
    distance = (right[:, :2] - left[:, :2]).norm(dim=-1)
    both = (right[:, 2] > 0) & (left[:, 2] > 0) & (distance > 0)
    return torch.where(both, distance, torch.full_like(distance, float("nan")))


def normalised_mean_error(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[B] NME in % of predicted [B, K, >=2] (x, y first) against target [B, K, 3]; NaN where it has no scale."""
    if target.ndim != 3 or target.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"target keypoints must be [B, {NUM_KEYPOINTS}, 3], got {tuple(target.shape)}")
    if predicted.shape[:2] != target.shape[:2] or predicted.shape[-1] < 2:
        raise ValueError(f"predicted keypoints {tuple(predicted.shape)} do not match target {tuple(target.shape)}")
    target = target.double()
    visible = target[..., 2] > 0
    errors = (predicted[..., :2].double().to(target.device) - target[..., :2]).norm(dim=-1)  # [B, K] px
    mean_error = (errors * visible).sum(1) / visible.sum(1).clamp(min=1)
    return 100.0 * mean_error / inter_ocular_distance(target)


class KeypointNME(Metric):
    """Mean over images of each image's NME (%): a landmark judge's points on the images against the given ones.

    On real images against their own keypoints it is the judge's own error, the floor a generated image is read
    against. `skipped()`: how many images had no inter-ocular distance.
    """

    full_state_update = False
    higher_is_better = False

    def __init__(self, landmarker: Landmarker, **kwargs) -> None:
        super().__init__(**kwargs)
        self.landmarker = landmarker
        self.add_state("nme", default=[], dist_reduce_fx="cat")  # per image, %; NaN = skipped

    def update(self, images: torch.Tensor, keypoints: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[0] != keypoints.shape[0]:
            raise ValueError(f"images {tuple(images.shape)} and keypoints {tuple(keypoints.shape)} differ in batch")
        self.nme.append(normalised_mean_error(self.landmarker(images), keypoints).to(self.device))

    def per_sample(self) -> dict[str, torch.Tensor]:
        """[N] float64 tensor in the order seen: "nme" (%), NaN where the image was skipped."""
        return {"nme": concatenated(self.nme)}

    def skipped(self) -> int:
        """Images without a visible pair of eye centres: not scored."""
        return int(concatenated(self.nme).isnan().sum())

    def compute(self) -> torch.Tensor:
        """The mean NME over the scored images; NaN (n/a) when none was scored."""
        values = concatenated(self.nme)
        return mean_or_nan(values[~values.isnan()])
