"""The generic face-folder loader (MM-FFHQ / MM-FairFace layout): ids, splits, center crops, missing files, corrupt
images, flips and per-(index, epoch) randomness."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from celeba_tree import BAD_CAPTIONS, CLEAN_CAPTIONS, truncate
from PIL import Image

from mdit.data.checks import MissingFilesError
from mdit.data.face_files import CorruptImageError
from mdit.data.folder import FolderDataset, folder_split
from mdit.labels import MaskError, flip_label_map
from mdit.masks import write_mask

NAMES = ("a", "b", "c", "d", "e")
SUFFIXES = {"a": ".jpg", "b": ".png", "c": ".webp", "d": ".jpeg", "e": ".png"}
RED = (250, 0, 0)


def _image(width: int, height: int, seed: int) -> np.ndarray:
    """Smooth uint8 RGB, different per seed, with a red band over the left eighth."""
    rows, cols = np.mgrid[0:height, 0:width]
    pixels = np.dstack([(cols * 160 // width) + 40, np.full_like(cols, 30 * seed + 20), rows * 160 // height + 40])
    pixels[:, : width // 8] = RED
    return pixels.astype(np.uint8)


def _mask(width: int, height: int) -> np.ndarray:
    """Skin everywhere, cloth over the left eighth, an l_eye (subject's left) on the image's right only."""
    mask = np.ones((height, width), dtype=np.int64)
    mask[:, : width // 8] = 18
    mask[height // 3 : height // 2, width * 5 // 8 : width * 6 // 8] = 4
    return mask


def write_folder(root: Path) -> Path:
    """Five faces: a, c, d, e square; b is 80x64 (width x height) with a 40x32 palette mask."""
    for sub in ("images", "masks", "captions"):
        (root / sub).mkdir(parents=True)
    for seed, name in enumerate(NAMES):
        width, height, mask_size = (80, 64, (40, 32)) if name == "b" else (48, 48, (24, 24))
        Image.fromarray(_image(width, height, seed)).save(root / "images" / f"{name}{SUFFIXES[name]}", quality=95)
        write_mask(root / "masks" / f"{name}.png", _mask(*mask_size), palette=name in ("b", "c"))
        lines = [f"{name} caption {k}" for k in range(3)]
        (root / "captions" / f"{name}.txt").write_text("\n".join([BAD_CAPTIONS[1], "", *lines]) + "\n")
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "faces")


def test_ids_are_positions_in_sorted_names(root: Path) -> None:
    assert FolderDataset(root, resolution=16).ids == [0, 1, 2, 3, 4]
    dataset = FolderDataset(root, ["e", "b"], resolution=16, caption_mode="fixed")
    assert dataset.ids == [4, 1]
    sample = dataset[0]
    assert sample["id"] == 4 and sample["source"] == "folder"
    assert sample["caption"] == ["the woman's hair is black", "e caption 0", "e caption 1", "e caption 2"][4 % 4]
    with pytest.raises(ValueError, match=r"1 names: \['zz'\]"):
        FolderDataset(root, ["a", "zz"])


def test_sample_format(root: Path) -> None:
    dataset = FolderDataset(root, resolution=16)
    for index in range(len(dataset)):
        sample = dataset[index]
        assert sample["image"].dtype == torch.float32 and sample["image"].shape == (3, 16, 16)
        assert -1.0 <= sample["image"].min() and sample["image"].max() <= 1.0
        assert sample["mask"].dtype == torch.int64 and sample["mask"].shape == (16, 16)
        assert {1, 4} <= set(sample["mask"].unique().tolist()) <= {1, 4, 18}
        assert sample["caption"] in (CLEAN_CAPTIONS[1], *(f"{NAMES[index]} caption {k}" for k in range(3)))


def test_center_crop_keeps_image_and_mask_aligned(root: Path) -> None:
    sample = FolderDataset(root, ["b"], resolution=64)[0]
    pixels = ((sample["image"] + 1) * 127.5).round().permute(1, 2, 0).numpy()
    # 80x64 -> image columns 8..71 and mask columns 4..35: of the red band (image columns 0..9) and the cloth (mask
    # columns 0..4) the same last two output columns survive.
    assert (pixels[:, :2] == RED).all() and not (pixels[:, 2:] == RED).all(axis=2).any()
    assert (sample["mask"][:, :2] == 18).all() and 18 not in sample["mask"][:, 2:]
    expected = np.asarray(Image.open(root / "images" / "b.png").crop((8, 0, 72, 64)))
    assert np.abs(pixels - expected).max() <= 0.5
    eye_columns = torch.nonzero(sample["mask"] == 4)[:, 1]
    assert (eye_columns.min(), eye_columns.max()) == (50 - 8, 59 - 8)  # image columns 50..59, shifted by the crop


def test_mask_with_another_aspect_ratio_is_a_mask_error(root: Path) -> None:
    write_mask(root / "masks" / "e.png", np.ones((10, 20), dtype=np.int64), palette=False)
    with pytest.raises(MaskError, match=r"masks/e\.png of image .*e\.png: the mask is 20x10 but the image is 48x48"):
        FolderDataset(root, ["e"])[0]


def test_flip_mirrors_and_swaps(root: Path) -> None:
    plain, flipped = FolderDataset(root, ["a"], resolution=24)[0], FolderDataset(root, ["a"], 24, flip_p=1.0)[0]
    assert torch.equal(flipped["image"], plain["image"].flip(-1))
    assert torch.equal(flipped["mask"], flip_label_map(plain["mask"]))
    assert torch.nonzero(plain["mask"] == 4)[:, 1].min() >= 12 and 5 not in plain["mask"]
    assert torch.nonzero(flipped["mask"] == 5)[:, 1].max() < 12 and 4 not in flipped["mask"]


def test_index_epoch_determinism(root: Path) -> None:
    dataset = FolderDataset(root, resolution=16, flip_p=0.5)
    assert dataset[(1, 7)]["caption_index"] == dataset[(1, 7)]["caption_index"]
    assert torch.equal(dataset[(1, 7)]["image"], dataset[(1, 7)]["image"])
    by_epoch = [dataset[(1, epoch)] for epoch in range(12)]
    assert len({s["caption_index"] for s in by_epoch}) > 1
    assert {bool(torch.equal(s["image"], by_epoch[0]["image"])) for s in by_epoch} == {True, False}
    fixed = FolderDataset(root, resolution=16, caption_mode="fixed")
    assert [fixed[(i, 3)]["caption_index"] for i in range(5)] == [i % 4 for i in range(5)]


def test_without_captions(root: Path) -> None:
    shutil.rmtree(root / "captions")
    sample = FolderDataset(root, resolution=16, use_captions=False)[2]
    assert sample["caption"] == "" and sample["caption_index"] == 0


def test_folder_split_by_position(root: Path) -> None:
    splits = {split: folder_split(root, split, val_size=1, test_size=2) for split in ("train", "val", "test")}
    assert splits == {"train": ["a", "b"], "val": ["c"], "test": ["d", "e"]}
    assert folder_split(root, "test") == [] and folder_split(root, "train") == list(NAMES)
    with pytest.raises(ValueError, match="leave training images"):
        folder_split(root, "train", val_size=2, test_size=3)
    with pytest.raises(ValueError, match="split must be"):
        folder_split(root, "holdout")


def test_folder_split_from_files(root: Path) -> None:
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("b.png\na\n\n")
    (root / "splits" / "test.txt").write_text("e\n")
    assert folder_split(root, "train") == ["a", "b"] and folder_split(root, "test", test_size=3) == ["e"]
    with pytest.raises(FileNotFoundError, match=r"splits/val\.txt"):
        folder_split(root, "val")
    (root / "splits" / "test.txt").write_text("e\na\n")
    with pytest.raises(ValueError, match=r"share 1 names: \['a'\]"):
        folder_split(root, "test")
    (root / "splits" / "test.txt").write_text("f\n")
    with pytest.raises(ValueError, match=r"test\.txt names 1 images not in images/: \['f'\]"):
        folder_split(root, "test")


@pytest.mark.parametrize(
    ("remove", "named"), [("", "faces"), ("images", "images"), ("masks", "masks"), ("captions", "captions")]
)
def test_missing_folders_are_named(root: Path, remove: str, named: str) -> None:
    shutil.rmtree(root / remove)
    with pytest.raises(FileNotFoundError, match=re.escape(named)):
        FolderDataset(root)


def test_missing_and_empty_files_are_checked_at_build(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    (root / "masks" / "c.png").unlink()
    (root / "captions" / "d.txt").unlink()
    (root / "captions" / "e.txt").write_text(" \n\ufffd\n")
    expected = [
        f"2: no mask {root / 'masks' / 'c.png'} (for image {root / 'images' / 'c.webp'})",
        f"3: no caption file {root / 'captions' / 'd.txt'}",
        f"4: caption file {root / 'captions' / 'e.txt'} holds no caption",
    ]
    with pytest.raises(MissingFilesError) as err:
        FolderDataset(root, on_missing="error")
    assert "3 of 5 folder faces" in str(err.value) and all(line in str(err.value) for line in expected)
    with caplog.at_level(logging.WARNING, logger="mdit.data.checks"):
        dataset = FolderDataset(root, resolution=16)
    assert dataset.ids == [0, 1]
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 1 and all(line in skipped[0] for line in expected)
    assert "3 caption file(s) hold fewer than 10 captions" in caplog.text  # a, b and c hold 4
    assert FolderDataset(root, ["a", "d"], use_captions=False).ids == [0, 3]  # no captions asked: none checked


def test_two_images_with_one_name(root: Path) -> None:
    Image.new("RGB", (8, 8)).save(root / "images" / "a.png")
    with pytest.raises(ValueError, match=r"two images named 'a'"):
        FolderDataset(root)


def test_corrupt_images(root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    truncate(root / "images" / "e.png")
    truncate(root / "images" / "a.jpg", 0.9)
    with caplog.at_level(logging.WARNING, logger="mdit.data.face_files"):
        dataset = FolderDataset(root, resolution=16, cache_dir=tmp_path / "cache")
    assert dataset.ids == [1, 2, 3]
    records = [r.getMessage() for r in caplog.records if r.name == "mdit.data.face_files"]
    assert len(records) == 1 and "skipping 2 corrupt image(s) of 5" in records[0]
    assert (tmp_path / "cache" / "image_scan.json").is_file()
    with pytest.raises(CorruptImageError, match=r"a\.jpg.*e\.png"):
        FolderDataset(root, on_corrupt="error")
    with pytest.raises(CorruptImageError, match=r"e\.png"):
        FolderDataset(root, on_corrupt=None)[4]
