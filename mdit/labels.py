"""CelebAMask-HQ label table, colour palette and pure label-map operations.

Label ids follow the official CelebAMask-HQ order (index = id). Left/right
follow the dataset convention: ``l_eye``/``l_brow``/``l_ear`` are the
SUBJECT's left, which appears on the IMAGE's right side. Every function accepts
numpy arrays; the cheap ones (flip, remap, validation) accept torch tensors too
and return the same kind they were given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

LABELS: tuple[str, ...] = (
    "background",
    "skin",
    "nose",
    "eye_g",
    "l_eye",
    "r_eye",
    "l_brow",
    "r_brow",
    "l_ear",
    "r_ear",
    "mouth",
    "u_lip",
    "l_lip",
    "hair",
    "hat",
    "ear_r",
    "neck_l",
    "neck",
    "cloth",
)
NUM_CLASSES = len(LABELS)

PALETTE: np.ndarray = np.array(
    [
        (0, 0, 0),
        (204, 0, 0),
        (76, 153, 0),
        (204, 204, 0),
        (51, 51, 255),
        (204, 0, 204),
        (0, 255, 255),
        (255, 204, 204),
        (102, 51, 0),
        (255, 0, 0),
        (102, 204, 0),
        (255, 255, 0),
        (0, 0, 153),
        (0, 0, 204),
        (255, 51, 153),
        (0, 204, 204),
        (0, 51, 0),
        (255, 153, 51),
        (0, 204, 0),
    ],
    dtype=np.uint8,
)
PALETTE.setflags(write=False)

FLIP_PAIRS: tuple[tuple[int, int], ...] = ((4, 5), (6, 7), (8, 9))

BISENET_TO_OFFICIAL: tuple[int, ...] = (0, 1, 6, 7, 4, 5, 3, 8, 9, 15, 2, 10, 11, 12, 17, 16, 18, 13, 14)


class MaskError(ValueError):
    """A label map (or its colour rendering) is malformed: wrong dtype, shape, ids or size."""


def _inverse_permutation(table: Sequence[int]) -> tuple[int, ...]:
    """Inverse of a permutation of 0..n-1; raises if ``table`` is not one."""
    if sorted(table) != list(range(len(table))):
        raise ValueError(f"not a permutation of 0..{len(table) - 1}: {list(table)}")
    inverse = [0] * len(table)
    for source, target in enumerate(table):
        inverse[target] = source
    return tuple(inverse)


OFFICIAL_TO_BISENET: tuple[int, ...] = _inverse_permutation(BISENET_TO_OFFICIAL)


def _swap_table(pairs: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """Identity table on 0..18 with each (a, b) pair exchanged."""
    table = list(range(NUM_CLASSES))
    for a, b in pairs:
        table[a], table[b] = b, a
    return tuple(table)


FLIP_TABLE: tuple[int, ...] = _swap_table(FLIP_PAIRS)

Mask = TypeVar("Mask", np.ndarray, torch.Tensor)


def _is_integer(mask: np.ndarray | torch.Tensor) -> bool:
    if isinstance(mask, torch.Tensor):
        return not (mask.dtype.is_floating_point or mask.dtype.is_complex or mask.dtype == torch.bool)
    return np.issubdtype(mask.dtype, np.integer)


def validate_label_map(mask: np.ndarray | torch.Tensor) -> None:
    """Raise MaskError unless ``mask`` is a 2-D integer map with ids in 0..18.

    Catches the usual loader bugs (float masks, RGB masks, 255 'ignore' pixels) early.
    """
    if not _is_integer(mask):
        raise MaskError(f"mask dtype must be integer, got {mask.dtype}")
    if mask.ndim != 2:
        raise MaskError(f"mask must be 2-D [H, W], got shape {tuple(mask.shape)}")
    array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else mask
    bad = (array < 0) | (array >= NUM_CLASSES)
    count = int(bad.sum())
    if count:
        ids = np.unique(array[bad]).tolist()
        raise MaskError(f"mask has {count} pixels with label ids outside 0..{NUM_CLASSES - 1}: {ids}")


def label_map_to_color(mask: np.ndarray | torch.Tensor) -> np.ndarray:
    """Render a label map as uint8 [H, W, 3] palette colours (what the mask autoencoder sees)."""
    validate_label_map(mask)
    array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else mask
    return PALETTE[array]


def color_to_label_map(rgb: np.ndarray) -> np.ndarray:
    """Invert ``label_map_to_color`` by exact palette match, returning int64 [H, W].

    Any colour not in the palette (e.g. from JPEG or bilinear resizing) raises MaskError.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise MaskError(f"colour mask must be [H, W, 3], got shape {tuple(rgb.shape)}")
    if not np.issubdtype(rgb.dtype, np.integer):
        raise MaskError(f"colour mask dtype must be integer, got {rgb.dtype}")
    outside = (rgb < 0) | (rgb > 255)  # packing would alias such values onto palette colours
    if outside.any():
        raise MaskError(f"colour mask has {int(outside.any(axis=-1).sum())} pixels with channels outside 0..255")
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    keys = (PALETTE[:, 0].astype(np.int64) << 16) | (PALETTE[:, 1].astype(np.int64) << 8) | PALETTE[:, 2]
    order = np.argsort(keys)
    pos = np.clip(np.searchsorted(keys[order], packed), 0, NUM_CLASSES - 1)
    labels = order[pos]
    bad = keys[labels] != packed
    count = int(bad.sum())
    if count:
        colours = [tuple(int(c) for c in colour) for colour in np.unique(rgb[bad], axis=0)[:5]]
        raise MaskError(f"colour mask has {count} pixels with colours not in the palette, e.g. {colours}")
    return labels.astype(np.int64)


def remap(mask: Mask, table: Sequence[int]) -> Mask:
    """Map every id i to ``table[i]`` (e.g. BISENET_TO_OFFICIAL for a BiSeNet prediction)."""
    validate_label_map(mask)
    if isinstance(mask, torch.Tensor):
        return torch.as_tensor(table, dtype=mask.dtype, device=mask.device)[mask.long()]
    return np.asarray(table, dtype=mask.dtype)[mask]


def flip_label_map(mask: Mask) -> Mask:
    """Mirror a label map left-right and swap the l/r ids, so it matches the mirrored image."""
    validate_label_map(mask)
    flipped = mask.flip(-1) if isinstance(mask, torch.Tensor) else mask[:, ::-1]
    return remap(flipped, FLIP_TABLE)


def check_same_size(image_hw: Sequence[int], mask_hw: Sequence[int]) -> None:
    """Raise MaskError if an image and its mask differ in (height, width)."""
    if tuple(image_hw) != tuple(mask_hw):
        raise MaskError(f"image is {image_hw[0]}x{image_hw[1]} but mask is {mask_hw[0]}x{mask_hw[1]}")
