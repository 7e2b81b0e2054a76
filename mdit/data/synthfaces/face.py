"""SynthFaces: deterministic procedural faces with CelebAMask-HQ label maps and captions.

``render(seed, resolution)`` = ``sample_attributes`` -> ``draw`` -> ``make_captions``,
each from its own stream of one seeded PCG64 ``SeedSequence``, so the same
(seed, resolution) gives identical bytes in any process. Shapes (mask) and
colours (captions only) are sampled independently, so generation needs both.
The sketch (sketch.py) and keypoints (landmarks.py) come from the same shapes.
Left/right: labels 4/6/8 (l_eye, l_brow, l_ear) are the subject's left, drawn
on the IMAGE's right, as in CelebAMask-HQ.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from .attributes import FaceAttributes, sample_attributes
from .captions import make_captions
from .landmarks import face_landmarks
from .layout import Part, hair_crown, layout
from .raster import Canvas
from .shading import colourise
from .sketch import contour_sketch

MIN_RESOLUTION, MAX_RESOLUTION = 32, 512
_ATTRIBUTES, _PIXELS, _CAPTIONS = 0, 1, 2  # stream tags under one seed


@dataclass(frozen=True)
class SynthFace:
    """One rendered face: uint8 [H, W, 3] image, int64 [H, W] official label map, factors and 10 captions, and
    its spatial conditions: the sketch (float32 [H, W] in {0, 1}, 1 = line) and keypoints (float32 [20, 3])."""

    image: np.ndarray
    mask: np.ndarray
    attributes: FaceAttributes
    captions: tuple[str, ...]
    sketch: np.ndarray
    keypoints: np.ndarray

    @property
    def conditions(self) -> dict[str, np.ndarray]:
        """The sketch and keypoints as a dataset's ``load_conditions`` returns them."""
        return {"sketch": self.sketch, "keypoints": self.keypoints}


def _generator(seed: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream])))


def _check(seed: int, resolution: int) -> None:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution must be in {MIN_RESOLUTION}..{MAX_RESOLUTION}, got {resolution}")


def _paint(parts: list[Part], resolution: int) -> Canvas:
    canvas = Canvas(resolution)
    for shape, label, material in parts:
        canvas.paint(shape, label, material)
    return canvas


def _colourise(canvas: Canvas, attributes: FaceAttributes, seed: int) -> np.ndarray:
    crown = hair_crown(attributes.shape)
    return colourise(canvas.labels, canvas.materials, attributes.colours, crown, _generator(seed, _PIXELS))


def draw(attributes: FaceAttributes, resolution: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise a face: (uint8 image [H, W, 3], int64 mask [H, W]).

    The mask depends on ``attributes.shape`` and the resolution only; ``seed`` drives pixel noise and texture.
    """
    _check(seed, resolution)
    canvas = _paint(layout(attributes.shape), resolution)
    return _colourise(canvas, attributes, seed), canvas.labels.astype(np.int64)


def sample(seed: int, overrides: dict[str, Any] | None = None) -> FaceAttributes:
    """The attributes of face ``seed``; ``overrides`` replaces top-level fields (gender, shape, colours)."""
    _check(seed, MIN_RESOLUTION)
    attributes = sample_attributes(_generator(seed, _ATTRIBUTES))
    return dataclasses.replace(attributes, **(overrides or {}))


def render(seed: int, resolution: int = 64, overrides: dict[str, Any] | None = None) -> SynthFace:
    """Render face ``seed`` at ``resolution`` (32..512); identical bytes for identical arguments."""
    _check(seed, resolution)
    attributes = sample(seed, overrides)
    parts = layout(attributes.shape)
    canvas = _paint(parts, resolution)
    return SynthFace(
        image=_colourise(canvas, attributes, seed),
        mask=canvas.labels.astype(np.int64),
        attributes=attributes,
        captions=make_captions(attributes, _generator(seed, _CAPTIONS)),
        sketch=contour_sketch(canvas, parts),
        keypoints=face_landmarks(attributes.shape, parts, resolution),
    )


@dataclass(frozen=True)
class SynthFaces:
    """The generator at a fixed resolution: ``SynthFaces(64).render(seed)``."""

    resolution: int = 64

    def __post_init__(self) -> None:
        _check(0, self.resolution)

    def render(self, seed: int) -> SynthFace:
        """Render face ``seed`` at this generator's resolution."""
        return render(seed, self.resolution)

    def captions(self, seed: int) -> tuple[str, ...]:
        """The ten captions of face ``seed`` without drawing it (those of ``render(seed)``)."""
        _check(seed, self.resolution)
        return make_captions(sample(seed), _generator(seed, _CAPTIONS))
