"""Reading and writing label maps as PNG (mdit.masks): both encodings, P images, and the error messages."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mdit.labels import NUM_CLASSES, PALETTE, MaskError
from mdit.masks import read_mask, write_mask


def _label_map(height: int = 16, width: int = 16, seed: int = 0) -> np.ndarray:
    """A random label map that uses every id, so palette/id mix-ups cannot cancel out."""
    ids = np.random.default_rng(seed).integers(0, NUM_CLASSES, size=(height, width), dtype=np.int64)
    ids.flat[:NUM_CLASSES] = np.arange(NUM_CLASSES)
    return ids


def _no_temp_files(folder: Path) -> bool:
    return not [name for name in os.listdir(folder) if name.endswith(".tmp")]


@pytest.mark.parametrize("palette", [True, False])
def test_write_read_round_trip(tmp_path: Path, palette: bool) -> None:
    labels = _label_map()
    path = write_mask(tmp_path / "sub" / "mask.png", torch.from_numpy(labels), palette=palette)
    with Image.open(path) as image:
        assert image.mode == ("RGB" if palette else "L")
    mask = read_mask(path)
    assert mask.dtype == torch.int64 and mask.shape == (16, 16)
    assert np.array_equal(mask.numpy(), labels)
    assert _no_temp_files(path.parent)


def test_write_accepts_numpy(tmp_path: Path) -> None:
    labels = _label_map(seed=1)
    assert np.array_equal(read_mask(write_mask(tmp_path / "m.png", labels)).numpy(), labels)


def test_rgba_alpha_ignored(tmp_path: Path) -> None:
    labels = _label_map(seed=2)
    rgba = np.concatenate([PALETTE[labels], np.full((*labels.shape, 1), 7, np.uint8)], axis=-1)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert np.array_equal(read_mask(tmp_path / "rgba.png").numpy(), labels)


def test_sixteen_bit_ids(tmp_path: Path) -> None:
    labels = _label_map(seed=3)
    Image.fromarray(labels.astype(np.uint16)).save(tmp_path / "ids16.png")
    assert np.array_equal(read_mask(tmp_path / "ids16.png").numpy(), labels)


def _palette_image(indices: np.ndarray, colours: np.ndarray) -> Image.Image:
    image = Image.fromarray(indices.astype(np.uint8), mode="L").convert("P")
    image.putdata(indices.astype(np.uint8).ravel().tolist())
    image.putpalette(colours.astype(np.uint8).ravel().tolist())
    return image


def test_p_image_with_ids_and_grey_palette(tmp_path: Path) -> None:
    labels = _label_map(seed=4)
    grey = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    _palette_image(labels, grey).save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as image:
        assert image.mode == "P"
    assert np.array_equal(read_mask(tmp_path / "p.png").numpy(), labels)


def test_p_image_prefers_official_colours_over_indices(tmp_path: Path) -> None:
    labels = _label_map(seed=5)
    order = np.roll(np.arange(NUM_CLASSES), 3)  # index i is drawn in the colour of id order[i]
    indices = np.argsort(order)[labels]
    _palette_image(indices, PALETTE[order]).save(tmp_path / "p.png")
    assert np.array_equal(read_mask(tmp_path / "p.png").numpy(), labels)


def test_p_image_with_neither_colours_nor_ids(tmp_path: Path) -> None:
    indices = np.full((8, 8), 40)
    grey = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    _palette_image(indices, grey).save(tmp_path / "bad_p.png")
    with pytest.raises(MaskError, match=r"bad_p\.png.*\[40\]"):
        read_mask(tmp_path / "bad_p.png")


def test_missing_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "mask.png"
    with pytest.raises(FileNotFoundError, match=str(path)):
        read_mask(path)


def test_corrupt_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.png"
    path.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(MaskError, match="corrupt.png"):
        read_mask(path)


def test_truncated_png_names_path(tmp_path: Path) -> None:
    path = write_mask(tmp_path / "full.png", _label_map(64, 64))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(path.read_bytes()[:100])
    with pytest.raises(MaskError, match="truncated.png"):
        read_mask(truncated)


def test_id_out_of_range_reports_count(tmp_path: Path) -> None:
    ids = np.zeros((8, 8), np.uint8)
    ids[0, :3] = 19
    ids[1, 0] = 255
    Image.fromarray(ids).save(tmp_path / "ids.png")
    with pytest.raises(MaskError, match=r"ids\.png.*4 pixels.*\[19, 255\]"):
        read_mask(tmp_path / "ids.png")


def test_unknown_colour_names_file(tmp_path: Path) -> None:
    rgb = PALETTE[_label_map(8, 8)].copy()
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "colours.png")
    with pytest.raises(MaskError, match=r"colours\.png.*1 pixels.*\(1, 2, 3\)"):
        read_mask(tmp_path / "colours.png")


def test_resolution_mismatch_names_both_sizes(tmp_path: Path) -> None:
    path = write_mask(tmp_path / "big.png", _label_map(128, 128))
    assert read_mask(path, resolution=128).shape == (128, 128)
    with pytest.raises(MaskError, match=r"big\.png is 128x128 but the model generates 64x64 images.*nearest"):
        read_mask(path, resolution=64)


def test_non_square_rejected_with_resolution(tmp_path: Path) -> None:
    path = write_mask(tmp_path / "wide.png", _label_map(32, 48))
    assert read_mask(path).shape == (32, 48)
    with pytest.raises(MaskError, match="32x48"):
        read_mask(path, resolution=32)


def test_unsupported_mode(tmp_path: Path) -> None:
    Image.new("1", (8, 8)).save(tmp_path / "bits.png")
    with pytest.raises(MaskError, match=r"bits\.png.*mode"):
        read_mask(tmp_path / "bits.png")


def test_write_rejects_invalid_mask(tmp_path: Path) -> None:
    with pytest.raises(MaskError, match="outside"):
        write_mask(tmp_path / "bad.png", np.full((4, 4), 19))
    assert not (tmp_path / "bad.png").exists()
