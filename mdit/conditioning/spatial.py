"""Every spatial condition -> an image [B, 3, H, W] in [-1, 1] -> packed latents, through the image's autoencoder.

mask: the official palette (mask.py); sketch: white lines on black; keypoints: one colour-coded disc per visible
landmark (mdit.keypoints.COLOURS) on black, later landmarks over earlier ones. The renderers check their input
against the image size, so a wrong-sized sketch or a keypoint off the image fails here with what is valid.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mdit.conditions import UnknownConditionError
from mdit.keypoints import COLOURS, NUM_KEYPOINTS, KeypointError, validate_keypoints
from mdit.labels import MaskError

from .autoencoders import Autoencoder
from .mask import mask_to_image
from .packing import pack_latents

KEYPOINT_COLOURS = torch.tensor(COLOURS, dtype=torch.float32) / 127.5 - 1.0  # [K, 3] in [-1, 1]


class SketchError(ValueError):
    """A sketch batch that is malformed: wrong shape, dtype or values outside [0, 1]."""


def keypoint_radius(size: int) -> int:
    """Disc radius of a drawn landmark in pixels: 0 (a single pixel) below 128 px, then one more per 128 px."""
    return size // 128


def render_sketch(sketch: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Sketches [B, H, W] in [0, 1] (1 = line) -> white-on-black images [B, 3, H, W] in [-1, 1]."""
    if not sketch.dtype.is_floating_point:
        raise SketchError(f"sketch dtype must be floating point (values in [0, 1], 1 = line), got {sketch.dtype}")
    if sketch.ndim != 3 or tuple(sketch.shape[-2:]) != tuple(size):
        raise SketchError(
            f"sketch batch must be [B, {size[0]}, {size[1]}] (the image's size), got {tuple(sketch.shape)}"
        )
    if not bool(((sketch >= 0) & (sketch <= 1)).all()):
        raise SketchError("sketch values must be in [0, 1] (1 = line), some are outside or NaN")
    return (2.0 * sketch.float() - 1.0)[:, None].expand(-1, 3, -1, -1).contiguous()


def render_keypoints(keypoints: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Keypoints [B, K, 3] (x, y, visible) in pixels -> point images [B, 3, H, W] in [-1, 1]."""
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_KEYPOINTS, 3):
        raise KeypointError(f"keypoint batch must be [B, {NUM_KEYPOINTS}, 3], got {tuple(keypoints.shape)}")
    height, width = size
    points = keypoints.detach().cpu().double()
    for one in points:
        validate_keypoints(one.numpy(), size)
    radius = keypoint_radius(max(height, width))
    rows = torch.arange(height, dtype=torch.float64)[:, None]
    cols = torch.arange(width, dtype=torch.float64)[None, :]
    images = torch.full((points.shape[0], 3, height, width), -1.0)
    for b, one in enumerate(points):
        for k, (x, y, visible) in enumerate(one.tolist()):
            if visible:
                disc = (rows - round(y)) ** 2 + (cols - round(x)) ** 2 <= radius * radius
                images[b][:, disc] = KEYPOINT_COLOURS[k][:, None]
    return images.to(keypoints.device)


def render_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Label maps [B, H, W] -> palette images [B, 3, H, W] in [-1, 1] (mask.py), checked against the image size."""
    if mask.ndim == 3 and tuple(mask.shape[-2:]) != tuple(size):
        raise MaskError(f"mask batch must be [B, {size[0]}, {size[1]}] (the image's size), got {tuple(mask.shape)}")
    return mask_to_image(mask)


RENDERERS: dict[str, Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]] = {
    "mask": render_mask,
    "sketch": render_sketch,
    "keypoints": render_keypoints,
}


def blank_conditions(
    kinds: tuple[str, ...] | list[str], batch: int, size: tuple[int, int], device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Raw inputs of every kind that carry nothing (background label, no line, no visible landmark), for timing and
    counting a model with all its conditions given."""
    height, width = size
    blanks = {
        "mask": lambda: torch.zeros(batch, height, width, dtype=torch.long, device=device),
        "sketch": lambda: torch.zeros(batch, height, width, device=device),
        "keypoints": lambda: torch.zeros(batch, NUM_KEYPOINTS, 3, device=device),
    }
    return {kind: blanks[kind]() for kind in kinds}


def render_condition(kind: str, raw: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One kind's raw batch (mdit.conditions: its `raw` format) as images [B, 3, H, W] in [-1, 1]."""
    if kind not in RENDERERS:
        raise UnknownConditionError(f"unknown condition {kind!r}; valid: {', '.join(RENDERERS)}")
    return RENDERERS[kind](raw, size)


def encode_condition(
    kind: str,
    raw: torch.Tensor,
    autoencoder: Autoencoder,
    size: tuple[int, int],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One kind's raw batch -> packed latents [B, (H/2d)(W/2d), 4C], as the image is encoded."""
    image = render_condition(kind, raw, size)
    return pack_latents(autoencoder.encode(image.to(raw.device), generator=generator))
