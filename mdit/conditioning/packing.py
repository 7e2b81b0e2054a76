"""FLUX's 2x2 latent packing and its RoPE position ids (identical to diffusers' FluxPipeline)."""

from __future__ import annotations

import torch


def _check_even(h: int, w: int) -> None:
    if h % 2 or w % 2:
        raise ValueError(f"latent size {h}x{w} must be even in both dimensions: FLUX packs 2x2 latent cells per token")


def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    """[B, C, h, w] latents -> [B, (h/2)(w/2), 4C] tokens, each a 2x2 patch (channel-major)."""
    if latents.ndim != 4:
        raise ValueError(f"expected latents [B, C, h, w], got shape {tuple(latents.shape)}")
    b, c, h, w = latents.shape
    _check_even(h, w)
    patches = latents.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return patches.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack_latents(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Inverse of `pack_latents`: [B, (h/2)(w/2), 4C] tokens -> [B, C, h, w], h and w in latent cells."""
    _check_even(h, w)
    if tokens.ndim != 3 or tokens.shape[1] != (h // 2) * (w // 2) or tokens.shape[2] % 4:
        raise ValueError(
            f"tokens of shape {tuple(tokens.shape)} do not pack a {h}x{w} latent: "
            f"expected [B, {(h // 2) * (w // 2)}, 4C]"
        )
    b, _, d = tokens.shape
    patches = tokens.reshape(b, h // 2, w // 2, d // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return patches.reshape(b, d // 4, h, w)


def latent_image_ids(
    h: int, w: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """RoPE ids [(h/2)(w/2), 3] of packed image tokens: rows (0, row, col) on the half-resolution grid."""
    _check_even(h, w)
    rows, cols = torch.meshgrid(torch.arange(h // 2), torch.arange(w // 2), indexing="ij")
    ids = torch.stack([torch.zeros_like(rows), rows, cols], dim=-1).reshape(-1, 3)
    return ids.to(device=device, dtype=dtype or torch.float32)


def text_ids(length: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """RoPE ids [L, 3] of text tokens: all zeros, as in FLUX."""
    return torch.zeros(length, 3, device=device, dtype=dtype or torch.float32)
