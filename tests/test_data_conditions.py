"""Sketches and keypoints from real data: the file readers (polarity, area averaging, keypoint rescaling by hand,
PNG point images drawn by render_keypoints, malformed files), the face folder's sketches/ and keypoints/,
MM-CelebA-HQ's sketch/ folder as published, the build-time checks, and `mdit cache-conditions` (Canny sketches
equal to scikit-image's, resumable, keypoints from a landmark model, a clear note without its weights)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from celeba_tree import CelebaTree, sketch_lines, truncate, write_celeba_tree, write_sketches
from PIL import Image
from skimage.color import rgb2gray
from skimage.feature import canny

from mdit.cli import main
from mdit.conditioning.spatial import render_keypoints
from mdit.data import derived_conditions
from mdit.data.celebamask_hq import CelebAMaskHQDataset
from mdit.data.checks import MissingConditionsError, MissingFilesError
from mdit.data.condition_files import SketchFileError, read_keypoints, read_sketch
from mdit.data.condition_sources import derived_conditions_dir
from mdit.data.derived_conditions import derive_keypoints, derived_file, faces_of
from mdit.data.folder import FolderDataset
from mdit.data.mm_celeba import Captions
from mdit.keypoints import NAMES, NUM_KEYPOINTS, KeypointError
from mdit.masks import write_mask

NOSE = NAMES.index("nose_tip")


def _save_grey(path: Path, grey: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grey.astype(np.uint8)).save(path)
    return path


def _json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def _rows(**named: tuple[float, float]) -> list[list[float]]:
    """20 rows [x, y, visible]: the named landmarks visible at their (x, y), the others (0, 0, 0)."""
    rows = [[0.0, 0.0, 0] for _ in NAMES]
    for name, (x, y) in named.items():
        rows[NAMES.index(name)] = [x, y, 1]
    return rows


# ---------------------------------------------------------------------------------------------------- sketch files


@pytest.mark.parametrize("dark_on_white", [True, False])
def test_a_sketch_reads_as_one_on_its_lines_either_polarity(tmp_path: Path, dark_on_white: bool) -> None:
    lines = sketch_lines(0, 16)
    grey = np.where(lines, 0, 255) if dark_on_white else np.where(lines, 255, 0)
    sketch = read_sketch(_save_grey(tmp_path / "s.png", grey), 16)
    assert sketch.dtype == np.float32 and sketch.shape == (16, 16)
    assert np.array_equal(sketch, lines.astype(np.float32))


def test_a_sketch_is_cropped_to_the_centre_and_area_averaged(tmp_path: Path) -> None:
    """6 wide, 4 high, to 2 x 2: the centred 4 x 4 (columns 1..4) in 2 x 2 blocks; block means by hand."""
    ink = np.zeros((4, 6))
    ink[0, 0] = 1  # column 0: cropped away
    ink[0, 1] = 1  # top-left block: 1 of 4 pixels
    ink[2:4, 3:5] = 1  # bottom-right block: 4 of 4
    ink[2, 2] = 0.5  # bottom-left block: half a pixel of 4
    sketch = read_sketch(_save_grey(tmp_path / "s.png", np.round(255 * (1 - ink))), (2, 2))
    assert sketch == pytest.approx(np.array([[0.25, 0.0], [0.5 / 4, 1.0]]), abs=1 / 255)


def test_a_transparent_sketch_is_paper_where_transparent(tmp_path: Path) -> None:
    lines = sketch_lines(1, 16)
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)  # transparent black everywhere ...
    rgba[lines] = (0, 0, 0, 255)  # ... but opaque black lines
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "s.png")
    assert np.array_equal(read_sketch(tmp_path / "s.png", 16), lines.astype(np.float32))


def test_bad_sketch_files_name_the_file(tmp_path: Path) -> None:
    path = _save_grey(tmp_path / "s.png", np.full((64, 64), 255))
    truncate(path)
    with pytest.raises(SketchFileError, match=r"cannot decode sketch .*s\.png"):
        read_sketch(path, 32)
    (tmp_path / "t.png").write_text("not an image")
    with pytest.raises(SketchFileError, match=r"t\.png"):
        read_sketch(tmp_path / "t.png", 32)
    with pytest.raises(FileNotFoundError, match=r"sketch file not found: .*absent\.png"):
        read_sketch(tmp_path / "absent.png", 32)


# ---------------------------------------------------------------------------------------------------- keypoint files


def test_keypoint_json_is_rescaled_to_pixel_centres(tmp_path: Path) -> None:
    """64 -> 32: x' = (x + 0.5) / 2 - 0.5, so (10, 20) -> (4.75, 9.75) and (63, 0) -> (31.25, -0.25)."""
    path = _json(tmp_path / "k.json", {"keypoints": _rows(nose_tip=(10, 20), chin=(63, 0)), "size": [64, 64]})
    points = read_keypoints(path, 32)
    assert points.dtype == np.float32 and points.shape == (NUM_KEYPOINTS, 3)
    assert points[NOSE].tolist() == [4.75, 9.75, 1.0]
    assert points[NAMES.index("chin")].tolist() == [31.25, -0.25, 1.0]
    assert (points[[k for k in range(NUM_KEYPOINTS) if k not in (NOSE, NAMES.index("chin"))]] == 0).all()


