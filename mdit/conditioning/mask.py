"""Mask and image conditioning inputs -> packed latent tokens, through the same autoencoder as the image."""

from __future__ import annotations

import torch

from mdit.labels import NUM_CLASSES, PALETTE, MaskError

from .autoencoders import Autoencoder
from .packing import pack_latents

PALETTE_UNIT = torch.tensor(PALETTE, dtype=torch.float32) / 127.5 - 1.0  # [19, 3] in [-1, 1]


def validate_label_maps(mask: torch.Tensor) -> None:
    """Raise MaskError (a ValueError) unless `mask` is an integer [B, H, W] batch with ids in 0..18."""
    if mask.dtype.is_floating_point or mask.dtype.is_complex or mask.dtype == torch.bool:
        raise MaskError(f"mask dtype must be integer, got {mask.dtype}")
    if mask.ndim != 3:
        raise MaskError(f"mask batch must be [B, H, W], got shape {tuple(mask.shape)}")
    ids64 = mask.to(torch.int64)  # unsigned 16/32/64-bit tensors (16-bit PNGs) have no comparison kernels
    bad = (ids64 < 0) | (ids64 >= NUM_CLASSES)
    count = int(bad.sum())
    if count:
        ids = torch.unique(ids64[bad]).tolist()
        raise MaskError(f"mask has {count} pixels with label ids outside 0..{NUM_CLASSES - 1}: {ids}")


def mask_to_image(mask: torch.Tensor) -> torch.Tensor:
    """Label maps [B, H, W] -> official palette colours as float images [B, 3, H, W] in [-1, 1]."""
    validate_label_maps(mask)
    return PALETTE_UNIT.to(mask.device)[mask.to(torch.int64)].permute(0, 3, 1, 2).contiguous()


def encode_mask(mask: torch.Tensor, autoencoder: Autoencoder, generator: torch.Generator | None = None) -> torch.Tensor:
    """Label maps [B, H, W] -> packed mask latents [B, (H/2d)(W/2d), 4C] (d = autoencoder.downsample)."""
    return encode_image(mask_to_image(mask), autoencoder, generator)


def encode_image(
    images: torch.Tensor, autoencoder: Autoencoder, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Images [B, 3, H, W] in [-1, 1] -> packed latents [B, (H/2d)(W/2d), 4C]."""
    return pack_latents(autoencoder.encode(images, generator=generator))
