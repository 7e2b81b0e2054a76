"""The 20 landmarks of `mdit.keypoints` of a SynthFaces face, read off its procedural geometry (not its pixels).

Where each lies, in face-local units (layout.py), mapped to the image by the head pose:

- eye corners: the two ends of the eye's lens (where its arcs meet); eye centres: the iris centre;
- brow ends: the two ends of the brow's lens (outer = away from the nose);
- nose tip: the lowest point of the nose (its round tip);
- mouth corners: the ends of the lips' lenses (both lips share one centre line);
- upper / lower lip: the middle of the upper / lower lip's visible band on the face's axis (between its outer
  edge and the open mouth's inside, or the closed lips' meeting line): on the lip, open mouth or not;
- jaw points: the face outline at the mouth's height; chin: the bottom of the face outline;
- ears: the middle of the ear's part outside the face outline at the ear's height (the face covers the rest).

``l_*`` is the subject's left: local x > 0, the image's right. Coordinates are in pixels at the render resolution
(pixel centres at integers). A landmark is visible (1) when it is inside the image and no part painted after its
own part covers it: hair (bangs, the locks over the ears of bob and long hair), a hat, earrings, the face over an
ear. The parts of one feature never hide each other (the lower lip, the open mouth and the teeth meet at the mouth
corners), and eyeglass lenses are transparent: they hide nothing (eyes and brows are painted over them anyway).
Visibility is decided by the parts' own inside-tests at the landmark, never by reading the label map, so the
label map can check it. A hidden landmark keeps its projected position with visible 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mdit.keypoints import NAMES, PART_LABELS
from mdit.labels import NUM_CLASSES

from .attributes import ShapeAttributes
from .layout import (
    JAW_TAPER,
    SIDES,
    Material,
    Part,
    brow_lens,
    ear_ellipse,
    eye_lens,
    face_half_width,
    head_pose,
    iris_centre,
    mouth_lenses,
    nose_tip_ellipse,
)

# Labels of one feature: a part of the feature never hides a landmark of it (lips, open mouth and teeth).
_FEATURES = ({10, 11, 12},)
_TRANSPARENT = {Material.LENS}
_SIDE_NAMES = {1: "l", -1: "r"}  # side +1 is the subject's left


def local_landmarks(s: ShapeAttributes) -> dict[str, tuple[float, float]]:
    """Every landmark's face-local position (x right, y down, face half-width 1), by name."""
    h = s.face_aspect
    points: dict[str, tuple[float, float]] = {}
    for side in SIDES:
        name = _SIDE_NAMES[side]
        eye, brow = eye_lens(s, side), brow_lens(s, side)
        points[f"{name}_eye_outer"], points[f"{name}_eye_inner"] = eye.centre_line(side), eye.centre_line(-side)
        points[f"{name}_eye_centre"] = iris_centre(s, side)
        points[f"{name}_brow_outer"], points[f"{name}_brow_inner"] = brow.centre_line(side), brow.centre_line(-side)
        ear_x, ear_y, ear_rx, _ = ear_ellipse(s, side)
        face_edge = float(face_half_width(np.float64(ear_y / h), JAW_TAPER[s.face_shape]))
        points[f"{name}_ear"] = (side * 0.5 * (face_edge + abs(ear_x) + ear_rx), ear_y)
    tip_x, tip_y, _, tip_ry = nose_tip_ellipse(s)
    points["nose_tip"] = (tip_x, tip_y + tip_ry)
    mouth = mouth_lenses(s)
    upper, lower, inside = mouth["upper"], mouth["lower"], mouth.get("inside")
    points["mouth_r"], points["mouth_l"] = upper.centre_line(-1.0), upper.centre_line(1.0)
    upper_inner = inside.cy - inside.up if inside is not None else upper.cy
    lower_inner = inside.cy + inside.down if inside is not None else lower.cy
    points["upper_lip"] = (upper.cx, 0.5 * (upper.cy - upper.up + upper_inner))
    points["lower_lip"] = (lower.cx, 0.5 * (lower_inner + lower.cy + lower.down))
    jaw_y = upper.cy
    jaw_x = float(face_half_width(np.float64(jaw_y / h), JAW_TAPER[s.face_shape]))
    points["jaw_r"], points["jaw_l"], points["chin"] = (-jaw_x, jaw_y), (jaw_x, jaw_y), (0.0, h)
    return points


def _may_hide(label: int) -> np.ndarray:
    """bool [K]: the landmarks a part of ``label`` may hide (those of other features)."""
    return np.array([label not in _feature(own) for own in PART_LABELS])


def _feature(label: int) -> set[int]:
    return next((group for group in _FEATURES if label in group), {label})


_MAY_HIDE = np.stack([_may_hide(label) for label in range(NUM_CLASSES)])  # [label, K]


def _hidden(x: np.ndarray, y: np.ndarray, parts: Sequence[Part]) -> np.ndarray:
    """bool [K]: landmark k (image coordinates x, y) lies inside a part painted after its own that hides it."""
    labels = np.array([label for _, label, _ in parts])
    boxes = np.array([shape.box for shape, _, _ in parts])  # [P, 4]: x0, y0, x1, y1
    own = np.array([np.flatnonzero(labels == label)[0] for label in PART_LABELS])  # each landmark's first part
    opaque = np.array([material not in _TRANSPARENT for _, _, material in parts])
    candidates = (
        (own[None, :] < np.arange(len(parts))[:, None])
        & _MAY_HIDE[labels]
        & opaque[:, None]
        & (boxes[:, 0:1] <= x)
        & (x <= boxes[:, 2:3])
        & (boxes[:, 1:2] <= y)
        & (y <= boxes[:, 3:4])
    )
    hidden = np.zeros(len(NAMES), dtype=bool)
    for position in np.flatnonzero(candidates.any(axis=1)):
        tested = candidates[position] & ~hidden
        if tested.any():
            hidden[tested] = np.asarray(parts[position][0].inside(x[tested], y[tested]), dtype=bool)
    return hidden


def face_landmarks(s: ShapeAttributes, parts: Sequence[Part], resolution: int) -> np.ndarray:
    """float32 [20, 3] (x, y, visible) in pixels of a ``resolution`` image, rows in `mdit.keypoints.NAMES` order.

    ``parts`` is ``layout(s)``: the painted parts in paint order, in image coordinates, that decide visibility.
    """
    local = local_landmarks(s)
    pose = head_pose(s)
    image = np.array([pose.point(*local[name]) for name in NAMES], dtype=np.float64)  # [-1, 1] image units
    x, y = image[:, 0], image[:, 1]
    pixels = (image + 1.0) * (resolution / 2.0) - 0.5
    inside = ((pixels >= -0.5) & (pixels <= resolution - 0.5)).all(axis=1)
    visible = inside & ~_hidden(x, y, parts)
    return np.concatenate([pixels, visible[:, None]], axis=1).astype(np.float32)