def test_keypoints_of_a_wide_frame_are_cropped_like_its_image(tmp_path: Path) -> None:
    """40 x 20 (width x height) to 10 x 10: the centred 20 x 20 starts at column 10, scale 1/2;
    (15, 5) -> ((15 - 10 + 0.5) / 2 - 0.5, (5 + 0.5) / 2 - 0.5) = (2.25, 2.25); (5, 5) is cropped away."""
    path = _json(tmp_path / "k.json", {"keypoints": _rows(nose_tip=(15, 5), chin=(5, 5)), "size": [40, 20]})
    points = read_keypoints(path, (10, 10))
    assert points[NOSE].tolist() == [2.25, 2.25, 1.0]
    assert points[NAMES.index("chin")].tolist() == [0.0, 0.0, 0.0]


def test_keypoints_by_name_leave_the_others_invisible(tmp_path: Path) -> None:
    """size [64, 32] (W, H) to H 16 x W 32: scale 1/2 on both axes."""
    path = _json(tmp_path / "k.json", {"size": [64, 32], "nose_tip": [10, 20], "l_ear": [60, 2, 0]})
    points = read_keypoints(path, (16, 32))
    assert points[NOSE].tolist() == [4.75, 9.75, 1.0]
    assert points[:, 2].sum() == 1  # l_ear given invisible, every other name absent


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot parse keypoint file"),
        (json.dumps({"keypoints": [[1, 2, 1]] * 19, "size": [8, 8]}), "must be 20 rows .* got 19"),
        (json.dumps({"size": [8, 8], "nose": [1, 2]}), r"unknown landmarks \['nose'\]; valid: r_eye_outer"),
        (json.dumps({"size": [8, 8], "nose_tip": [9, 2]}), r"visible keypoints outside the 8x8 image.*nose_tip"),
        (json.dumps({"keypoints": _rows(nose_tip=(1, 2))}), r'"size": \[W, H\]'),
        (json.dumps({"size": [8], "nose_tip": [1, 2]}), r'"size" must be \[width, height\]'),
        (json.dumps({"size": [8, 8], "nose_tip": [1, 2, 0.5]}), "visibility must be 0 or 1"),
        (json.dumps({"size": [8, 8], "nose_tip": ["a", 2]}), "must hold numbers"),
    ],
)
def test_malformed_keypoint_files_say_what_is_valid(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "k.json"
    path.write_text(content)
    with pytest.raises(KeypointError, match=message) as err:
        read_keypoints(path, 8)
    assert str(path) in str(err.value)


def _point_image(tmp_path: Path, keypoints: np.ndarray, size: int) -> Path:
    drawn = render_keypoints(torch.from_numpy(keypoints)[None], (size, size))[0]
    pixels = ((drawn.permute(1, 2, 0).numpy() + 1.0) * 127.5).round().astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "points.png")
    return tmp_path / "points.png"


