"""Sample figures and PNG writing (mdit.visualize): sizes, mask colours, captions, atomic saves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mdit.labels import NUM_CLASSES, PALETTE
from mdit.visualize import GAP, MARGIN, image_grid, sample_grid, save_png, to_uint8


def _batch(size: int, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(size * 1000 + resolution)
    masks = torch.randint(0, NUM_CLASSES, (size, resolution, resolution), generator=generator)
    images = torch.rand(size, 3, resolution, resolution, generator=generator) * 2 - 1
    return masks, images


def test_to_uint8_clamps_and_rounds() -> None:
    images = torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0, float("nan")]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    out = to_uint8(images)
    assert out.dtype == np.uint8 and out.shape == (1, 1, 6, 3)
    assert out[0, 0, :, 0].tolist() == [0, 0, 128, 255, 255, 0]


def test_to_uint8_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        to_uint8(torch.zeros(3, 8, 8))


def test_sample_grid_grows_with_batch_and_ground_truth() -> None:
    masks, images = _batch(4, 32)
    one = sample_grid(masks[:1], images[:1], captions=["a"])
    four = sample_grid(masks, images, captions=["a"] * 4)
    with_truth = sample_grid(masks, images, images, captions=["a"] * 4)
    assert four.height > one.height and four.width == one.width
    assert with_truth.width > four.width and with_truth.height == four.height
    assert sample_grid(masks, images, scale=4).width > sample_grid(masks, images, scale=2).width


def test_mask_column_shows_palette_colours() -> None:
    masks, images = _batch(2, 32)
    masks[1, 5, 7] = 13
    grid = np.asarray(sample_grid(masks, images, captions=["first", "second"], scale=3))
    header_h = grid.shape[0] - 2 * MARGIN - 2 * 96 - GAP
    top = MARGIN + header_h + 96 + GAP  # second row
    left = MARGIN  # the mask column comes first; 96 px cells are wider than any title, so no centring offset
    for y, x in [(5, 7), (0, 0), (31, 31)]:
        pixel = grid[top + 3 * y + 1, left + 3 * x + 2]
        assert tuple(pixel) == tuple(PALETTE[int(masks[1, y, x])])


@pytest.mark.parametrize("position", ["right", "below"])
def test_long_and_non_ascii_captions(position: str) -> None:
    masks, images = _batch(3, 32)
    captions = [
        "A woman with " + "very " * 80 + "long wavy hair.",
        "Ünïcödé — 笑顔の女性, Ελληνικά, emoji 🙂\nsecond line",
        "x" * 500,
    ]
    short = sample_grid(masks, images, captions=["a", "b", "c"], caption_position=position)
    long = sample_grid(masks, images, captions=captions, caption_position=position)
    assert long.height > short.height and long.width == short.width
    assert long.mode == "RGB" and long.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(("size", "resolution"), [(1, 32), (32, 32), (2, 512)])
def test_sample_grid_batch_and_resolution_range(size: int, resolution: int) -> None:
    masks, images = _batch(size, resolution)
    grid = sample_grid(masks, images, images, captions=[f"sample {i}" for i in range(size)], scale=1)
    assert grid.width >= 3 * resolution and grid.height >= size * resolution


def test_sample_grid_rejects_mismatched_inputs() -> None:
    masks, images = _batch(2, 32)
    with pytest.raises(ValueError, match="captions"):
        sample_grid(masks, images, captions=["only one"])
    with pytest.raises(ValueError, match="do not match"):
        sample_grid(masks[:, :16, :16], images)


def test_image_grid_tiles() -> None:
    _, images = _batch(5, 8)
    grid = image_grid(images, nrow=2, padding=2)
    assert grid.size == (2 + 2 * 10, 2 + 3 * 10)
    assert np.array_equal(np.asarray(grid)[2:10, 12:20], to_uint8(images)[1])


def test_save_png_is_atomic(tmp_path: Path) -> None:
    image = Image.new("RGB", (10, 6), (1, 2, 3))
    path = save_png(image, tmp_path / "deep" / "folder" / "out.png")
    assert path == tmp_path / "deep" / "folder" / "out.png"
    assert os.listdir(path.parent) == ["out.png"]
    save_png(Image.new("RGB", (4, 4)), path)  # overwrite in place
    with Image.open(path) as reopened:
        assert reopened.size == (4, 4) and reopened.format == "PNG"
    assert os.listdir(path.parent) == ["out.png"]


def test_save_png_failure_leaves_nothing(tmp_path: Path) -> None:
    class Broken(Image.Image):
        def save(self, *args: object, **kwargs: object) -> None:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_png(Broken(), tmp_path / "out.png")
    assert os.listdir(tmp_path) == []


def test_condition_columns_beside_the_mask() -> None:
    """Each condition image is a titled column of its own, before the generated one, drawn as given."""
    masks, images = _batch(2, 32)
    sketch = torch.full((2, 3, 32, 32), -1.0)
    sketch[1, :, 5, :] = 1.0  # sample 1: a white line on row 5
    plain = sample_grid(masks, images, images, captions=["a", "b"], scale=3)
    grid = sample_grid(masks, images, images, captions=["a", "b"], scale=3, conditions={"sketch": sketch})
    assert grid.width == plain.width + 96 + GAP and grid.height == plain.height
    pixels = np.asarray(grid)
    header_h = pixels.shape[0] - 2 * MARGIN - 2 * 96 - GAP
    top, left = MARGIN + header_h + 96 + GAP, MARGIN + 96 + GAP  # second row, second column
    assert tuple(pixels[top + 3 * 5 + 1, left + 10]) == (255, 255, 255)
    assert tuple(pixels[top + 3 * 6 + 1, left + 10]) == (0, 0, 0)
    only = sample_grid(None, images, conditions={"sketch": sketch})  # a model that reads no mask
    assert only.width == sample_grid(masks, images).width
    with pytest.raises(ValueError, match="give the masks, or the condition images"):
        sample_grid(None, images)
    with pytest.raises(ValueError, match="condition 'sketch'"):
        sample_grid(masks, images, conditions={"sketch": sketch[:, :, :16]})
