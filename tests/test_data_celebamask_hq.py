"""CelebAMask-HQ and Multi-Modal-CelebA-HQ loaders on a tiny tree in the release layouts: part merging, the mask
cache, corrupt images, captions and where they are, the split pickles and data.split_source, the file checks at
build time, flips and per-(index, epoch) randomness."""

from __future__ import annotations

import logging
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from celeba_tree import (
    BAD_CAPTIONS,
    BOXES,
    CLEAN_CAPTIONS,
    PROBES,
    CelebaTree,
    part_mask,
    python2_pickle,
    truncate,
    write_celeba_tree,
    write_part,
    write_split_pickles,
)
from PIL import Image, ImageFile

from mdit.config import load_config
from mdit.data import checks, face_files
from mdit.data.celebamask_hq import CelebAMaskHQDataset, MergedMaskCache, celeba_split, faces_with_parts, merge_parts
from mdit.data.checks import MissingFilesError
from mdit.data.face_files import CorruptImageError, scan_images
from mdit.data.mm_celeba import (
    Captions,
    MMSplit,
    SplitMismatchError,
    caption_folder,
    clean_caption,
    mm_celeba_ids,
    read_captions,
)
from mdit.data.registry import build_datamodule
from mdit.labels import MaskError, flip_label_map

LOGGER, MM_LOGGER, CHECKS_LOGGER = "mdit.data.face_files", "mdit.data.mm_celeba", "mdit.data.checks"


@pytest.fixture
def tree(tmp_path: Path) -> CelebaTree:
    return write_celeba_tree(tmp_path)


def _dataset(tree: CelebaTree, **kwargs) -> CelebAMaskHQDataset:
    kwargs.setdefault("captions", Captions(tree.caption_root))
    kwargs.setdefault("resolution", 32)
    return CelebAMaskHQDataset(tree.root, kwargs.pop("ids", tree.ids), **kwargs)


# ---------------------------------------------------------------------------------------------------- merging


@pytest.mark.parametrize("name", list(PROBES))
def test_merge_paints_in_official_order(tree: CelebaTree, name: str) -> None:
    labels = merge_parts(tree.anno_root, 0)
    assert labels.dtype == np.uint8 and labels.shape == (tree.part_size, tree.part_size)
    (row, col), expected = tree.probe(name)
    assert labels[row, col] == expected, name


def test_merge_across_part_folders_and_modes(tree: CelebaTree) -> None:
    """Ids 2000 and 4001 live in folders 1/ and 2/; hair (RGB), cloth (P) and l_eye (RGBA) read like L parts."""
    reference = merge_parts(tree.anno_root, 0)
    for idx in (2000, 4001):
        assert np.array_equal(merge_parts(tree.anno_root, idx), reference)
    assert set(np.unique(reference)) == {0, 1, 2, 4, 5, 8, 9, 13, 18}  # no hat (14) anywhere


def test_missing_part_is_absent(tree: CelebaTree) -> None:
    labels = merge_parts(tree.anno_root, 1)
    assert 8 not in labels and 9 in labels  # id 1 has no l_ear file
    expected = merge_parts(tree.anno_root, 0)
    assert np.array_equal(expected == 8, part_mask("l_ear", tree.part_size))
    expected[expected == 8] = 0  # nothing else covers the l_ear box
    assert np.array_equal(labels, expected)


def test_no_part_file_is_an_error_naming_the_pattern(tree: CelebaTree) -> None:
    with pytest.raises(FileNotFoundError, match=r"id 3: expected .*/0/00003_<part>\.png"):
        merge_parts(tree.anno_root, 3)


def test_part_of_another_size_is_a_mask_error(tree: CelebaTree) -> None:
    write_part(tree.part_path(2, "nose"), np.ones((16, 16), dtype=bool))
    with pytest.raises(MaskError, match=r"00002_nose\.png is 16x16"):
        merge_parts(tree.anno_root, 2)