def test_a_point_image_drawn_by_render_keypoints_reads_back(tmp_path: Path) -> None:
    """Discs of radius 2 at 256 px on a 12 px grid (none touch, none clipped); three landmarks left out."""
    keypoints = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
    for k in range(NUM_KEYPOINTS):
        keypoints[k] = (20 + 12 * (k % 5), 30 + 12 * (k // 5), 1.0)
    keypoints[[2, 11, 19]] = 0.0
    path = _point_image(tmp_path, keypoints, 256)
    assert np.array_equal(read_keypoints(path, 256), keypoints)
    halved = read_keypoints(path, 128)  # the centroids rescaled: x' = (x + 0.5) / 2 - 0.5
    visible = keypoints[:, 2] == 1
    assert np.allclose(halved[visible, :2], (keypoints[visible, :2] + 0.5) / 2 - 0.5)
    assert (halved[~visible] == 0).all()


def test_a_point_image_without_landmark_colours_or_as_jpeg_is_refused(tmp_path: Path) -> None:
    Image.new("RGB", (32, 32), (10, 20, 30)).save(tmp_path / "grey.png")
    with pytest.raises(KeypointError, match="none of the 20 landmark colours"):
        read_keypoints(tmp_path / "grey.png", 32)
    Image.new("RGB", (32, 32), (255, 0, 0)).save(tmp_path / "points.jpg")
    with pytest.raises(KeypointError, match="is a JPEG"):
        read_keypoints(tmp_path / "points.jpg", 32)
    with pytest.raises(FileNotFoundError, match="keypoint file not found"):
        read_keypoints(tmp_path / "absent.json", 32)


# ---------------------------------------------------------------------------------------------------- face folders


def _folder(root: Path) -> Path:
    """Two faces: a (48 x 48) and b (80 x 64, width x height), each with a mask and captions."""
    for name, (width, height) in {"a": (48, 48), "b": (80, 64)}.items():
        for sub in ("images", "masks", "captions"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (width, height), (120, 80, 60)).save(root / "images" / f"{name}.png")
        write_mask(root / "masks" / f"{name}.png", np.ones((height, width), dtype=np.int64))
        (root / "captions" / f"{name}.txt").write_text(f"{name} one\n{name} two\n")
    return root


def test_a_folder_serves_its_sketches_and_keypoints_cropped_like_its_images(tmp_path: Path) -> None:
    root = _folder(tmp_path / "faces")
    ink = np.zeros((64, 80), dtype=bool)
    ink[:, 28:30] = True  # b's crop starts at column 8: columns 20..21 of the square, column 10 at half size
    _save_grey(root / "sketches" / "b.jpg", np.where(ink, 0, 255))
    _save_grey(root / "sketches" / "a.png", np.full((48, 48), 255))  # blank paper
    _json(root / "keypoints" / "b.json", {"keypoints": _rows(nose_tip=(18, 20), chin=(4, 10)), "size": [80, 64]})
    _json(root / "keypoints" / "a.json", {"size": [96, 96], "nose_tip": [47, 47]})  # at twice a's size
    dataset = FolderDataset(root, resolution=32, conditions=["mask", "sketch", "keypoints"])
    a, b = dataset.load_conditions(0), dataset.load_conditions(1)
    expected = np.zeros((32, 32), dtype=np.float32)
    expected[:, 10] = 1.0
    assert b["sketch"] == pytest.approx(expected, abs=0.05)  # a JPEG: within its ringing
    assert (a["sketch"] == 0).all() and a["sketch"].shape == (32, 32)
    # b: (18 - 8 + 0.5) * 32 / 64 - 0.5 = 4.75, (20 + 0.5) / 2 - 0.5 = 9.75; its chin lies left of the crop
    assert b["keypoints"][NOSE].tolist() == [4.75, 9.75, 1.0] and b["keypoints"][NAMES.index("chin"), 2] == 0
    # a: 96 -> 48 (23.25), then 48 -> 32: (23.25 + 0.5) * 2 / 3 - 0.5 = 15.333...
    assert a["keypoints"][NOSE] == pytest.approx([47.5 / 3 - 0.5, 47.5 / 3 - 0.5, 1.0])


def test_samples_carry_the_conditions_and_a_flip_mirrors_them(tmp_path: Path) -> None:
    """b of the folder above, mirrored: the line at column 10 goes to 31 - 10 = 21, the nose tip to x = 31 - 4.75."""
    root = _folder(tmp_path / "faces")
    ink = np.zeros((64, 80), dtype=bool)
    ink[:, 28:30] = True
    for name, size in (("a", (48, 48)), ("b", (64, 80))):
        _save_grey(root / "sketches" / f"{name}.png", np.where(ink if name == "b" else np.zeros(size, bool), 0, 255))
    _json(root / "keypoints" / "a.json", {"size": [48, 48], "nose_tip": [20, 20]})
    _json(root / "keypoints" / "b.json", {"size": [80, 64], "nose_tip": [18, 20]})
    plain = FolderDataset(root, resolution=32, conditions=["mask", "sketch", "keypoints"])[1]
    mirrored = FolderDataset(root, resolution=32, flip_p=1.0, conditions=["mask", "sketch", "keypoints"])[1]
    assert plain["sketch"].dtype == torch.float32 and torch.nonzero(plain["sketch"][0]).flatten().tolist() == [10]
    assert torch.nonzero(mirrored["sketch"][0]).flatten().tolist() == [21]
    assert plain["keypoints"][NOSE].tolist() == [4.75, 9.75, 1.0]
    assert mirrored["keypoints"][NOSE].tolist() == [31 - 4.75, 9.75, 1.0]  # nose_tip is its own mirror


def test_a_missing_sketch_folder_stops_the_build_naming_it_and_the_command(tmp_path: Path) -> None:
    root = _folder(tmp_path / "faces")
    derived = derived_conditions_dir(tmp_path / "cache", 32)
    with pytest.raises(MissingConditionsError) as err:
        FolderDataset(root, resolution=32, conditions=["mask", "sketch"], derived_dir=derived)
    message = str(err.value)
    assert "model.conditions needs sketch" in message and str(root / "sketches") in message
    assert str(derived / "sketch") in message and "mdit cache-conditions -c" in message
    FolderDataset(root, resolution=32, conditions=["mask"], derived_dir=derived)  # not needed: builds


def test_a_face_without_its_sketch_follows_on_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _folder(tmp_path / "faces")
    _save_grey(root / "sketches" / "a.png", np.full((48, 48), 255))
    with pytest.raises(MissingFilesError, match=r"no sketch file .*sketches/b\{\.png,\.jpg,\.jpeg\}"):
        FolderDataset(root, resolution=32, conditions=["mask", "sketch"], on_missing="error")
    kept = FolderDataset(root, resolution=32, conditions=["mask", "sketch"])
    assert [kept.face_key(kept.sample_id(i)) for i in range(len(kept))] == ["a"]
    with caplog.at_level(logging.INFO, logger="mdit.data.face_conditions"):
        plain = FolderDataset(root, resolution=32)  # not needed, and not every face has one: not served
    assert len(plain) == 2 and plain.load_conditions(0) == {} and "not serving sketch" in caplog.text


# ---------------------------------------------------------------------------------------------------- MM-CelebA-HQ


@pytest.fixture
def tree(tmp_path: Path) -> CelebaTree:
    """Ids 0, 1, 2 train (2 the validation face), 24000 test, as the split pickles say; 32 px parts and images, each
    image a dark disc on a light ground (its place depends on the id), so that Canny finds edges."""
    tree = write_celeba_tree(tmp_path / "data", ids=(0, 1, 2, 24000), image_size=32, part_size=32)
    rows, cols = np.mgrid[0:32, 0:32]
    for idx in tree.ids:
        disc = (rows - 14 - idx % 3) ** 2 + (cols - 16) ** 2 <= 64
        Image.fromarray(np.where(disc[..., None], (40, 30, 20), (220, 200, 180)).astype(np.uint8)).save(
            tree.image_path(idx), quality=95
        )
    return tree


def _celeba(tree: CelebaTree, **kwargs) -> CelebAMaskHQDataset:
    return CelebAMaskHQDataset(tree.root, tree.ids, 32, Captions(tree.caption_root), **kwargs)


@pytest.mark.parametrize("suffix", [".png", ".jpg", "_edges.jpg"])
def test_mm_celeba_sketches_are_read_as_published(tree: CelebaTree, suffix: str) -> None:
    """sketch/<id>.png (the release's listing), <id>.jpg (TediGAN's reader), <id>_edges.jpg (create_sketch.py),
    dark lines on white at 64 px for 32 px faces: whole 2 x 2 blocks, so the area average is exact (JPEG: close)."""
    write_sketches(tree, 64, suffix=suffix)
    dataset = _celeba(tree, conditions=["mask", "sketch"])
    for index, idx in enumerate(tree.ids):
        sketch = dataset.load_conditions(index)["sketch"]
        expected = sketch_lines(idx, 64).reshape(32, 2, 32, 2).mean(axis=(1, 3))
        assert sketch == pytest.approx(expected, abs=0.0 if suffix == ".png" else 0.08)


def test_no_sketch_folder_for_a_sketch_model_names_both_places_and_the_command(tree: CelebaTree, tmp_path) -> None:
    derived = derived_conditions_dir(tmp_path / "cache", 32)
    with pytest.raises(MissingConditionsError) as err:
        _celeba(tree, conditions=["mask", "sketch"], derived_dir=derived)
    message = str(err.value)
    assert str(tree.mm_root / "sketch") in message and str(derived / "sketch") in message
    assert "mdit cache-conditions -c" in message
    with pytest.raises(MissingConditionsError, match=r"keypoints.*judges\.landmarks=.*alignment_WFLW_4HG\.pth"):
        _celeba(tree, conditions=["mask", "keypoints"], derived_dir=derived)


# ---------------------------------------------------------------------------------------------------- cache-conditions


def _overrides(tree: CelebaTree, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "data.name=celebamask_hq",
        f"data.root={tree.root}",
        f"data.captions={tree.mm_root}",
        "data.val_size=1",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.resolution=32",
        "eval.device=cpu",
        *extra,
    ]


def _canny_reference(tree: CelebaTree, idx: int) -> np.ndarray:
    """scikit-image's Canny on the luminance of the 32 px image file itself (no resize at 32 px), sigma 1."""
    rgb = np.asarray(Image.open(tree.image_path(idx)).convert("RGB"), dtype=np.float64) / 255.0
    return canny(rgb2gray(rgb), sigma=1.0)


def _stored_lines(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)) == 0


def test_cache_conditions_derives_canny_sketches_and_says_which_weights_it_needs(tree, tmp_path, capsys) -> None:
    assert main(["cache-conditions", *_overrides(tree, tmp_path)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    folder = derived_conditions_dir(tmp_path / "cache", 32)
    assert report["faces"] == 4  # every split's
    assert report["sketch"] == {"source": "derived", "folder": str(folder / "sketch"), "written": 4}
    assert report["keypoints"]["source"] == "none"
    assert "alignment_WFLW_4HG.pth" in err and "judges.landmarks=" in err and "--landmarks" in err
    for idx in tree.ids:
        reference = _canny_reference(tree, idx)
        assert reference.any() and np.array_equal(_stored_lines(folder / "sketch" / f"{idx}.png"), reference)
    # the derived sketches now serve a sketch model, read as 1 = line
    dataset = _celeba(tree, conditions=["mask", "sketch"], derived_dir=folder)
    assert np.array_equal(dataset.load_conditions(1)["sketch"], _canny_reference(tree, 1).astype(np.float32))
    # a model that needs keypoints is told they are still missing
    assert main(["cache-conditions", *_overrides(tree, tmp_path, "model.conditions=[mask,keypoints]")]) == 1
    assert "needs keypoints, still missing" in capsys.readouterr().err


def test_cache_conditions_resumes_after_a_kill(tree, tmp_path, monkeypatch, capsys) -> None:
    calls = []

    def dies_on_the_second(image: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed mid-way
        return canny(rgb2gray(image.astype(np.float64) / 255.0), sigma=1.0)

    monkeypatch.setattr(derived_conditions, "edge_map", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        main(["cache-conditions", *_overrides(tree, tmp_path)])
    folder = derived_conditions_dir(tmp_path / "cache", 32) / "sketch"
    assert sorted(p.name for p in folder.iterdir()) == ["0.png"]  # one whole file, no half-written one
    first = (folder / "0.png").stat().st_mtime_ns
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["cache-conditions", *_overrides(tree, tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["sketch"]["written"] == 3  # only the faces the kill left
    assert (folder / "0.png").stat().st_mtime_ns == first
    for idx in tree.ids:
        assert np.array_equal(_stored_lines(folder / f"{idx}.png"), _canny_reference(tree, idx))


def test_published_sketches_are_not_derived(tree, tmp_path, capsys) -> None:
    write_sketches(tree, 32)
    assert main(["cache-conditions", "--kinds", "sketch", *_overrides(tree, tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sketch"] == {"source": "published", "folder": str(tree.mm_root / "sketch")}
    assert not (derived_conditions_dir(tmp_path / "cache", 32) / "sketch").exists()


def test_landmark_weights_that_are_not_there_stop_before_any_work(tree, tmp_path, capsys) -> None:
    missing = tmp_path / "weights" / "alignment_WFLW_4HG.pth"
    assert main(["cache-conditions", "--landmarks", str(missing), *_overrides(tree, tmp_path)]) == 2
    assert str(missing) in capsys.readouterr().err
    assert not derived_conditions_dir(tmp_path / "cache", 32).exists()


def test_derived_keypoints_are_the_landmark_models_and_serve_a_keypoint_model(tree, tmp_path) -> None:
    """A stand-in model that puts the nose tip of the n-th face it sees at (n + 3, 7) and sees nothing else."""
    dataset = _celeba(tree)
    folder = derived_conditions_dir(tmp_path / "cache", 32)
    seen: list[torch.Tensor] = []

    def landmarks(images: torch.Tensor) -> torch.Tensor:
        points = torch.zeros(images.shape[0], NUM_KEYPOINTS, 3)
        for b in range(images.shape[0]):
            points[b, NOSE] = torch.tensor([len(seen) + 3.0, 7.0, 1.0])
            seen.append(images[b])
        return points

    assert derive_keypoints(faces_of([dataset]), folder, landmarks, batch_size=3) == 4
    assert len(seen) == 4 and seen[0].shape == (3, 32, 32)
    assert torch.equal(seen[0], torch.from_numpy(dataset.load(0)[0]).permute(2, 0, 1).float() / 127.5 - 1)
    stored = json.loads(derived_file(folder, "keypoints", "2").read_text())
    assert stored["size"] == [32, 32] and stored["keypoints"][NOSE] == [5.0, 7.0, 1]
    served = _celeba(tree, conditions=["mask", "keypoints"], derived_dir=folder)
    assert served.load_conditions(2)["keypoints"][NOSE].tolist() == [5.0, 7.0, 1.0]


def test_synthfaces_has_nothing_to_derive(capsys) -> None:
    assert main(["cache-conditions", "data.resolution=32"]) == 0
    assert "nothing to derive" in capsys.readouterr().out


def test_corrupt_derived_or_published_files_name_the_file(tree: CelebaTree) -> None:
    write_sketches(tree, 32)
    truncate(tree.sketch_path(1))
    dataset = _celeba(tree, conditions=["mask", "sketch"])
    with pytest.raises(SketchFileError, match=r"sketch/1\.png"):
        dataset.load_conditions(1)


def test_cache_conditions_runs_facexlibs_landmark_model_from_a_local_file(tree, tmp_path, capsys) -> None:
    """facexlib's FAN with freshly initialised weights, saved as its release file is: every face gets 20 rows, the
    ears invisible (no WFLW point), every visible point on its 32 px image. One training face (0), so three faces
    (0, val 2, test 24000): the network takes about 2 s a face on a CPU."""
    from facexlib.alignment.awing_arch import FAN

    torch.manual_seed(0)
    weights = tmp_path / "weights" / "alignment_WFLW_4HG.pth"
    weights.parent.mkdir()
    torch.save({"state_dict": FAN(num_modules=4, num_landmarks=98, device="cpu").state_dict()}, weights)
    assert (
        main(
            [
                "cache-conditions",
                "--kinds",
                "keypoints",
                *_overrides(tree, tmp_path, f"judges.landmarks={weights}", "data.train_size=1"),
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["keypoints"]["written"] == 3 and "sketch" not in report
    folder = derived_conditions_dir(tmp_path / "cache", 32)
    for idx in (0, 2, 24000):
        points = read_keypoints(derived_file(folder, "keypoints", str(idx)), 32)
        assert points[[NAMES.index("r_ear"), NAMES.index("l_ear")], 2].tolist() == [0.0, 0.0]
        visible = points[points[:, 2] == 1]
        assert len(visible) > 0 and ((visible[:, :2] >= -0.5) & (visible[:, :2] <= 31.5)).all()


def test_registry_build_checks_and_serves(tree, tmp_path):
    from mdit.config import load_config
    from mdit.data.registry import build_splits

    over = _overrides(tree, tmp_path, "model.conditions=[mask,sketch]")
    with pytest.raises(MissingConditionsError, match="mdit cache-conditions"):
        build_splits(load_config(None, over))
    assert main(["cache-conditions", *over]) == 0
    train, _, _ = build_splits(load_config(None, over))
    assert np.array_equal(train.load_conditions(0)["sketch"], _canny_reference(tree, 0).astype(np.float32))
