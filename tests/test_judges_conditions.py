"""The judges of the sketch and keypoint conditions: edge F1 / chamfer and NME worked out by hand on constructed
inputs, the embedded landmark regressor's training and cache, and facexlib's WFLW points mapped to our landmarks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from train_helpers import ROOT, TINY_JUDGES, tiny_config

from mdit.conditioning.edges import edge_map
from mdit.config import load_config
from mdit.judges.facexlib_landmarks import (
    AWING_WEIGHTS_FILE,
    WFLW_POINTS,
    heatmap_peaks,
    load_facexlib_landmarks,
    wflw_to_keypoints,
)
from mdit.judges.landmark_training import (
    LANDMARKS_CARD,
    LANDMARKS_FILE,
    ensure_landmark_judge,
    load_landmark_judge,
    train_landmark_judge,
)
from mdit.judges.landmarks import LandmarkRegressor, levels_for, soft_argmax
from mdit.judges.training import judges_dir
from mdit.judges.weights import MissingWeightsError
from mdit.keypoints import EYE_CENTRES, NAMES, NUM_KEYPOINTS, flip_keypoints
from mdit.metrics.keypoint_error import KeypointNME, normalised_mean_error
from mdit.metrics.sketch_fidelity import SketchFidelity, edge_agreement, sketch_tolerance
from mdit.paths import landmarks_dir

TINY_LANDMARKS = ["judges.landmark_width=8", "judges.landmark_steps=3"]


def _as_image(pixels: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> one image [1, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1


def _step_image() -> np.ndarray:
    """Black above, white below, one grey row between: Canny finds one straight edge on row 15 (columns 1..30)."""
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[15], pixels[16:] = 128, 255
    return pixels


# --- sketch fidelity ---------------------------------------------------------------------------------------------


def test_an_image_scored_against_its_own_edges_is_perfect():
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[8:24, 6:20] = (200, 60, 30)
    pixels[20:28, 14:30] = (20, 220, 90)
    sketch = torch.from_numpy(edge_map(pixels)).float()[None]
    metric = SketchFidelity()
    metric.update(_as_image(pixels), sketch)
    assert metric.per_sample()["edge_f1"].tolist() == [100.0]
    assert metric.per_sample()["chamfer"].tolist() == [0.0]


def test_a_line_two_pixels_off_by_hand():
    edges, line = np.zeros((32, 32), bool), np.zeros((32, 32), bool)
    line[10], edges[12] = True, True  # every pixel is 2 px from the other row
    assert edge_agreement(edges, line, tolerance=1) == (0.0, 2.0)
    assert edge_agreement(edges, line, tolerance=2) == (100.0, 2.0)


def test_half_a_line_by_hand():
    edges, line = np.zeros((32, 32), bool), np.zeros((32, 32), bool)
    line[10, :20], edges[10, :10] = True, True
    # precision 10/10; recall: line columns 0..10 are within 1 px of an edge, 11/20. F1 = 2 * 0.55 / 1.55.
    # chamfer: edges -> line 0; line -> edges: columns 10..19 lie 1..10 px away, mean 55 / 20 = 2.75; half of it.
    f1, chamfer = edge_agreement(edges, line, tolerance=1)
    assert f1 == pytest.approx(100 * 2 * 0.55 / 1.55) and chamfer == pytest.approx(1.375)


def test_degenerate_maps_are_defined():
    empty, some = np.zeros((32, 48), bool), np.zeros((32, 48), bool)
    some[5, 5] = True
    assert edge_agreement(empty, empty, 1) == (100.0, 0.0)  # nothing drawn, nothing found
    assert edge_agreement(empty, some, 1) == (0.0, math.hypot(32, 48))  # a blank image: the largest distance
    assert edge_agreement(some, empty, 1) == (0.0, math.hypot(32, 48))
    with pytest.raises(ValueError, match="one size"):
        edge_agreement(empty, np.zeros((32, 32), bool), 1)


def test_the_metric_on_a_shifted_sketch_and_over_batches():
    image = _as_image(_step_image())
    assert np.flatnonzero(edge_map(_step_image()).any(1)).tolist() == [15]  # the construction's premise
    shifted = torch.from_numpy(np.roll(edge_map(_step_image()), 2, axis=0)).float()[None]  # the line on row 17
    strict, loose = SketchFidelity(tolerance=1), SketchFidelity(tolerance=2)
    for metric in (strict, loose):
        metric.update(image, shifted)
        metric.update(image, 0.7 * torch.from_numpy(edge_map(_step_image())).float()[None])  # ink >= 0.5 is a line
    assert strict.per_sample()["edge_f1"].tolist() == [0.0, 100.0]
    assert loose.per_sample()["edge_f1"].tolist() == [100.0, 100.0]
    assert strict.per_sample()["chamfer"].tolist() == [2.0, 0.0]
    assert strict.compute() == {"edge_f1": 50.0, "chamfer": 1.0}
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        strict.update(image, 2 * shifted)
    with pytest.raises(ValueError, match=r"\[B, H, W\]"):
        strict.update(image, shifted[:, :16])


def test_tolerance_scales_with_the_resolution():
    assert [sketch_tolerance(size) for size in (32, 64, 128, 256, 512, 1024)] == [1, 1, 1, 2, 4, 8]


# --- keypoint error ----------------------------------------------------------------------------------------------


def _target(batch: int = 1) -> torch.Tensor:
    """Every landmark visible on a grid; the eye centres 10 px apart (x 10 and 20 on row 16)."""
    points = torch.zeros(batch, NUM_KEYPOINTS, 3)
    points[..., 0] = torch.arange(NUM_KEYPOINTS, dtype=torch.float32) % 5 * 6 + 2
    points[..., 1] = torch.arange(NUM_KEYPOINTS, dtype=torch.float32) // 5 * 6 + 2
    points[..., 2] = 1
    points[:, EYE_CENTRES[0], :2] = torch.tensor([10.0, 16.0])
    points[:, EYE_CENTRES[1], :2] = torch.tensor([20.0, 16.0])
    return points


def test_a_known_offset_gives_offset_over_the_inter_ocular_distance():
    target = _target()
    predicted = target.clone()
    predicted[..., :2] += torch.tensor([3.0, 4.0])  # 5 px off, every landmark
    assert normalised_mean_error(predicted, target).tolist() == pytest.approx([100 * 5 / 10])
    # one landmark 10 px further off: the mean over the 20 visible ones rises by 10 / 20 px
    predicted[0, 7, 0] += 10 * 3 / 5
    predicted[0, 7, 1] += 10 * 4 / 5
    assert normalised_mean_error(predicted, target).tolist() == pytest.approx([100 * (5 + 10 / 20) / 10])


def test_invisible_landmarks_are_ignored_and_eyeless_targets_skipped():
    target = _target(3)
    predicted = target.clone()
    predicted[..., 0] += 2.0  # 2 px off everywhere ...
    target[0, 12, 2] = 0
    predicted[0, 12, :2] = 1000.0  # ... except an invisible landmark, far off: ignored
    target[1, EYE_CENTRES[1], 2] = 0  # no left eye centre: no inter-ocular distance, skipped
    metric = KeypointNME(lambda images: predicted[: len(images)])
    metric.update(torch.zeros(3, 3, 32, 32), target)
    nme = metric.per_sample()["nme"]
    assert nme[0].item() == pytest.approx(20.0) and math.isnan(nme[1]) and nme[2].item() == pytest.approx(20.0)
    assert metric.skipped() == 1 and metric.compute().item() == pytest.approx(20.0)
    all_skipped = KeypointNME(lambda images: predicted[1:2])
    all_skipped.update(torch.zeros(1, 3, 32, 32), target[1:2])
    assert math.isnan(all_skipped.compute()) and all_skipped.skipped() == 1  # n/a, never 0


# --- the embedded landmark regressor -----------------------------------------------------------------------------


def test_soft_argmax_finds_a_peak_between_pixels():
    logits = torch.full((1, 2, 8, 12), -1e4)
    logits[0, 0, 3, 7] = 0.0  # one peak: its pixel
    logits[0, 1, 5, 2] = logits[0, 1, 5, 3] = 0.0  # two equal peaks: half-way
    assert soft_argmax(logits)[0].tolist() == [[7.0, 3.0], [2.5, 5.0]]


def test_regressor_shapes_levels_and_side_check():
    regressor = LandmarkRegressor(8, levels_for(32))
    logits, visibility = regressor(torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, NUM_KEYPOINTS, 16, 16) and visibility.shape == (2, NUM_KEYPOINTS)
    points = regressor.locate(torch.zeros(2, 3, 32, 32))
    assert points.shape == (2, NUM_KEYPOINTS, 3) and set(points[..., 2].unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="divisible by 4"):
        regressor(torch.zeros(1, 3, 30, 30))
    assert [levels_for(size) for size in (32, 64, 128, 512)] == [1, 2, 3, 5]  # down to 8 x 8 at any size
    assert LandmarkRegressor(8, 3)(torch.zeros(1, 3, 128, 128))[0].shape == (1, NUM_KEYPOINTS, 64, 64)
    with pytest.raises(ValueError, match="power-of-two"):
        levels_for(48)


def test_half_resolution_cells_map_to_their_two_pixels():
    logits = torch.full((1, NUM_KEYPOINTS, 16, 16), -1e4)
    logits[0, :, 3, 7] = 0.0  # cell (row 3, column 7) covers pixels 6..7 x 14..15: its centre is (14.5, 6.5)
    assert LandmarkRegressor(8).positions(logits)[0, 0].tolist() == [14.5, 6.5]


def test_tiny_training_card_and_cache(tmp_path):
    cfg = tiny_config(tmp_path, *TINY_JUDGES, *TINY_LANDMARKS)
    regressor, scores = train_landmark_judge(cfg)
    assert scores["heldout_size"] == 4 and math.isfinite(scores["heldout_nme"]) and scores["heldout_nme"] > 0
    folder = ensure_landmark_judge(cfg)
    assert folder == landmarks_dir(cfg) and (folder / LANDMARKS_FILE).is_file()
    loaded, card = load_landmark_judge(folder)
    assert (card["width"], card["levels"], card["heldout_size"]) == (8, 1, 4) and math.isfinite(card["heldout_nme"])
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    assert loaded.locate(images).shape == (2, NUM_KEYPOINTS, 3)
    before = (folder / LANDMARKS_FILE).stat().st_mtime_ns
    ensure_landmark_judge(cfg)  # cached: not retrained
    assert (folder / LANDMARKS_FILE).stat().st_mtime_ns == before
    (folder / LANDMARKS_CARD).unlink()  # a build killed before its card: rebuilt, not trusted
    ensure_landmark_judge(cfg)
    assert (folder / LANDMARKS_CARD).is_file() and (folder / LANDMARKS_FILE).stat().st_mtime_ns != before
    with pytest.raises(FileNotFoundError, match="landmarks.safetensors.*mdit judges train"):
        load_landmark_judge(tmp_path / "nowhere")


def test_its_folder_is_its_own(tmp_path):
    base = tiny_config(tmp_path)
    assert landmarks_dir(base) != judges_dir(base)
    assert judges_dir(tiny_config(tmp_path, "judges.landmark_steps=7")) == judges_dir(base)  # the parser's: kept
    assert landmarks_dir(tiny_config(tmp_path, "judges.landmark_steps=7")) != landmarks_dir(base)
    assert landmarks_dir(tiny_config(tmp_path, "judges.landmark_width=9")) != landmarks_dir(base)
    assert landmarks_dir(tiny_config(tmp_path, "judges.seed=1")) != landmarks_dir(base)
    assert landmarks_dir(tiny_config(tmp_path, "data.train_size=17")) != landmarks_dir(base)
    assert landmarks_dir(tiny_config(tmp_path, "seed=3", "judges.landmarks=/x")) == landmarks_dir(base)
    # The default config's folder, pinned: a change of the key makes every user train the judge again.
    assert landmarks_dir(load_config(ROOT / "experiments" / "synthfaces.yaml")).name == "landmarks-32px-eea40c3926"


# --- facexlib's WFLW points --------------------------------------------------------------------------------------

# WFLW's mirror pairs (points 0..97), as the WFLW annotation defines them: a mirrored face's point i is point SWAP[i].
WFLW_SWAP = {i: 32 - i for i in range(33)}
WFLW_SWAP |= dict(zip(range(33, 38), range(46, 41, -1))) | dict(zip(range(38, 42), range(50, 46, -1)))
WFLW_SWAP |= {51: 51, 52: 52, 53: 53, 54: 54, 55: 59, 56: 58, 57: 57}
WFLW_SWAP |= dict(zip(range(60, 65), range(72, 67, -1))) | {65: 75, 66: 74, 67: 73}
WFLW_SWAP |= {76: 82, 77: 81, 78: 80, 79: 79, 83: 87, 84: 86, 85: 85, 88: 92, 89: 91, 90: 90, 93: 95, 94: 94, 96: 97}
WFLW_SWAP |= {b: a for a, b in list(WFLW_SWAP.items())}


def _hand_made_points() -> np.ndarray:
    """WFLW point i at (i, 200 + i): every point tells which it is."""
    index = np.arange(WFLW_POINTS, dtype=np.float64)
    return np.stack([index, 200 + index], axis=1)


def test_wflw_mapping_on_a_hand_made_array():
    keypoints = wflw_to_keypoints(_hand_made_points())
    assert keypoints.shape == (NUM_KEYPOINTS, 3) and keypoints.dtype == np.float32
    by_name = dict(zip(NAMES, keypoints.tolist()))
    expected = {
        "r_eye_outer": 60,
        "r_eye_centre": 96,  # the image-left pupil
        "r_eye_inner": 64,
        "l_eye_inner": 68,
        "l_eye_centre": 97,
        "l_eye_outer": 72,
        "r_brow_outer": 33,
        "r_brow_inner": (37 + 38) / 2,  # the upper and lower contour's inner ends
        "l_brow_inner": (42 + 50) / 2,
        "l_brow_outer": 46,
        "nose_tip": 54,
        "mouth_r": 76,
        "upper_lip": (79 + 90) / 2,  # the top of the upper lip and of the mouth's opening: the lip's middle
        "mouth_l": 82,
        "lower_lip": (85 + 94) / 2,
        "chin": 16,
    }
    for name, index in expected.items():
        assert by_name[name] == [index, 200 + index, 1.0], name
    assert by_name["r_ear"][2] == by_name["l_ear"][2] == 0.0  # WFLW has no ear points
    assert wflw_to_keypoints(np.stack([_hand_made_points()] * 3)).shape == (3, NUM_KEYPOINTS, 3)
    with pytest.raises(ValueError, match="98, 2"):
        wflw_to_keypoints(np.zeros((68, 2)))


def _face_outline() -> np.ndarray:
    """WFLW points with a V-shaped jaw line: point i (0..15) at (10 + i, 10 + 2i), its mirror 32 - i at (90 - i, same
    height), the chin (16) at (50, 42); the mouth corners (76, 82) at (30, 31) and (50, 31); the rest at (50, 20)."""
    points = np.tile([50.0, 20.0], (WFLW_POINTS, 1))
    for i in range(16):
        points[i], points[32 - i] = (10 + i, 10 + 2 * i), (90 - i, 10 + 2 * i)
    points[16], points[76], points[82] = (50, 42), (30, 31), (50, 31)
    return points


def test_jaw_points_are_the_outline_at_the_mouths_height():
    # y = 31 lies between contour points 10 (y 30) and 11 (y 32): half-way, x 20.5; on the right 79.5
    keypoints = wflw_to_keypoints(_face_outline())
    assert keypoints[NAMES.index("jaw_r")].tolist() == [20.5, 31.0, 1.0]
    assert keypoints[NAMES.index("jaw_l")].tolist() == [79.5, 31.0, 1.0]
    # a tilted head: the points rotated about (50, 50) by 20 degrees, the jaw points with them
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = wflw_to_keypoints((_face_outline() - 50) @ rotation.T + 50)
    for name, point in (("jaw_r", (20.5, 31.0)), ("jaw_l", (79.5, 31.0))):
        np.testing.assert_allclose(tilted[NAMES.index(name), :2], (np.array(point) - 50) @ rotation.T + 50, atol=1e-4)
    # a mouth below the whole jaw line: the outline's point nearest its height, the chin end (16)
    low = _face_outline()
    low[76, 1] = low[82, 1] = 60.0
    assert wflw_to_keypoints(low)[NAMES.index("jaw_r")].tolist() == [50.0, 42.0, 1.0]


def test_wflw_mapping_mirrors_with_the_face():
    """Mirroring a face's WFLW points (x -> W - 1 - x, WFLW's own pairs swapped) and mapping them gives our mirrored
    keypoints: the table's left and right agree with mdit.keypoints' (the subject's right on the image's left)."""
    assert sorted(WFLW_SWAP) == list(range(WFLW_POINTS))
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 63, (WFLW_POINTS, 2))
    mirrored = points[[WFLW_SWAP[i] for i in range(WFLW_POINTS)]].copy()
    mirrored[:, 0] = 64 - 1 - mirrored[:, 0]
    ours, theirs = flip_keypoints(wflw_to_keypoints(points), 64), wflw_to_keypoints(mirrored)
    np.testing.assert_array_equal(theirs[:, 2], ours[:, 2])
    shown = theirs[:, 2] == 1  # the ears are (0, 0) and invisible in both: their mirrored x means nothing
    np.testing.assert_allclose(theirs[shown, :2], ours[shown, :2], atol=1e-4)


def test_points_outside_the_image_are_invisible():
    points = _hand_made_points() * 0 + 10.0
    points[96] = (40.0, 10.0)  # the image-left pupil beyond a 32 px image's right edge
    keypoints = wflw_to_keypoints(points, (32, 32))
    assert keypoints[NAMES.index("r_eye_centre"), 2] == 0.0 and keypoints[NAMES.index("l_eye_centre"), 2] == 1.0


def test_heatmap_peaks_as_facexlib_decodes_them(monkeypatch):
    from facexlib.alignment import awing_arch

    monkeypatch.setattr(np, "float", float, raising=False)  # facexlib's calculate_points predates NumPy 1.24
    generator = torch.Generator().manual_seed(0)
    heatmaps = torch.rand(2, 98, 64, 64, generator=generator)
    rows, cols = torch.randint(2, 62, (2, 98), generator=generator), torch.randint(2, 62, (2, 98), generator=generator)
    for b in range(2):
        for n in range(98):
            heatmaps[b, n, rows[b, n], cols[b, n]] = 2.0  # one clear maximum, off the border
    expected = awing_arch.calculate_points(heatmaps.numpy())
    np.testing.assert_allclose(heatmap_peaks(heatmaps).numpy(), expected)


def test_missing_or_wrong_facexlib_weights_are_named(tmp_path):
    with pytest.raises(MissingWeightsError, match=rf"{AWING_WEIGHTS_FILE} not found.*judges.landmarks"):
        load_facexlib_landmarks(tmp_path)
    with pytest.raises(MissingWeightsError, match="elsewhere.pth not found"):
        load_facexlib_landmarks(tmp_path / "elsewhere.pth")
    (tmp_path / AWING_WEIGHTS_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a state dict of facexlib's FAN"):
        load_facexlib_landmarks(tmp_path)


def test_facexlib_loader_on_stand_in_weights(tmp_path):
    """facexlib's FAN with random weights, saved as its release file is ({"state_dict": ...}): 20 landmarks per
    image, the ears invisible."""
    from facexlib.alignment.awing_arch import FAN

    torch.manual_seed(0)
    state = FAN(num_modules=4, num_landmarks=98, device="cpu").state_dict()
    torch.save({"state_dict": state}, tmp_path / AWING_WEIGHTS_FILE)
    judge = load_facexlib_landmarks(tmp_path / AWING_WEIGHTS_FILE)
    judge.train()
    assert not judge.training  # a judge stays in eval mode
    points = judge(torch.rand(1, 3, 32, 32) * 2 - 1)
    assert points.shape == (1, NUM_KEYPOINTS, 3)
    assert points[0, NAMES.index("r_ear"), 2] == 0 and points[0, NAMES.index("l_ear"), 2] == 0