def test_undecodable_part_is_a_mask_error(tree: CelebaTree) -> None:
    tree.part_path(2, "hair").write_bytes(b"not a png")
    with pytest.raises(MaskError, match=r"00002_hair\.png"):
        merge_parts(tree.anno_root, 2)


# ---------------------------------------------------------------------------------------------------- mask cache


def _temp_files(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.endswith(".tmp")]


def test_mask_cache_is_written_once_and_reused(tree: CelebaTree, tmp_path: Path) -> None:
    cache = MergedMaskCache(tmp_path / "cache")
    first = cache.get(tree.anno_root, 2000)
    path = cache.path(2000)
    assert path == tmp_path / "cache" / "2000.png"
    with Image.open(path) as image:
        assert image.mode == "L" and np.array_equal(np.asarray(image), first)
    written = path.stat().st_mtime_ns
    shutil.rmtree(tree.anno_root)
    again = cache.get(tree.anno_root, 2000)
    assert np.array_equal(again, first) and path.stat().st_mtime_ns == written
    assert not _temp_files(path.parent)
    with pytest.raises(FileNotFoundError):  # not cached and no parts any more
        cache.get(tree.anno_root, 0)


@pytest.mark.parametrize("damage", ["half", "garbage", "bad ids"])
def test_damaged_cache_file_is_rebuilt(tree: CelebaTree, tmp_path: Path, damage: str) -> None:
    cache = MergedMaskCache(tmp_path / "cache")
    expected = cache.get(tree.anno_root, 2)
    path = cache.path(2)
    if damage == "half":
        truncate(path)
    elif damage == "garbage":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    else:
        Image.fromarray(np.full(expected.shape, 255, dtype=np.uint8)).save(path)
    assert np.array_equal(cache.get(tree.anno_root, 2), expected)
    with Image.open(path) as image:
        image.load()
        assert np.array_equal(np.asarray(image), expected)


def test_mask_cache_with_concurrent_writers(tree: CelebaTree, tmp_path: Path) -> None:
    cache = MergedMaskCache(tmp_path / "cache")
    with ThreadPoolExecutor(8) as pool:
        maps = list(pool.map(lambda _: cache.get(tree.anno_root, 4001), range(16)))
    assert all(np.array_equal(m, maps[0]) for m in maps)
    assert os.listdir(tmp_path / "cache") == ["4001.png"]


# ---------------------------------------------------------------------------------------------------- samples


def test_sample_format(tree: CelebaTree) -> None:
    dataset = _dataset(tree)
    assert len(dataset) == len(tree.ids)
    sample = dataset[3]
    image, mask = sample["image"], sample["mask"]
    assert image.dtype == torch.float32 and image.shape == (3, 32, 32)
    assert -1.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.1
    assert mask.dtype == torch.int64 and mask.shape == (32, 32) and 0 <= mask.min() and mask.max() <= 18
    assert sample["id"] == 2000 and sample["source"] == "celebamask_hq"
    captions = Captions(tree.caption_root).get(2000)
    assert len(captions) == 10 and sample["caption"] == captions[sample["caption_index"]]


def test_image_lanczos_and_mask_nearest(tree: CelebaTree) -> None:
    sample = _dataset(tree, resolution=16)[0]
    with Image.open(tree.image_path(0)) as image:
        expected = np.asarray(image.convert("RGB").resize((16, 16), Image.LANCZOS))
    got = ((sample["image"] + 1) * 127.5).round().permute(1, 2, 0).numpy()
    assert np.abs(got - expected).max() <= 0.5
    merged = merge_parts(tree.anno_root, 0)
    assert np.array_equal(sample["mask"].numpy(), np.asarray(Image.fromarray(merged).resize((16, 16), Image.NEAREST)))


def test_no_captions_gives_empty_caption(tree: CelebaTree) -> None:
    sample = _dataset(tree, captions=None)[0]
    assert sample["caption"] == "" and sample["caption_index"] == 0


