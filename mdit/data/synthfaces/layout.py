"""Where every face part goes: ShapeAttributes -> ordered list of (shape, label, material).

Parts are placed in face-local units (face half-width 1, y down, half-height =
face_aspect) and mapped to the image by the head pose; the neck and clothes
use image coordinates. Subject's left (l_eye, l_brow, l_ear: labels 4, 6, 8)
is drawn at local x > 0, i.e. on the IMAGE's right, as in CelebAMask-HQ.
The list is in paint order (later parts cover earlier ones), and depends on
the shapes only, so the label map never carries colour information.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from .attributes import EYE_SIZES, ShapeAttributes
from .raster import (
    Lens,
    Pose,
    Shape,
    above,
    above_curve,
    below,
    capsule,
    ellipse,
    polygon,
    superellipse,
    wavy_ellipse,
)

FACE_HALF_WIDTH = 0.36  # image units at head_scale 1
JAW_TAPER = {"oval": 0.18, "round": 0.08, "long": 0.12}
SIDES = (1, -1)  # +1: subject's left (image right), -1: subject's right


class Material(IntEnum):
    """Colour roles; several materials can share one label (e.g. iris and eye white are both 'eye')."""

    BACKGROUND = 0
    SKIN = 1
    NECK = 2
    NOSE = 3
    EAR = 4
    LIPS = 5
    MOUTH = 6
    TEETH = 7
    EYE_WHITE = 8
    IRIS = 9
    PUPIL = 10
    BROW = 11
    HAIR = 12
    HAT = 13
    FRAME = 14
    LENS = 15
    METAL = 16
    CLOTH = 17


Part = tuple[Shape, int, Material]
Ellipse = tuple[float, float, float, float]  # cx, cy, rx, ry


def head_pose(shape: ShapeAttributes) -> Pose:
    """Face-local frame -> image: centre, size and roll of the head."""
    return Pose(shape.head_x, shape.head_y, FACE_HALF_WIDTH * shape.head_scale, shape.head_roll_deg)


def hair_crown(shape: ShapeAttributes) -> tuple[float, float]:
    """Image point the hair strands radiate from (a little below the top of the head)."""
    return head_pose(shape).point(0.0, -0.75 * shape.face_aspect)


def face_half_width(yn: np.ndarray, taper: float) -> np.ndarray:
    """Half-width of the face outline at yn = y / face_aspect (-1 top, 1 chin): an ellipse tapering to the jaw."""
    return np.sqrt(np.clip(1.0 - yn * yn, 0.0, None)) * (1.0 - taper * np.clip(yn, 0.0, None))


def _face(h: float, taper: float) -> Shape:
    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        yn = y / h
        return (np.abs(yn) <= 1.0) & (np.abs(x) <= face_half_width(yn, taper))

    return Shape((-1.0, -h, 1.0, h), inside)


def _hair_outline(s: ShapeAttributes, wavy: bool = True) -> Shape:
    """The whole hair silhouette (behind and in front of the face); ``wavy=False`` gives its smooth envelope."""
    h = s.face_aspect
    rx, cy, ry = {
        "short": (1.1, -0.2, 0.92),
        "bob": (1.22, -0.1, 1.0),
        "long": (1.28, -0.1, 1.0),
        "bald": (1.06, -0.15, 0.9),
    }[s.hair_style]
    amplitude = 0.045 if s.wavy and wavy else 0.0
    top = wavy_ellipse(0.0, cy * h, rx, ry * h, amplitude, 14, s.wave_phase)
    if s.hair_style == "long":
        return top | polygon([(-rx, cy * h), (rx, cy * h), (rx + 0.15, 2.4 * h), (-rx - 0.15, 2.4 * h)])
    bottom = {"short": s.eye_height * h + 0.05, "bob": 0.55 * h, "bald": s.eye_height * h + 0.05}[s.hair_style]
    clipped = top & above(bottom)
    return clipped & below(-0.45 * h) if s.hair_style == "bald" else clipped


def _hair_front(s: ShapeAttributes) -> list[Shape]:
    """Hair covering the face: the cap above the hairline (or bangs) and side locks over the ears."""
    if s.hair_style == "bald":
        return []
    h = s.face_aspect
    outline = _hair_outline(s)
    if s.fringe:
        fringe_y = (s.eye_height - 0.07) * h - s.brow_gap - 0.06
        wave = 0.025 if s.wavy else 0.0

        def edge(x: np.ndarray) -> np.ndarray:
            return fringe_y + s.fringe_tilt * x + wave * np.sin(18.0 * x + s.wave_phase)
    else:

        def edge(x: np.ndarray) -> np.ndarray:
            return -s.hairline * h + 0.35 * x * x

    parts = [outline & above_curve(edge)]
    if s.hair_style in ("bob", "long"):
        end = 0.55 * h if s.hair_style == "bob" else 0.95 * h
        for side in SIDES:
            lock = polygon([(side * 0.72, -0.6 * h), (side * 1.5, -0.6 * h), (side * 1.5, end), (side * 0.85, end)])
            parts.append(_hair_outline(s, wavy=False) & lock)  # smooth, so curls never expose the ears
    return parts


def eye_lens(s: ShapeAttributes, side: int) -> Lens:
    """The eye (white) of ``side`` (+1 subject's left, -1 right): its corners are the ends of the lens."""
    h, k = s.face_aspect, EYE_SIZES[s.eye_size]
    cx, ey = side * s.eye_spacing, s.eye_height * h
    if s.eye_shape == "almond":
        return Lens(cx, ey, 0.19 * k, 0.085 * k, 0.06 * k, tilt=-0.025 * side, power=0.9)
    return Lens(cx, ey, 0.17 * k, 0.10 * k, 0.09 * k, power=0.5)


def iris_centre(s: ShapeAttributes, side: int) -> tuple[float, float]:
    """Centre of the iris (and pupil) of ``side``."""
    return side * s.eye_spacing, s.eye_height * s.face_aspect + 0.005


def _eyes(s: ShapeAttributes) -> list[Part]:
    k = EYE_SIZES[s.eye_size]
    parts: list[Part] = []
    for side, label in zip(SIDES, (4, 5), strict=True):
        eye = eye_lens(s, side).shape
        cx, cy = iris_centre(s, side)
        iris_r = 0.08 * k
        parts += [
            (eye, label, Material.EYE_WHITE),
            (eye & ellipse(cx, cy, iris_r, iris_r), label, Material.IRIS),
            (eye & ellipse(cx, cy, 0.45 * iris_r, 0.45 * iris_r), label, Material.PUPIL),
        ]
    return parts


def brow_lens(s: ShapeAttributes, side: int) -> Lens:
    """The eyebrow of ``side``: its inner and outer ends are the ends of the lens."""
    by = s.eye_height * s.face_aspect - s.brow_gap
    thickness = 0.035 if s.brow_thickness == "thin" else 0.055
    bend, tilt, lift = {
        "straight": (0.0, 0.0, 0.0),
        "arched": (0.07, 0.0, 0.035),
        "angled": (0.05, -0.04 * side, 0.03),
    }[s.brow_shape]
    return Lens(side * (s.eye_spacing + 0.02), by - lift, 0.22, thickness, thickness, bend, tilt, power=0.35)


def _brows(s: ShapeAttributes) -> list[Part]:
    return [(brow_lens(s, side).shape, label, Material.BROW) for side, label in zip(SIDES, (6, 7), strict=True)]


def nose_tip_ellipse(s: ShapeAttributes) -> Ellipse:
    """The round tip at the bottom of the nose; its lowest point is the nose tip landmark."""
    width = 0.15 if s.nose_size == "small" else 0.22
    bottom = s.nose_length * s.face_aspect + 0.06
    return 0.0, bottom - 0.05, 1.05 * width, 0.07


def _nose(s: ShapeAttributes) -> Shape:
    h = s.face_aspect
    top, bottom = s.eye_height * h + 0.02, s.nose_length * h + 0.06
    width = 0.15 if s.nose_size == "small" else 0.22
    ridge = polygon([(-0.05, top), (0.05, top), (width, bottom - 0.02), (-width, bottom - 0.02)])
    return ridge | ellipse(*nose_tip_ellipse(s))


def mouth_lenses(s: ShapeAttributes) -> dict[str, Lens]:
    """The lenses of the mouth, in paint order: "upper" and "lower" lips, and for an open mouth its "inside" and
    "teeth" painted over the lips' inner edges. All share one centre line, so the lips' ends are the corners."""
    h, w = s.face_aspect, s.mouth_width
    my = s.mouth_height * h
    upper, lower = 0.055 * s.lip_fullness, 0.075 * s.lip_fullness
    bend = {"closed": 0.0, "smiling": -0.07, "open": -0.04}[s.mouth]
    gap_up, gap_down = (0.03, 0.07) if s.mouth == "open" else (0.0, 0.0)
    lenses = {
        "upper": Lens(0.0, my, w, gap_up + upper, 0.0, bend, power=0.6),
        "lower": Lens(0.0, my, w, 0.0, gap_down + lower, bend, power=0.7),
    }
    if s.mouth == "open":
        lenses["inside"] = Lens(0.0, my, w, gap_up, gap_down, bend, power=0.8)
        lenses["teeth"] = Lens(0.0, my, w, gap_up, 0.3 * gap_down, bend, power=0.8)
    return lenses


def _mouth(s: ShapeAttributes) -> list[Part]:
    roles = {
        "upper": (11, Material.LIPS),
        "lower": (12, Material.LIPS),
        "inside": (10, Material.MOUTH),
        "teeth": (10, Material.TEETH),
    }
    return [(piece.shape, *roles[name]) for name, piece in mouth_lenses(s).items()]


def _glasses(s: ShapeAttributes) -> tuple[list[Shape], list[Shape]]:
    """Frames then lenses; all label eye_g. Eyes and brows are painted over them, as in the dataset's merge order."""
    ey = s.eye_height * s.face_aspect
    rx, ry = (0.25, 0.23) if s.glasses_shape == "round" else (0.27, 0.2)
    frame = 0.045
    outer, inner, sticks = [], [], []
    for side in SIDES:
        cx = side * s.eye_spacing
        if s.glasses_shape == "round":
            outer.append(ellipse(cx, ey, rx + frame, ry + frame))
            inner.append(ellipse(cx, ey, rx, ry))
        else:
            outer.append(superellipse(cx, ey, rx + frame, ry + frame, 4.0))
            inner.append(superellipse(cx, ey, rx, ry, 4.0))
        sticks.append(capsule(side * (s.eye_spacing + rx), ey - 0.03, side * 0.99, ey + 0.06, 0.025))
    bridge = capsule(-(s.eye_spacing - rx), ey - 0.03, s.eye_spacing - rx, ey - 0.03, 0.025)
    return [*outer, bridge, *sticks], inner


def ear_ellipse(s: ShapeAttributes, side: int) -> Ellipse:
    """The ear of ``side``; the face, painted after it, covers its inner part."""
    ey, size = s.eye_height * s.face_aspect, s.ear_size
    return side * 0.97, ey + 0.2, 0.17 * size, 0.3 * size


def _ears(s: ShapeAttributes) -> list[Part]:
    return [(ellipse(*ear_ellipse(s, side)), label, Material.EAR) for side, label in zip(SIDES, (8, 9), strict=True)]


def _earrings(s: ShapeAttributes) -> list[Shape]:
    ey, size = s.eye_height * s.face_aspect, s.ear_size
    return [ellipse(side * 1.0, ey + 0.2 + 0.3 * size + 0.08, 0.075, 0.1) for side in SIDES]


def _hat(s: ShapeAttributes) -> Shape:
    h = s.face_aspect
    dome = ellipse(0.0, -0.75 * h, 1.18, 0.55 * h) & above(-0.62 * h)
    return dome | ellipse(0.0, -0.62 * h, 1.32, 0.09 * h)


def _body(s: ShapeAttributes) -> list[Part]:
    """Neck, clothes and necklace in image coordinates (the body does not roll with the head)."""
    a = FACE_HALF_WIDTH * s.head_scale
    hx, hy = s.head_x, s.head_y
    bx = 0.5 * hx
    neck = s.neck_width * a
    shoulder_y = hy + s.face_aspect * a + 0.17
    parts: list[Part] = [
        (
            polygon([(hx - neck, hy), (hx + neck, hy), (bx + 1.15 * neck, 1.05), (bx - 1.15 * neck, 1.05)]),
            17,
            Material.NECK,
        )
    ]
    cut = {
        "round": ellipse(bx, shoulder_y, 1.25 * neck, 0.08),
        "v": polygon(
            [(bx - 1.2 * neck, shoulder_y - 0.05), (bx + 1.2 * neck, shoulder_y - 0.05), (bx, shoulder_y + 0.3)]
        ),
        "low": ellipse(bx, shoulder_y, 1.7 * neck, 0.2),
    }[s.neckline]
    parts.append((superellipse(bx, shoulder_y + 0.62, 0.98, 0.62, 2.6) - cut, 18, Material.CLOTH))
    if s.necklace:
        ring = ellipse(bx, shoulder_y - 0.05, 1.05 * neck + 0.02, 0.13) - ellipse(
            bx, shoulder_y - 0.05, 1.05 * neck - 0.015, 0.095
        )
        parts.append(
            ((ring & below(shoulder_y - 0.05)) | ellipse(bx, shoulder_y + 0.09, 0.03, 0.04), 16, Material.METAL)
        )
    return parts


def layout(s: ShapeAttributes) -> list[Part]:
    """Every part of the face in paint order, in image coordinates."""
    pose = head_pose(s)
    local: list[Part] = []
    local += [(_face(s.face_aspect, JAW_TAPER[s.face_shape]), 1, Material.SKIN), (_nose(s), 2, Material.NOSE)]
    if s.eyeglasses:
        frames, lenses = _glasses(s)
        local += [(g, 3, Material.FRAME) for g in frames] + [(g, 3, Material.LENS) for g in lenses]
    local += _eyes(s) + _brows(s) + _mouth(s)
    local += [(part, 13, Material.HAIR) for part in _hair_front(s)]
    if s.earrings:
        local += [(e, 15, Material.METAL) for e in _earrings(s)]
    if s.hat:
        local.append((_hat(s), 14, Material.HAT))
    behind = [(_hair_outline(s), 13, Material.HAIR)]

    def placed(parts: list[Part]) -> list[Part]:
        return [(pose.place(shape), label, material) for shape, label, material in parts]

    return placed(behind) + _body(s) + placed(_ears(s)) + placed(local)
