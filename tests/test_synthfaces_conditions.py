"""SynthFaces' sketches and keypoints: deterministic, consistent with the mask they were drawn with (checked on the
label map, which the landmarks never read), mirrored correctly by flips, cached bit for bit, and checked when packed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from mdit.data.faces import ConditionError, FaceDataset, to_sample
from mdit.data.synthfaces import dataset as dataset_module
from mdit.data.synthfaces import render
from mdit.data.synthfaces.conflict import REGISTRY, ConflictSet, make_pair
from mdit.data.synthfaces.dataset import SynthFacesDataset
from mdit.data.synthfaces.layout import FACE_HALF_WIDTH, layout
from mdit.data.synthfaces.raster import Canvas
from mdit.data.synthfaces.render_cache import RenderCache
from mdit.keypoints import NAMES, PART_LABELS, KeypointError, flip_keypoints
from mdit.labels import flip_label_map

K = {name: i for i, name in enumerate(NAMES)}
MOUTH_CORNERS = (K["mouth_r"], K["mouth_l"])
MOUTH_LABELS = (10, 11, 12)  # mouth, upper lip, lower lip

DIGEST_SCRIPT = """
import hashlib, sys
from mdit.data.synthfaces import render
f = render(int(sys.argv[1]), int(sys.argv[2]))
print(hashlib.sha256(f.sketch.tobytes() + f.keypoints.tobytes()).hexdigest())
"""


def _window(mask: np.ndarray, x: float, y: float, radius: int = 1) -> np.ndarray:
    """The labels of the pixels within ``radius`` (both axes) of the pixel nearest to (x, y)."""
    col, row = int(round(float(x))), int(round(float(y)))
    return mask[max(row - radius, 0) : row + radius + 1, max(col - radius, 0) : col + radius + 1]


def _on_its_part(mask: np.ndarray, keypoints: np.ndarray) -> list[bool]:
    """For each visible landmark: does its pixel, or one within 1 px, carry its part's label? A mouth corner is
    the zero-width tip where both lips (and an open mouth) end, so it may touch any of the mouth's labels."""
    hits = []
    for k, (x, y, visible) in enumerate(keypoints):
        if visible:
            labels = MOUTH_LABELS if k in MOUTH_CORNERS else (PART_LABELS[k],)
            hits.append(bool(np.isin(_window(mask, x, y), labels).any()))
    return hits