def test_flip_mirrors_image_and_swaps_labels(tree: CelebaTree) -> None:
    plain, flipped = _dataset(tree, flip_p=0.0)[1], _dataset(tree, flip_p=1.0)[1]
    assert torch.equal(flipped["image"], plain["image"].flip(-1))
    assert torch.equal(flipped["mask"], flip_label_map(plain["mask"]))
    # id 1 has only a right ear (9, on the image's left); mirrored it is the subject's left ear (8).
    assert 9 in plain["mask"] and 8 not in plain["mask"]
    assert 8 in flipped["mask"] and 9 not in flipped["mask"]
    assert int(flipped["mask"][20, 32 - 1 - 8]) == 13 and int(plain["mask"][20, 8]) == 13  # the hair strand


def test_index_epoch_determinism(tree: CelebaTree) -> None:
    dataset = _dataset(tree, flip_p=0.5)
    first = dataset[(2, 5)]
    again = dataset[(2, 5)]
    assert first["caption_index"] == again["caption_index"] and torch.equal(first["image"], again["image"])
    dataset.set_epoch(5)
    assert dataset[2]["caption_index"] == first["caption_index"]
    by_epoch = [dataset[(2, epoch)] for epoch in range(12)]
    assert len({s["caption_index"] for s in by_epoch}) > 1
    flips = {bool(torch.equal(s["image"], by_epoch[0]["image"])) for s in by_epoch}
    assert flips == {True, False}
    assert len({dataset[(i, 0)]["caption_index"] for i in range(len(dataset))}) > 1  # one draw per sample


def test_fixed_captions(tree: CelebaTree) -> None:
    dataset = _dataset(tree, caption_mode="fixed")
    for index, idx in enumerate(tree.ids):
        assert {dataset[(index, epoch)]["caption_index"] for epoch in range(4)} == {idx % 10}


def test_bad_arguments(tree: CelebaTree) -> None:
    with pytest.raises(ValueError, match="caption_mode"):
        _dataset(tree, caption_mode="first")
    with pytest.raises(ValueError, match="flip_p"):
        _dataset(tree, flip_p=2.0)
    with pytest.raises(ValueError, match="no sample ids"):
        _dataset(tree, ids=[])
    for index in (len(tree.ids), -1):
        with pytest.raises(IndexError):
            _dataset(tree)[index]


@pytest.mark.parametrize("missing", ["", "CelebA-HQ-img", "CelebAMask-HQ-mask-anno"])
def test_missing_folder_is_named(tree: CelebaTree, missing: str) -> None:
    target = tree.root / missing
    shutil.rmtree(target)
    with pytest.raises(FileNotFoundError, match=re.escape(str(target))):
        _dataset(tree)


# ---------------------------------------------------------------------------------------------------- corrupt images


def test_pil_loads_truncated_jpegs_only_when_told_to(tree: CelebaTree, monkeypatch: pytest.MonkeyPatch) -> None:
    """The assumption behind the scan, and the reason it forces strict decoding."""
    truncate(tree.image_path(2000), 0.9)  # headers intact, entropy-coded data cut
    with pytest.raises(OSError, match="(?i)truncated"), Image.open(tree.image_path(2000)) as image:
        image.load()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with Image.open(tree.image_path(2000)) as image:
        image.load()  # silently grey-filled
    assert scan_images([tree.image_path(i) for i in tree.ids]) == [tree.image_path(2000)]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_corrupt_image_is_skipped_with_one_warning(tree: CelebaTree, caplog: pytest.LogCaptureFixture) -> None:
    truncate(tree.image_path(2000), 0.9)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        dataset = _dataset(tree)
    assert dataset.ids == [0, 1, 2, 4001]
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1 and "skipping 1 corrupt image(s) of 5" in records[0].getMessage()
    assert "2000.jpg" in records[0].getMessage()


def test_corrupt_image_raises_on_error(tree: CelebaTree) -> None:
    truncate(tree.image_path(2000))
    with pytest.raises(CorruptImageError, match=r"1 corrupt image\(s\).*2000\.jpg"):
        _dataset(tree, on_corrupt="error")
    with pytest.raises(ValueError, match="on_corrupt"):
        _dataset(tree, on_corrupt="ignore")


