"""Read and write CelebAMask-HQ label maps as PNG, either as label-id images or as palette-colour images.

Accepted encodings when reading:

* label ids as pixel values: modes ``L``, ``I``, ``I;16*`` (and ``LA``, alpha ignored); values must be 0..18;
* palette colours: modes ``RGB``, ``RGBA``, ``RGBX`` (alpha ignored); every colour must be in ``PALETTE``;
* palette-indexed ``P``/``PA``: the image is first rendered to RGB and matched against ``PALETTE`` (so a file
  saved with any index order but the official colours reads correctly); if that fails and every index is < 19,
  the indices themselves are the label ids (a P file written with ids and an arbitrary palette).

Nothing is ever resized: a mask whose size differs from the requested resolution is an error, because
bilinear or off-by-one resizing silently corrupts label maps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mdit import atomic
from mdit.labels import NUM_CLASSES, MaskError, color_to_label_map, label_map_to_color, validate_label_map

ID_MODES = frozenset({"L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N"})
COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBX"})
PALETTE_MODES = frozenset({"P", "PA"})


def _open(path: Path) -> Image.Image:
    """Open and fully decode ``path``; a missing file is FileNotFoundError, anything undecodable is MaskError."""
    if not path.exists():
        raise FileNotFoundError(f"mask file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MaskError(f"cannot read mask {path}: {exc}") from exc


def _ids_from_id_image(image: Image.Image) -> np.ndarray:
    """Pixel values of a grey-level image (alpha dropped) as int64 label ids."""
    if image.mode == "LA":
        image = image.getchannel("L")
    return np.array(image, dtype=np.int64)


def _ids_from_colour_image(image: Image.Image) -> np.ndarray:
    """Label ids of an RGB(A) palette-colour image by exact colour match (alpha dropped)."""
    return color_to_label_map(np.array(image.convert("RGB"), dtype=np.uint8))


def _ids_from_palette_image(image: Image.Image) -> np.ndarray:
    """Label ids of a P image: its colours if they are palette colours, else its indices if all are < 19."""
    try:
        return _ids_from_colour_image(image)
    except MaskError as colour_error:
        indices = np.array(image.getchannel(0) if image.mode == "PA" else image, dtype=np.int64)
        if indices.size and int(indices.max()) < NUM_CLASSES:
            return indices
        found = np.unique(indices[indices >= NUM_CLASSES])[:10].tolist()
        raise MaskError(
            f"palette image matches neither the label palette ({colour_error}) nor label ids (indices {found}...)"
        ) from colour_error


def _decode(image: Image.Image) -> np.ndarray:
    """Label ids of a decoded image according to its mode (see the module docstring)."""
    if image.mode in ID_MODES:
        return _ids_from_id_image(image)
    if image.mode in COLOUR_MODES:
        return _ids_from_colour_image(image)
    if image.mode in PALETTE_MODES:
        return _ids_from_palette_image(image)
    raise MaskError(f"unsupported image mode {image.mode!r}; save masks as label ids (L) or palette colours (RGB)")


def check_resolution(mask: np.ndarray | torch.Tensor, resolution: int, name: str | Path = "mask") -> None:
    """Raise MaskError unless ``mask`` is resolution x resolution; the model never resizes masks for you."""
    height, width = mask.shape[-2:]
    if (height, width) != (resolution, resolution):
        raise MaskError(
            f"mask {name} is {height}x{width} but the model generates {resolution}x{resolution} images; "
            "resize it with nearest-neighbour first"
        )


def read_mask(path: str | Path, resolution: int | None = None) -> torch.Tensor:
    """Read a label-id or palette-colour PNG as an int64 [H, W] label map, optionally checking its size.

    Raises FileNotFoundError for a missing file and MaskError (a ValueError) naming the file for an unreadable
    image, unknown colours, ids >= 19, or a size other than ``resolution`` x ``resolution``.
    """
    path = Path(path)
    if resolution is not None and resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    image = _open(path)
    try:
        labels = _decode(image)
        validate_label_map(labels)
    except MaskError as exc:
        raise MaskError(f"mask {path}: {exc}") from exc
    if resolution is not None:
        check_resolution(labels, resolution, path)
    return torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))


def write_mask(path: str | Path, mask: np.ndarray | torch.Tensor, palette: bool = True) -> Path:
    """Write a label map atomically as a palette-colour RGB PNG (``palette=True``) or an 8-bit label-id PNG (L)."""
    colours = label_map_to_color(mask)  # validates: 2-D, integer, ids 0..18
    if palette:
        image = Image.fromarray(np.ascontiguousarray(colours))
    else:
        array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        image = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8))
    return atomic.write_with(path, lambda tmp: image.save(tmp, format="PNG"))
