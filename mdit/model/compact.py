"""Compact mask tokens: one token per s x s group of image tokens (a mask is piecewise constant).

A group's token holds its s² packed mask latents side by side (row-major within the group) and sits at the
group's centre in image-token coordinates: the mean of its image ids, fractional for even s (FLUX's RoPE is a
function of real-valued positions). s = 1 is the identity.
"""

from __future__ import annotations

import math

import torch


def token_grid(img_ids: torch.Tensor) -> tuple[int, int]:
    """(rows, cols) of the row-major image-token grid whose FLUX ids (0, row, col) are `img_ids` [N, 3].

    Weightless models (the meta device, for counting FLOPs from shapes) have no id values: their grid is square.
    """
    if img_ids.device.type == "meta":
        side = math.isqrt(img_ids.shape[0])
        rows, cols = side, img_ids.shape[0] // max(side, 1)
    else:
        rows, cols = int(img_ids[:, 1].max()) + 1, int(img_ids[:, 2].max()) + 1
    if rows * cols != img_ids.shape[0]:
        raise ValueError(f"image ids of {img_ids.shape[0]} tokens are not a {rows}x{cols} grid")
    return rows, cols


def check_stride(grid: tuple[int, int], stride: int) -> None:
    """The stride must tile the token grid exactly."""
    rows, cols = grid
    if rows % stride or cols % stride:
        raise ValueError(
            f"mask_token_stride={stride} does not divide the {rows}x{cols} image-token grid: use a stride that "
            f"divides both sides (or a resolution whose token grid it divides)"
        )


def group_tokens(tokens: torch.Tensor, grid: tuple[int, int], stride: int) -> torch.Tensor:
    """[B, N, C] row-major tokens -> [B, N/s², s²C]: each s x s group's tokens concatenated (row-major in the group)."""
    if stride == 1:
        return tokens
    check_stride(grid, stride)
    (rows, cols), s = grid, stride
    b, _, c = tokens.shape
    groups = tokens.reshape(b, rows // s, s, cols // s, s, c).permute(0, 1, 3, 2, 4, 5)
    return groups.reshape(b, (rows // s) * (cols // s), s * s * c)


def group_centres(img_ids: torch.Tensor, grid: tuple[int, int], stride: int) -> torch.Tensor:
    """[N, 3] image ids -> [N/s², 3]: each group's mean id, in the order of `group_tokens`."""
    if stride == 1:
        return img_ids
    check_stride(grid, stride)
    (rows, cols), s = grid, stride
    groups = img_ids.reshape(rows // s, s, cols // s, s, img_ids.shape[-1])
    return groups.mean(dim=(1, 3)).reshape(-1, img_ids.shape[-1])