def test_unscanned_corrupt_image_raises_when_read(tree: CelebaTree) -> None:
    truncate(tree.image_path(2000))
    dataset = _dataset(tree, on_corrupt=None)
    with pytest.raises(CorruptImageError, match=r"2000\.jpg"):
        dataset[3]
    tree.image_path(2).unlink()
    with pytest.raises(FileNotFoundError, match=r"2\.jpg"):
        dataset[2]


def test_scan_result_is_cached(tree: CelebaTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    truncate(tree.image_path(2000))
    cache = tmp_path / "cache"
    assert _dataset(tree, mask_cache=cache).ids == [0, 1, 2, 4001]
    assert (cache / "image_scan.json").is_file()
    decoded: list[Path] = []
    real = face_files._decodes
    monkeypatch.setattr(face_files, "_decodes", lambda path: decoded.append(path) or real(path))
    assert _dataset(tree, mask_cache=cache).ids == [0, 1, 2, 4001] and decoded == []
    Image.new("RGB", (64, 64), (9, 9, 9)).save(tree.image_path(2000))  # repaired: new size and mtime
    assert _dataset(tree, mask_cache=cache).ids == list(tree.ids) and decoded == [tree.image_path(2000)]


# ---------------------------------------------------------------------------------------------------- captions


def test_caption_cleanup(tree: CelebaTree) -> None:
    captions = Captions(tree.caption_root).get(0)
    assert captions[0] == CLEAN_CAPTIONS[0] and captions[2] == CLEAN_CAPTIONS[1]
    assert len(captions) == 10 and all("\ufffd" not in c and "  " not in c and c == c.strip() for c in captions)
    assert [clean_caption(line) for line in BAD_CAPTIONS] == list(CLEAN_CAPTIONS)
    assert clean_caption("  \ufffd\t ") == ""


def test_caption_file_errors(tmp_path: Path) -> None:
    (tmp_path / "bytes.txt").write_bytes(b"caf\xe9 au lait\n\xff\xfe\n")
    assert read_captions(tmp_path / "bytes.txt") == ["caf au lait"]
    (tmp_path / "empty.txt").write_text("\n \ufffd\n")
    with pytest.raises(ValueError, match=r"empty\.txt holds no caption"):
        read_captions(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        Captions(tmp_path).get("missing")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Captions(tmp_path / "nowhere")


def test_captions_cache_returns_copies(tree: CelebaTree) -> None:
    captions = Captions(tree.caption_root, cache_size=1)
    captions.get(0).clear()
    assert len(captions.get(0)) == 10
    captions.get(1)
    assert list(captions._cache) == ["1"]


# ---------------------------------------------------------------------------------------------------- splits


def _pickle_path(tree: CelebaTree, split: str) -> Path:
    return tree.mm_root / split / "filenames.pickle"


def test_release_pickles_are_read_as_published_and_their_ranges_logged(
    tree: CelebaTree, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=MM_LOGGER):
        chosen = mm_celeba_ids(tree.mm_root)
    assert (chosen.train, chosen.test, chosen.source) == ([0, 1, 2, 2000, 4001], [24000, 29999], "pickles")
    assert f"{_pickle_path(tree, 'train')}: 5 ids, 0..4001, 0 outside 0..23999" in caplog.text
    assert f"{_pickle_path(tree, 'test')}: 2 ids, 24000..29999, 0 outside 24000..29999" in caplog.text
    for named in (tree.mm_root / "text", tree.caption_root):  # data.captions may name text/ or the caption folder
        assert mm_celeba_ids(named) == chosen


def test_every_published_name_format_is_an_id(tree: CelebaTree) -> None:
    write_split_pickles(tree.mm_root, ["12", "13.jpg", b"14", 15, " 16 "], [b"24000.jpg", 24001])
    assert mm_celeba_ids(tree.mm_root).train == [12, 13, 14, 15, 16]
    _pickle_path(tree, "train").write_bytes(python2_pickle(["3", "1", "2.jpg"]))
    assert mm_celeba_ids(tree.mm_root) == MMSplit([1, 2, 3], [24000, 24001], "pickles")


def test_swapped_pickles_are_swapped_back_under_auto_only(tree: CelebaTree, caplog: pytest.LogCaptureFixture) -> None:
    write_split_pickles(tree.mm_root, ["24000", "25000"], ["0", "23999"])
    with caplog.at_level(logging.WARNING, logger=MM_LOGGER):
        assert mm_celeba_ids(tree.mm_root, "auto") == MMSplit([0, 23999], [24000, 25000], "pickles (swapped back)")
    assert "swapped" in caplog.text
    assert mm_celeba_ids(tree.mm_root, "pickles") == MMSplit([24000, 25000], [0, 23999], "pickles")


def test_other_partitions_stop_and_show_both_choices(tree: CelebaTree) -> None:
    write_split_pickles(tree.mm_root, ["0", "24001", "30000"], ["24000", "5"])
    with pytest.raises(SplitMismatchError) as err:
        mm_celeba_ids(tree.mm_root, "auto")
    message = str(err.value)
    assert f"train: {_pickle_path(tree, 'train')} holds 3 ids, 0..30000, 2 outside 0..23999" in message
    assert f"test: {_pickle_path(tree, 'test')} holds 2 ids, 5..24000, 1 outside 24000..29999" in message
    assert "data.split_source=pickles" in message and "data.split_source=ranges" in message
    assert mm_celeba_ids(tree.mm_root, "pickles") == MMSplit([0, 24001, 30000], [5, 24000], "pickles")
    shutil.rmtree(tree.mm_root / "train")
    shutil.rmtree(tree.mm_root / "test")
    ranges = mm_celeba_ids(tree.mm_root, "ranges")  # the maintainers' ranges need no pickles
    assert (ranges.train, ranges.test, ranges.source) == (list(range(24000)), list(range(24000, 30000)), "ranges")


def test_bad_pickles_are_named(tree: CelebaTree) -> None:
    write_split_pickles(tree.mm_root, ["0"], ["24000", "face_7"])
    with pytest.raises(ValueError, match=r"test/filenames\.pickle holds 'face_7'"):
        mm_celeba_ids(tree.mm_root)
    write_split_pickles(tree.mm_root, ["0", "7"], ["7", "24000"])
    with pytest.raises(ValueError, match=r"share 1 ids \(\[7\]\).*data\.split_source=ranges"):
        mm_celeba_ids(tree.mm_root, "pickles")
    write_split_pickles(tree.mm_root, [], ["24000"])
    with pytest.raises(ValueError, match=r"train/filenames\.pickle holds no names"):
        mm_celeba_ids(tree.mm_root)
    write_split_pickles(tree.mm_root, ["0"], ["24000"])
    _pickle_path(tree, "test").unlink()
    with pytest.raises(FileNotFoundError, match=r"test/filenames\.pickle"):
        mm_celeba_ids(tree.mm_root)
    shutil.rmtree(tree.mm_root / "train")
    with pytest.raises(FileNotFoundError) as err:
        mm_celeba_ids(tree.caption_root)
    for place in (tree.caption_root, tree.mm_root / "text", tree.mm_root):
        assert str(place / "train" / "filenames.pickle") in str(err.value)
    assert "data.split_source=ranges" in str(err.value)
    with pytest.raises(ValueError, match="split source must be"):
        mm_celeba_ids(tree.mm_root, "swapped")


def test_celeba_split_from_mapping(tree: CelebaTree) -> None:
    splits = {split: celeba_split(tree.mapping_file, split) for split in ("train", "val", "test")}
    assert splits == {"train": [0, 4001], "val": [1, 2], "test": [2000]}
    lines = tree.mapping_file.read_text().splitlines()
    tree.mapping_file.write_text("\n".join([*lines, "7  100  000100.jpg"]) + "\n")
    with pytest.raises(ValueError, match=r"mapping\.txt:7: orig_file 000100\.jpg is not orig_idx 100 \+ 1"):
        celeba_split(tree.mapping_file, "train")
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        celeba_split(tree.root / "nowhere.txt", "train")


# ---------------------------------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    ("layout", "named"),
    [("release", ""), ("release", "text"), ("release", "text/celeba-caption"), ("flat", ""), ("flat", "text")],
)
def test_captions_are_found_where_each_layout_keeps_them(tmp_path: Path, layout: str, named: str) -> None:
    tree = write_celeba_tree(tmp_path, layout=layout)
    folder = caption_folder(tree.mm_root / named)
    assert folder == tree.caption_root
    assert Captions(folder).get(4001)[0] == CLEAN_CAPTIONS[0]


def test_no_caption_folder_names_every_place_looked(tree: CelebaTree) -> None:
    shutil.rmtree(tree.mm_root / "text")
    with pytest.raises(FileNotFoundError) as err:
        caption_folder(tree.mm_root)
    mm = tree.mm_root
    for place in (mm / "text" / "celeba-caption", mm / "celeba-caption", mm / "text", mm):
        assert str(place / "<id>.txt") in str(err.value)


def _real_config(tree: CelebaTree, tmp_path: Path, *overrides: str):
    return load_config(
        None,
        [
            "data.name=celebamask_hq",
            f"data.root={tree.root}",
            f"data.captions={tree.mm_root}",
            "data.val_size=1",
            f"data.cache_dir={tmp_path / 'cache'}",
            "data.resolution=32",
            *overrides,
        ],
    )


@pytest.mark.parametrize("layout", ["release", "flat"])
def test_splits_of_a_tree_as_published(tmp_path: Path, layout: str) -> None:
    tree = write_celeba_tree(tmp_path / "data", ids=(0, 1, 2, 24000, 24001), layout=layout)
    data = build_datamodule(_real_config(tree, tmp_path))
    assert data.data_split == {
        "source": "pickles",
        "train": {"count": 2, "min": 0, "max": 1},
        "val": {"count": 1, "min": 2, "max": 2},
        "test": {"count": 2, "min": 24000, "max": 24001},
    }
    sample = data.test_set[(1, 0)]
    assert sample["id"] == 24001 and sample["caption"] == Captions(tree.caption_root).get(24001)[24001 % 10]


def test_the_maintainers_ranges_on_a_partial_tree(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tree = write_celeba_tree(tmp_path / "data", ids=(0, 23998, 23999, 24000))
    write_split_pickles(tree.mm_root, ["23998", "24000"], ["0"])  # neither the ranges nor swapped: no matter here
    cfg = _real_config(tree, tmp_path, "data.split_source=ranges", "data.val_size=2", "data.test_size=6000")
    with caplog.at_level(logging.WARNING, logger=CHECKS_LOGGER):
        data = build_datamodule(cfg)
    assert data.data_split["source"] == "ranges"
    assert (data.data_split["val"], data.data_split["test"]["count"]) == ({"count": 2, "min": 23998, "max": 23999}, 1)
    assert "skipping 5999 of 6000 celebamask_hq faces" in caplog.text  # the test faces this tree lacks
    with pytest.raises(SplitMismatchError, match="data.split_source=pickles"):
        build_datamodule(_real_config(tree, tmp_path))


# ---------------------------------------------------------------------------------------------------- file checks


def _break_files(tree: CelebaTree) -> dict[int, str]:
    """Break one file of four faces; what the check must say about each."""
    tree.image_path(2).unlink()
    for part in BOXES:
        tree.part_path(2000, part).unlink(missing_ok=True)
    tree.caption_path(4001).unlink()
    tree.caption_path(1).write_text("\n \ufffd\n\n")
    return {
        1: f"1: caption file {tree.caption_path(1)} holds no caption",
        2: f"2: no image {tree.image_path(2)}",
        2000: f"2000: no part PNG {tree.anno_root / '1' / '02000_<part>.png'}",
        4001: f"4001: no caption file {tree.caption_path(4001)}",
    }


def test_missing_and_empty_files_are_skipped_at_build(tree: CelebaTree, caplog: pytest.LogCaptureFixture) -> None:
    expected = _break_files(tree)
    with caplog.at_level(logging.WARNING, logger=CHECKS_LOGGER):
        dataset = _dataset(tree)
    assert dataset.ids == [0]
    records = [r.getMessage() for r in caplog.records if r.name == CHECKS_LOGGER]
    assert len(records) == 1 and "skipping 4 of 5 celebamask_hq faces" in records[0]
    assert all(line in records[0] for line in expected.values())
    assert dataset[0]["id"] == 0


def test_missing_files_raise_naming_every_face(tree: CelebaTree) -> None:
    expected = _break_files(tree)
    with pytest.raises(MissingFilesError) as err:
        _dataset(tree, on_missing="error")
    assert "4 of 5 celebamask_hq faces" in str(err.value)
    assert all(line in str(err.value) for line in expected.values())
    with pytest.raises(ValueError, match="on_missing"):
        _dataset(tree, on_missing="ignore")


def test_error_names_all_faces_and_skip_the_first_few(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tree = write_celeba_tree(tmp_path, ids=range(12), image_size=16, part_size=16)
    for idx in range(1, 12):
        tree.caption_path(idx).unlink()
    with pytest.raises(MissingFilesError) as err:
        _dataset(tree, on_missing="error")
    assert all(f"no caption file {tree.caption_path(idx)}" in str(err.value) for idx in range(1, 12))
    with caplog.at_level(logging.WARNING, logger=CHECKS_LOGGER):
        assert _dataset(tree).ids == [0]
    named = [idx for idx in range(1, 12) if f"{idx}: no caption file" in caplog.text]
    assert "skipping 11 of 12" in caplog.text and named == [1, 2, 3, 4, 5] and caplog.text.count(", ...") == 1


def test_short_caption_files_are_one_warning(tree: CelebaTree, caplog: pytest.LogCaptureFixture) -> None:
    for idx in (0, 2000):
        tree.caption_path(idx).write_text("one\ntwo\n\nthree\n")
    with caplog.at_level(logging.WARNING, logger=CHECKS_LOGGER):
        assert _dataset(tree).ids == list(tree.ids)  # kept
    records = [r.getMessage() for r in caplog.records if r.name == CHECKS_LOGGER]
    assert records == [
        f"2 caption file(s) hold fewer than 10 captions: {tree.caption_path(0)} (3), {tree.caption_path(2000)} (3)"
    ]


def test_caption_verdicts_are_cached_and_changed_files_rechecked(
    tree: CelebaTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[Path] = []
    real = checks.caption_count
    monkeypatch.setattr(checks, "caption_count", lambda path: read.append(path) or real(path))
    cache = tmp_path / "cache"
    assert _dataset(tree, mask_cache=cache).ids == list(tree.ids) and len(read) == 5
    assert (cache / "caption_scan.json").is_file()
    read.clear()
    assert _dataset(tree, mask_cache=cache).ids == list(tree.ids) and read == []
    tree.caption_path(1).write_text("\n\n")
    assert _dataset(tree, mask_cache=cache).ids == [0, 2, 2000, 4001] and read == [tree.caption_path(1)]


def test_part_files_are_found_by_listing_where_merge_reads_them(tree: CelebaTree) -> None:
    assert faces_with_parts(tree.anno_root, [0, 1, 2]) == {0, 1, 2, 2000, 4001}
    (tree.anno_root / "5").mkdir()
    for part in BOXES:  # 2000's parts in the wrong folder: merge_parts would not see them
        tree.part_path(2000, part).rename(tree.anno_root / "5" / f"02000_{part}.png")
    (tree.anno_root / "1" / "02000_fringe.png").write_bytes(b"")  # not a part name
    (tree.anno_root / "1" / "2000_skin.png").write_bytes(b"")  # not zero-padded
    assert faces_with_parts(tree.anno_root, [0, 1, 2, 5]) == {0, 1, 2, 4001}
    with pytest.raises(FileNotFoundError):
        merge_parts(tree.anno_root, 2000)
