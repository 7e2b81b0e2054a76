"""Per-image agreement of two label maps: correct pixels and mean IoU, from one confusion matrix per image."""

from __future__ import annotations

import torch


def confusion_matrices(predicted: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[B, C, C] pixel counts, [b, target class, predicted class]: one bincount, no one-hot maps in memory."""
    if predicted.shape != target.shape or predicted.ndim != 3:
        raise ValueError(
            f"label maps [B, H, W] of one shape expected, got {tuple(predicted.shape)} and {tuple(target.shape)}"
        )
    batch = predicted.shape[0]
    image = torch.arange(batch, device=target.device).view(batch, 1)
    cells = (image * num_classes + target.flatten(1)) * num_classes + predicted.flatten(1).to(target.device)
    return torch.bincount(cells.flatten(), minlength=batch * num_classes**2).view(batch, num_classes, num_classes)


def correct_pixels(confusion: torch.Tensor) -> torch.Tensor:
    """[B]: pixels whose predicted class is the target's (the diagonal)."""
    return confusion.diagonal(dim1=-2, dim2=-1).sum(-1)


def mean_iou(confusion: torch.Tensor) -> torch.Tensor:
    """[B] float64, in %: mean IoU over the classes present in the target or the prediction of each image.

    A class in only one of the two has IoU 0; a class in neither does not count (it would be 0 / 0).
    """
    confusion = confusion.double()
    intersection = confusion.diagonal(dim1=-2, dim2=-1)
    union = confusion.sum(-1) + confusion.sum(-2) - intersection
    present = union > 0
    iou = torch.where(present, intersection / union.clamp(min=1), 0.0)
    return 100 * iou.sum(-1) / present.sum(-1)
