"""Sketch fidelity: the edges of each generated image (mdit.conditioning.edges, Canny) against the sketch it was given.

Two numbers per image. Edge F1 (%): precision is the fraction of the image's edge pixels within `tolerance` px of a
sketch line, recall the fraction of line pixels within `tolerance` px of an edge, F1 their harmonic mean. Chamfer
(px): the mean of the two directed mean nearest distances (edges -> lines, lines -> edges). Distances are
Euclidean, by scipy's exact distance transform. A sketch pixel is a line where its value is >= 0.5.

Degenerate images, explicitly: no edges and no lines agree perfectly (F1 100, chamfer 0); edges without lines, or
lines without edges, have nothing to match (F1 0, chamfer the image diagonal, the largest distance it can hold), so a
blank image is penalised instead of dropped from the mean.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from torchmetrics import Metric

from mdit.conditioning.edges import edge_map
from mdit.metrics.per_sample import concatenated, mean_or_nan

LINE_THRESHOLD = 0.5  # a sketch pixel at or above this is ink


def sketch_tolerance(size: int) -> int:
    """Pixel tolerance of edge F1 for an image `size` px wide: size / 128 rounded, at least 1 (1 px at 32 to 128 px,
    2 at 256, 4 at 512), so it spans the same share of the face at any resolution."""
    return max(1, round(size / 128))


def edge_agreement(edges: np.ndarray, lines: np.ndarray, tolerance: float) -> tuple[float, float]:
    """(edge F1 in %, symmetric chamfer in px) of one image's edges against its sketch's lines (bool [H, W] each)."""
    edges, lines = np.asarray(edges, dtype=bool), np.asarray(lines, dtype=bool)
    if edges.shape != lines.shape or edges.ndim != 2:
        raise ValueError(f"edges {edges.shape} and lines {lines.shape} must be two maps [H, W] of one size")
    if not edges.any() and not lines.any():
        return 100.0, 0.0
    if not edges.any() or not lines.any():
        return 0.0, math.hypot(*edges.shape)
    to_lines = distance_transform_edt(~lines)[edges]  # each edge pixel's distance to the nearest line pixel
    to_edges = distance_transform_edt(~edges)[lines]  # each line pixel's distance to the nearest edge pixel
    precision = float((to_lines <= tolerance).mean())
    recall = float((to_edges <= tolerance).mean())
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return 100.0 * f1, 0.5 * (float(to_lines.mean()) + float(to_edges.mean()))


def check_sketches(sketches: torch.Tensor, images: torch.Tensor) -> None:
    """Raise ValueError unless `sketches` is a float batch [B, H, W] in [0, 1] matching images [B, 3, H, W]."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
    if sketches.ndim != 3 or (sketches.shape[0], *sketches.shape[1:]) != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"sketches {tuple(sketches.shape)} must be [B, H, W] of images {tuple(images.shape)}")
    if not sketches.dtype.is_floating_point or not bool(((sketches >= 0) & (sketches <= 1)).all()):
        raise ValueError("sketch values must be floats in [0, 1] (1 = line)")


def image_edges(images: torch.Tensor) -> list[np.ndarray]:
    """Canny edges (bool [H, W]) of images [B, 3, H, W] in [-1, 1], each quantised to uint8 first as if saved."""
    pixels = ((images.detach().float().cpu().nan_to_num(-1.0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return [edge_map(image) for image in pixels.permute(0, 2, 3, 1).numpy()]


class SketchFidelity(Metric):
    """Edge F1 (%) and chamfer distance (px) of images against their sketches, the mean over images of each's own.

    On real images against their own sketches it is the ceiling a generated image can reach (100 / 0 only where
    the sketches are the images' own Canny edges). `tolerance`: px; None = `sketch_tolerance` of the image width.
    """

    full_state_update = False
    higher_is_better = True  # of edge F1; chamfer is lower-better

    def __init__(self, tolerance: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tolerance = tolerance
        self.add_state("edge_f1", default=[], dist_reduce_fx="cat")  # per image, %
        self.add_state("chamfer", default=[], dist_reduce_fx="cat")  # per image, px

    def update(self, images: torch.Tensor, sketches: torch.Tensor) -> None:
        check_sketches(sketches, images)
        tolerance = self.tolerance if self.tolerance is not None else sketch_tolerance(images.shape[-1])
        lines = (sketches.detach().cpu() >= LINE_THRESHOLD).numpy()
        scores = [edge_agreement(edges, line, tolerance) for edges, line in zip(image_edges(images), lines)]
        f1, chamfer = torch.tensor(scores, dtype=torch.float64, device=self.device).reshape(-1, 2).unbind(1)
        self.edge_f1.append(f1)
        self.chamfer.append(chamfer)

    def per_sample(self) -> dict[str, torch.Tensor]:
        """[N] float64 tensors in the order seen: "edge_f1" (%) and "chamfer" (px)."""
        return {"edge_f1": concatenated(self.edge_f1), "chamfer": concatenated(self.chamfer)}

    def compute(self) -> dict[str, torch.Tensor]:
        return {key: mean_or_nan(values) for key, values in self.per_sample().items()}