def _boundary(regions: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour in another region (both sides of every edge), written out with numpy."""
    edge = np.zeros(regions.shape, dtype=bool)
    across, down = regions[:, 1:] != regions[:, :-1], regions[1:] != regions[:-1]
    edge[:, 1:] |= across
    edge[:, :-1] |= across
    edge[1:] |= down
    edge[:-1] |= down
    return edge


def _within_one_pixel(ink: np.ndarray) -> np.ndarray:
    """Pixels at most 1 px (either axis) from an ink pixel."""
    padded = np.pad(ink, 1)
    n, m = ink.shape
    return np.any([padded[i : i + n, j : j + m] for i in range(3) for j in range(3)], axis=0)


def _mirrored(shape):
    """The shape attributes of the mirror image: head position, roll, bang tilt and curl phase reflected."""
    return dataclasses.replace(
        shape,
        head_x=-shape.head_x,
        head_roll_deg=-shape.head_roll_deg,
        fringe_tilt=-shape.fringe_tilt,
        wave_phase=math.pi - shape.wave_phase,
    )


# ------------------------------------------------------------------------------------------------ determinism


def test_same_seed_same_sketch_and_keypoints_in_process_and_in_a_fresh_process() -> None:
    a, b = render(5, 64), render(5, 64)
    assert a.sketch.tobytes() == b.sketch.tobytes() and a.keypoints.tobytes() == b.keypoints.tobytes()
    assert a.sketch.dtype == a.keypoints.dtype == np.float32
    assert a.sketch.shape == (64, 64) and a.keypoints.shape == (20, 3)
    assert set(np.unique(a.sketch).tolist()) == {0.0, 1.0}
    fresh = subprocess.run([sys.executable, "-c", DIGEST_SCRIPT, "5", "64"], capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == hashlib.sha256(a.sketch.tobytes() + a.keypoints.tobytes()).hexdigest()
    other = render(6, 64)
    assert other.sketch.tobytes() != a.sketch.tobytes() and other.keypoints.tobytes() != a.keypoints.tobytes()


# ------------------------------------------------------------------------------------------------ keypoints


def test_keypoints_follow_the_written_out_head_pose() -> None:
    """Chin (0, h) and left eye centre (eye_spacing, eye_height * h + 0.005) in face units, through the pose
    x = hx + a (u cos r - v sin r), y = hy + a (u sin r + v cos r), a = 0.36 * head_scale, then pixels
    (x + 1) R / 2 - 0.5: written out here, not through the renderer's Pose."""
    for seed in (3, 8):
        face = render(seed, 128)
        s = face.attributes.shape
        assert abs(s.head_roll_deg) > 1.0  # the roll matters here
        a, r = FACE_HALF_WIDTH * s.head_scale, math.radians(s.head_roll_deg)
        for name, (u, v) in (
            ("chin", (0.0, s.face_aspect)),
            ("l_eye_centre", (s.eye_spacing, s.eye_height * s.face_aspect + 0.005)),
        ):
            x = s.head_x + a * (u * math.cos(r) - v * math.sin(r))
            y = s.head_y + a * (u * math.sin(r) + v * math.cos(r))
            expected = ((x + 1) * 64 - 0.5, (y + 1) * 64 - 0.5)
            assert face.keypoints[K[name], :2] == pytest.approx(expected, abs=1e-3), (seed, name)


def test_visible_keypoints_lie_on_their_parts_label() -> None:
    """At 256 px, where every part is several pixels wide, every visible landmark is on (or within 1 px of) its
    part's label; at the training resolution 64 px, thin parts (lips, brows under a pixel tall) are not always
    rasterised at all, so only most are."""
    for seed in range(24):
        face = render(seed, 256)
        visible = [NAMES[k] for k in np.flatnonzero(face.keypoints[:, 2])]
        misses = [name for name, hit in zip(visible, _on_its_part(face.mask, face.keypoints)) if not hit]
        assert not misses, (seed, misses)
    hits = [
        hit for face in (render(seed, 64) for seed in range(200)) for hit in _on_its_part(face.mask, face.keypoints)
    ]
    fraction = float(np.mean(hits))
    print(f"64 px, 200 faces: {fraction:.1%} of {len(hits)} visible landmarks within 1 px of their part's label")
    assert fraction >= 0.9


def test_hair_over_the_ears_hides_them_and_short_hair_shows_them() -> None:
    """Long hair covers the ears (their label is then nowhere near the landmark); short hair shows them."""
    ears = ((K["l_ear"], 8), (K["r_ear"], 9))
    for seed in range(6):
        base = render(seed, 128).attributes.shape
        for style, shown in (("long", False), ("bob", False), ("short", True)):
            shape = dataclasses.replace(base, hair_style=style, earrings=False, hat=False)
            face = render(seed, 128, {"shape": shape})
            for k, label in ears:
                x, y, visible = face.keypoints[k]
                assert bool(visible) == shown, (seed, style, NAMES[k])
                assert (_window(face.mask, x, y) == label).any() == shown, (seed, style, NAMES[k])
            others = [k for k in range(len(NAMES)) if k not in (K["l_ear"], K["r_ear"])]
            assert face.keypoints[others, 2].all(), (seed, style)  # the rest of the face stays visible
    for seed in range(300):  # sampled faces: the ears show exactly when the hair style leaves them uncovered
        face = render(seed, 32)
        ears_shown = face.keypoints[[K["l_ear"], K["r_ear"]], 2].tolist()
        assert ears_shown == [float(face.attributes.shape.ears_visible)] * 2, seed


def test_left_keypoints_are_on_the_image_right() -> None:
    face = render(2, 64)
    for name in ("eye_outer", "eye_centre", "brow_outer", "ear"):
        assert face.keypoints[K[f"l_{name}"], 0] > face.keypoints[K[f"r_{name}"], 0], name
    assert face.keypoints[K["mouth_l"], 0] > face.keypoints[K["mouth_r"], 0]
    assert face.keypoints[K["jaw_l"], 0] > face.keypoints[K["jaw_r"], 0]


# ------------------------------------------------------------------------------------------------ sketch


def _canvas(seed: int, resolution: int) -> Canvas:
    canvas = Canvas(resolution)
    for shape, label, material in layout(render(seed, resolution).attributes.shape):
        canvas.paint(shape, label, material)
    return canvas


@pytest.mark.parametrize(("resolution", "faces"), [(64, 40), (256, 4)])  # at 256 px, parts are wider than lines
def test_the_sketch_draws_every_mask_contour_and_only_part_contours(resolution: int, faces: int) -> None:
    for seed in range(faces):
        face, canvas = render(seed, resolution), _canvas(seed, resolution)
        ink = face.sketch > 0
        edges = _boundary(face.mask)
        assert edges.any() and (edges <= _within_one_pixel(ink)).all(), seed  # every label edge has a line
        regions = canvas.labels.astype(np.int32) * 256 + canvas.materials  # parts: a label and a material each
        assert (ink <= _boundary(regions)).all(), seed  # every line is on an edge between two parts
        across, down = regions[:, 1:] != regions[:, :-1], regions[1:] != regions[:-1]
        assert (ink[:, 1:] | ink[:, :-1])[across].all() and (ink[1:] | ink[:-1])[down].all(), seed  # one side inked
        assert 0.005 < ink.mean() < 0.2, seed  # lines, not filled regions


def test_the_sketch_draws_the_inner_contours_of_the_eyes() -> None:
    """Iris and pupil share the eye's label: their circles are material contours inside the eye label."""
    face = render(1, 256)
    eye = face.mask == 4
    inner = eye & ~_boundary(eye.astype(np.int32))  # eye pixels whose 4 neighbours are all eye
    assert (face.sketch[inner] > 0).sum() >= 10


# ------------------------------------------------------------------------------------------------ flips


def test_a_flipped_sample_mirrors_the_sketch_and_swaps_the_keypoints() -> None:
    dataset = SynthFacesDataset(0, 6, resolution=64, flip_p=1.0)
    for index in range(6):
        face, sample = render(index, 64), dataset[index]
        assert torch.equal(sample["sketch"], torch.from_numpy(face.sketch[:, ::-1].copy()))
        assert torch.equal(sample["keypoints"], torch.from_numpy(flip_keypoints(face.keypoints, 64)))
        # independently: the mirror-image face, drawn from mirrored attributes, has the flipped sample's conditions
        mirror = render(index, 64, {"shape": _mirrored(face.attributes.shape)})
        assert np.array_equal(mirror.mask, flip_label_map(face.mask))  # it is the mirror image
        assert np.array_equal(mirror.sketch, sample["sketch"].numpy())
        assert np.allclose(mirror.keypoints, sample["keypoints"].numpy(), atol=1e-3)
        # and the flipped left eye centre is on the flipped mask's left eye (label 4), on the image's right
        x, y, visible = sample["keypoints"][K["l_eye_centre"]].tolist()
        assert visible and x > 32 and (_window(sample["mask"].numpy(), x, y) == 4).any()


# ------------------------------------------------------------------------------------------------ render cache


def test_the_render_cache_returns_the_rendered_sketch_and_keypoints(tmp_path, monkeypatch) -> None:
    face = render(3, 32)
    cache = RenderCache(tmp_path, 32, 0, 8)
    cache.put(3, face)
    held = cache.get(3)
    assert held.sketch.dtype == held.keypoints.dtype == np.float32
    assert held.sketch.tobytes() == face.sketch.tobytes() and held.keypoints.tobytes() == face.keypoints.tobytes()
    first = SynthFacesDataset(0, 8, resolution=32, cache_dir=tmp_path)
    rendered = [first.load_conditions(i) for i in range(8)]  # rendered, and stored
    monkeypatch.setattr(dataset_module.SynthFaces, "render", lambda self, seed: pytest.fail(f"face {seed} rendered"))
    again = SynthFacesDataset(0, 8, resolution=32, cache_dir=tmp_path)
    for i, conditions in enumerate(rendered):
        read = again.load_conditions(i)
        assert read.keys() == {"sketch", "keypoints"}
        assert all(np.array_equal(read[kind], conditions[kind]) for kind in read)
        assert np.array_equal(read["keypoints"], render(i, 32).keypoints)


# ------------------------------------------------------------------------------------------------ packing


def test_bad_sketches_and_keypoints_are_errors_that_say_what_is_valid() -> None:
    image, mask = np.zeros((8, 8, 3), dtype=np.uint8), np.zeros((8, 8), dtype=np.int64)
    points = np.zeros((20, 3), dtype=np.float32)
    with pytest.raises(ConditionError, match=r"sketch must be float \[8, 8\] .*got shape \(8, 9\)"):
        to_sample(image, mask, "x", 0, 0, "test", {"sketch": np.zeros((8, 9), dtype=np.float32)})
    with pytest.raises(ConditionError, match=r"in \[0, 1\], 1 = line; got values from 0.0 to 2.0$"):
        to_sample(image, mask, "x", 0, 0, "test", {"sketch": np.linspace(0, 2, 64, dtype=np.float32).reshape(8, 8)})
    with pytest.raises(ConditionError, match="got values from 0.0 to 0.0 and NaN or infinite ones"):
        to_sample(image, mask, "x", 0, 0, "test", {"sketch": np.full((8, 8), np.nan, dtype=np.float32)})
    with pytest.raises(ConditionError, match="got dtype uint8"):
        to_sample(image, mask, "x", 0, 0, "test", {"sketch": np.zeros((8, 8), dtype=np.uint8)})
    points[4] = (8.2, 3.0, 1.0)
    with pytest.raises(KeypointError, match=r"outside the 8x8 image \(x in \[-0.5, 7.5\].*: l_eye_centre"):
        to_sample(image, mask, "x", 0, 0, "test", {"keypoints": points})
    with pytest.raises(KeypointError, match=r"must be \[20, 3\]"):
        to_sample(image, mask, "x", 0, 0, "test", {"keypoints": points[:5]})
    with pytest.raises(ConditionError, match="unknown condition.*'depth'.*may return sketch, keypoints"):
        to_sample(image, mask, "x", 0, 0, "test", {"depth": points})
    points[4, 2] = 0.0  # a hidden landmark may lie anywhere
    sample = to_sample(image, mask, "x", 0, 0, "test", {"sketch": np.ones((8, 8)), "keypoints": points})
    assert sample["sketch"].dtype == sample["keypoints"].dtype == torch.float32


class _Plain(FaceDataset):
    """A source without sketches or keypoints: the default hook."""

    source = "plain"

    def __len__(self) -> int:
        return 2

    def sample_id(self, index: int) -> int:
        return index

    def captions_of(self, index: int) -> list[str]:
        return ["a face"]

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((4, 4, 3), dtype=np.uint8), np.zeros((4, 4), dtype=np.int64)


def test_a_source_without_conditions_gives_samples_without_them() -> None:
    sample = _Plain(flip_p=1.0)[1]
    assert "sketch" not in sample and "keypoints" not in sample and sample["mask"].shape == (4, 4)


def test_conflict_samples_carry_the_sketch_and_keypoints_of_their_masks_face() -> None:
    p = make_pair(0, 32)
    attribute = REGISTRY[p.attribute]
    shape = render(p.seed, 32).attributes.shape
    for which, value in (("conflict", p.other_value), ("agree", p.caption_value)):
        face = render(p.seed, 32, {"shape": attribute.shape_at(shape, value)})
        sample = ConflictSet(which, 32, 1)[0]
        assert np.array_equal(sample["mask"].numpy(), face.mask)
        assert np.array_equal(sample["sketch"].numpy(), face.sketch), which
        assert np.array_equal(sample["keypoints"].numpy(), face.keypoints), which
