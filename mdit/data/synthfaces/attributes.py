"""The sampled factors of a SynthFaces face: shapes (what the mask shows) and colours (what only the text says).

Shapes and colours are sampled independently, so a mask never reveals a colour
and a caption never pins down the geometry: both conditions are needed to
reproduce a face. Sizes are in face-local units (face half-width = 1).
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass

import numpy as np

RGB = tuple[int, int, int]

HAIR_COLOURS: dict[str, RGB] = {
    "black": (30, 26, 26),
    "brown": (105, 68, 40),
    "blond": (222, 190, 120),
    "red": (170, 62, 32),
    "grey": (150, 150, 150),
    "white": (232, 230, 225),
}
SKIN_TONES: dict[str, RGB] = {
    "pale": (246, 222, 205),
    "fair": (234, 192, 160),
    "tan": (200, 145, 100),
    "brown": (145, 98, 66),
    "dark": (92, 60, 42),
}
LIP_COLOURS: dict[str, RGB] = {
    "red": (190, 35, 45),
    "pink": (225, 120, 145),
    "purple": (125, 45, 100),
    "coral": (235, 110, 85),
    "nude": (190, 130, 115),
}
EYE_COLOURS: dict[str, RGB] = {
    "brown": (95, 60, 30),
    "blue": (60, 110, 190),
    "green": (60, 140, 80),
    "grey": (125, 135, 145),
    "hazel": (150, 115, 50),
}
BACKGROUND_COLOURS: dict[str, RGB] = {
    "white": (238, 238, 235),
    "grey": (140, 140, 140),
    "blue": (80, 120, 200),
    "green": (90, 160, 100),
    "yellow": (235, 205, 90),
    "pink": (235, 160, 190),
    "black": (25, 25, 28),
    "beige": (215, 195, 160),
}
CLOTHES_COLOURS: dict[str, RGB] = {
    "black": (28, 28, 32),
    "white": (240, 240, 240),
    "blue": (40, 70, 170),
    "red": (190, 35, 40),
    "green": (40, 130, 60),
    "grey": (125, 125, 130),
    "yellow": (230, 190, 40),
    "purple": (110, 50, 150),
}
METAL_COLOURS: dict[str, RGB] = {"gold": (212, 175, 55), "silver": (192, 192, 200)}

GENDERS = ("woman", "man", "person")
FACE_SHAPES: dict[str, tuple[float, float]] = {"oval": (1.28, 1.38), "round": (1.10, 1.20), "long": (1.42, 1.55)}
HAIR_STYLES = ("short", "bob", "long", "bald")
HAIR_STYLE_P: dict[str, tuple[float, ...]] = {
    "woman": (0.28, 0.25, 0.43, 0.04),
    "man": (0.60, 0.10, 0.10, 0.20),
    "person": (0.35, 0.25, 0.30, 0.10),
}
EARRING_P: dict[str, float] = {"woman": 0.6, "man": 0.15, "person": 0.35}
NECKLACE_P: dict[str, float] = {"woman": 0.3, "man": 0.1, "person": 0.2}
EYE_SIZES: dict[str, float] = {"small": 0.82, "medium": 1.0, "big": 1.2}
NECKLINES = ("round", "v", "low")


@dataclass(frozen=True)
class Colour:
    """A named colour: ``nominal`` is the palette entry, ``rgb`` the jittered value actually drawn."""

    name: str
    nominal: RGB
    rgb: RGB


@dataclass(frozen=True)
class ShapeAttributes:
    """Every geometric factor; the label map is a function of these (and the resolution) only."""

    face_shape: str
    face_aspect: float
    head_x: float
    head_y: float
    head_scale: float
    head_roll_deg: float
    hair_style: str
    fringe: bool
    fringe_tilt: float
    wavy: bool
    wave_phase: float
    hairline: float
    eye_shape: str
    eye_size: str
    eye_spacing: float
    eye_height: float
    brow_shape: str
    brow_thickness: str
    brow_gap: float
    nose_size: str
    nose_length: float
    mouth: str
    mouth_width: float
    mouth_height: float
    lip_fullness: float
    ear_size: float
    neck_width: float
    neckline: str
    hat: bool
    eyeglasses: bool
    glasses_shape: str
    earrings: bool
    necklace: bool

    @property
    def ears_visible(self) -> bool:
        """Bob and long hair cover the ears (and so hide any earrings)."""
        return self.hair_style in ("short", "bald")


@dataclass(frozen=True)
class ColourAttributes:
    """Every colour and lighting factor; none of them changes the label map."""

    hair: Colour
    skin: Colour
    lips: Colour
    eyes: Colour
    background: Colour
    clothes: Colour
    hat: Colour
    metal: Colour
    light_angle: float
    light_strength: float


@dataclass(frozen=True)
class FaceAttributes:
    """All sampled factors of one face: the gender word, the shapes and the colours."""

    gender: str
    shape: ShapeAttributes
    colours: ColourAttributes


def pick_index(rng: np.random.Generator, count: int, p: tuple[float, ...] | None = None) -> int:
    """An index in 0..count-1, uniform or with probabilities ``p``: the draw of ``rng.choice(count, p=p)`` (one
    ``integers`` call, or one ``random`` call looked up in the cumulative distribution), without its checks."""
    if p is None:
        return int(rng.integers(count))
    return bisect.bisect_right(_cumulative(p), rng.random())


@functools.cache
def _cumulative(p: tuple[float, ...]) -> list[float]:
    total = np.cumsum(p)
    return (total / total[-1]).tolist()


def _pick(rng: np.random.Generator, options: tuple[str, ...], p: tuple[float, ...] | None = None) -> str:
    return options[pick_index(rng, len(options), p)]


def _colour(rng: np.random.Generator, palette: dict[str, RGB]) -> Colour:
    name = _pick(rng, tuple(palette))
    nominal = palette[name]
    jitter = rng.integers(-10, 11, size=3)
    rgb = tuple(int(v) for v in np.clip(np.asarray(nominal) + jitter, 0, 255))
    return Colour(name, nominal, rgb)  # type: ignore[arg-type]


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return round(float(rng.uniform(low, high)), 4)


def sample_shape(rng: np.random.Generator, gender: str) -> ShapeAttributes:
    """Sample the geometry; the gender only skews hair length and jewellery frequencies."""
    face_shape = _pick(rng, tuple(FACE_SHAPES), (0.45, 0.30, 0.25))
    hair_style = _pick(rng, HAIR_STYLES, HAIR_STYLE_P[gender])
    ears_visible = hair_style in ("short", "bald")
    return ShapeAttributes(
        face_shape=face_shape,
        face_aspect=_uniform(rng, *FACE_SHAPES[face_shape]),
        head_x=_uniform(rng, -0.07, 0.07),
        head_y=_uniform(rng, -0.10, -0.02),
        head_scale=_uniform(rng, 0.92, 1.08),
        head_roll_deg=_uniform(rng, -7.0, 7.0),
        hair_style=hair_style,
        fringe=hair_style != "bald" and bool(rng.random() < 0.35),
        fringe_tilt=_uniform(rng, -0.15, 0.15),
        wavy=hair_style != "bald" and bool(rng.random() < 0.3),
        wave_phase=_uniform(rng, 0.0, 2 * math.pi),
        hairline=_uniform(rng, 0.58, 0.70),
        eye_shape=_pick(rng, ("round", "almond")),
        eye_size=_pick(rng, tuple(EYE_SIZES), (0.25, 0.5, 0.25)),
        eye_spacing=_uniform(rng, 0.38, 0.46),
        eye_height=_uniform(rng, -0.16, -0.08),
        brow_shape=_pick(rng, ("straight", "arched", "angled")),
        brow_thickness=_pick(rng, ("thin", "thick")),
        brow_gap=_uniform(rng, 0.21, 0.27),
        nose_size=_pick(rng, ("small", "big"), (0.6, 0.4)),
        nose_length=_uniform(rng, 0.28, 0.36),
        mouth=_pick(rng, ("closed", "smiling", "open"), (0.4, 0.3, 0.3)),
        mouth_width=_uniform(rng, 0.30, 0.42),
        mouth_height=_uniform(rng, 0.58, 0.66),
        lip_fullness=_uniform(rng, 0.8, 1.2),
        ear_size=_uniform(rng, 0.9, 1.15),
        neck_width=_uniform(rng, 0.45, 0.58),
        neckline=_pick(rng, NECKLINES),
        hat=bool(rng.random() < 0.15),
        eyeglasses=bool(rng.random() < 0.25),
        glasses_shape=_pick(rng, ("round", "square")),
        earrings=ears_visible and bool(rng.random() < EARRING_P[gender]),
        necklace=bool(rng.random() < NECKLACE_P[gender]),
    )


def sample_colours(rng: np.random.Generator) -> ColourAttributes:
    """Sample every colour independently of the shapes and of each other."""
    return ColourAttributes(
        hair=_colour(rng, HAIR_COLOURS),
        skin=_colour(rng, SKIN_TONES),
        lips=_colour(rng, LIP_COLOURS),
        eyes=_colour(rng, EYE_COLOURS),
        background=_colour(rng, BACKGROUND_COLOURS),
        clothes=_colour(rng, CLOTHES_COLOURS),
        hat=_colour(rng, CLOTHES_COLOURS),
        metal=_colour(rng, METAL_COLOURS),
        light_angle=_uniform(rng, 0.0, 2 * math.pi),
        light_strength=_uniform(rng, 0.06, 0.14),
    )


def sample_attributes(rng: np.random.Generator) -> FaceAttributes:
    """Sample a whole face: gender, then shapes, then colours (from one seeded generator)."""
    gender = _pick(rng, GENDERS, (0.45, 0.45, 0.10))
    shape = sample_shape(rng, gender)
    return FaceAttributes(gender=gender, shape=shape, colours=sample_colours(rng))
