"""The face landmarks of the `keypoints` condition: names, the part each lies on, the left/right swap and colours.

Plain data (numpy only), like labels.py. Keypoints are float32 [K, 3] rows (x, y, visible) in pixel units of the
image they belong to: x the column, y the row, pixel centres at integers (0 .. W-1), `visible` 1 or 0. Left/right
follow CelebAMask-HQ: `l_*` is the SUBJECT's left, on the IMAGE's right.
"""

from __future__ import annotations

import numpy as np

# (name, official label id of the part it lies on) in keypoint order; the order is the rows of every keypoint array.
LANDMARKS: tuple[tuple[str, int], ...] = (
    ("r_eye_outer", 5),
    ("r_eye_centre", 5),
    ("r_eye_inner", 5),
    ("l_eye_inner", 4),
    ("l_eye_centre", 4),
    ("l_eye_outer", 4),
    ("r_brow_outer", 7),
    ("r_brow_inner", 7),
    ("l_brow_inner", 6),
    ("l_brow_outer", 6),
    ("nose_tip", 2),
    ("mouth_r", 11),
    ("upper_lip", 11),
    ("mouth_l", 11),
    ("lower_lip", 12),
    ("jaw_r", 1),
    ("chin", 1),
    ("jaw_l", 1),
    ("r_ear", 9),
    ("l_ear", 8),
)
NAMES: tuple[str, ...] = tuple(name for name, _ in LANDMARKS)
PART_LABELS: tuple[int, ...] = tuple(label for _, label in LANDMARKS)
NUM_KEYPOINTS = len(LANDMARKS)
# The two eye centres: the inter-ocular distance that normalises the keypoint error (NME).
EYE_CENTRES: tuple[int, int] = (NAMES.index("r_eye_centre"), NAMES.index("l_eye_centre"))


def _flip_permutation() -> tuple[int, ...]:
    """Row i of a mirrored keypoint array is row FLIP_ORDER[i] of the original (l_* <-> r_*, mouth_l <-> mouth_r)."""

    def mirrored(name: str) -> str:
        for a, b in (("l_", "r_"), ("_l", "_r")):
            if name.startswith(a) or name.startswith(b):
                return (b + name[2:]) if name.startswith(a) else (a + name[2:])
            if name.endswith(a) or name.endswith(b):
                return (name[:-2] + b) if name.endswith(a) else (name[:-2] + a)
        return name

    return tuple(NAMES.index(mirrored(name)) for name in NAMES)


FLIP_ORDER: tuple[int, ...] = _flip_permutation()

# One colour per landmark (uint8 RGB), what the keypoint image draws: left and right of a pair differ.
COLOURS: np.ndarray = np.array(
    [
        (255, 0, 0),
        (255, 128, 0),
        (255, 255, 0),
        (0, 255, 0),
        (0, 255, 255),
        (0, 128, 255),
        (128, 0, 255),
        (255, 0, 255),
        (255, 128, 128),
        (128, 255, 128),
        (255, 255, 255),
        (128, 128, 255),
        (192, 64, 0),
        (0, 192, 64),
        (64, 0, 192),
        (192, 192, 64),
        (64, 192, 192),
        (192, 64, 192),
        (128, 64, 64),
        (64, 128, 64),
    ],
    dtype=np.uint8,
)
COLOURS.setflags(write=False)


class KeypointError(ValueError):
    """A keypoint array that is malformed: wrong shape, non-finite values, or a visible point outside the image."""


def validate_keypoints(keypoints: np.ndarray, size: tuple[int, int]) -> None:
    """Raise KeypointError unless `keypoints` is [K, 3] (x, y, visible) with visible points inside an H x W image."""
    points = np.asarray(keypoints)
    if points.shape != (NUM_KEYPOINTS, 3):
        raise KeypointError(
            f"keypoints must be [{NUM_KEYPOINTS}, 3] (x, y, visible) in the order {', '.join(NAMES)}; "
            f"got shape {tuple(points.shape)}"
        )
    if not np.isfinite(points).all():
        raise KeypointError("keypoints hold NaN or infinite values")
    visible = points[:, 2]
    if not np.isin(visible, (0.0, 1.0)).all():
        raise KeypointError(f"keypoint visibility must be 0 or 1, got {sorted(set(visible.tolist()))}")
    height, width = size
    x, y = points[:, 0], points[:, 1]
    outside = (visible == 1) & ((x < -0.5) | (x > width - 0.5) | (y < -0.5) | (y > height - 0.5))
    if outside.any():
        names = [NAMES[i] for i in np.flatnonzero(outside)]
        raise KeypointError(
            f"visible keypoints outside the {width}x{height} image (x in [-0.5, {width - 0.5}], y in "
            f"[-0.5, {height - 0.5}]): {', '.join(names)}"
        )


def flip_keypoints(keypoints: np.ndarray, width: int) -> np.ndarray:
    """Mirror keypoints left-right in an image `width` pixels wide: x -> width - 1 - x, and l/r landmarks swapped."""
    points = np.asarray(keypoints, dtype=np.float32)
    flipped = points[list(FLIP_ORDER)].copy()
    flipped[:, 0] = width - 1 - flipped[:, 0]
    return flipped
