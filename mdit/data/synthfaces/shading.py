"""Turn a (labels, materials) raster into an RGB image: colours, shading, texture, noise.

Everything is a whole-image vectorised operation: per-region shading uses each
label's centroid and spread (one bincount), hair strands and cloth folds are
sinusoids evaluated only on their pixels, colour drift is a separable
low-frequency field, and per-pixel noise comes from the caller's generator.
"""

from __future__ import annotations

import math

import numpy as np

from mdit.labels import NUM_CLASSES

from .attributes import ColourAttributes
from .layout import Material

EYE_WHITE = (236, 232, 225)
PUPIL = (18, 14, 14)
MOUTH_INSIDE = (95, 25, 30)
TEETH = (235, 230, 218)
FRAME = (35, 35, 40)
GLASS_TINT = (190, 215, 240)
HAIR, CLOTH = 13, 18


def material_colours(colours: ColourAttributes) -> np.ndarray:
    """Base RGB (float32 [len(Material), 3]) of every material for one face."""
    skin = np.asarray(colours.skin.rgb, dtype=np.float32)
    hair = np.asarray(colours.hair.rgb, dtype=np.float32)
    table = {
        Material.BACKGROUND: colours.background.rgb,
        Material.SKIN: skin,
        Material.NECK: 0.88 * skin,
        Material.NOSE: 0.95 * skin,
        Material.EAR: 0.93 * skin,
        Material.LIPS: colours.lips.rgb,
        Material.MOUTH: MOUTH_INSIDE,
        Material.TEETH: TEETH,
        Material.EYE_WHITE: EYE_WHITE,
        Material.IRIS: colours.eyes.rgb,
        Material.PUPIL: PUPIL,
        Material.BROW: 0.6 * hair + 10.0,
        Material.HAIR: hair,
        Material.HAT: colours.hat.rgb,
        Material.FRAME: FRAME,
        Material.LENS: 0.85 * skin + 0.15 * np.asarray(GLASS_TINT, dtype=np.float32),
        Material.METAL: colours.metal.rgb,
        Material.CLOTH: colours.clothes.rgb,
    }
    return np.stack([np.asarray(table[m], dtype=np.float32) for m in Material])


def _region_shading(labels: np.ndarray, xs: np.ndarray, light: tuple[float, float], strength: float) -> np.ndarray:
    """Per-label 'ball' shading times a global light slope: brighter towards the light, mean about 1."""
    n = labels.shape[0]
    flat = labels.ravel()
    x, y = xs[None, :], xs[:, None]
    count = np.maximum(np.bincount(flat, minlength=NUM_CLASSES), 1)
    mx = np.bincount(flat, np.broadcast_to(x, (n, n)).ravel(), NUM_CLASSES) / count
    my = np.bincount(flat, np.broadcast_to(y, (n, n)).ravel(), NUM_CLASSES) / count
    spread = np.bincount(flat, (x * x + y * y).ravel(), NUM_CLASSES) / count - mx * mx - my * my
    radius = np.sqrt(2.0 * np.maximum(spread, 1e-4))
    cx = (mx + 0.35 * radius * light[0]).astype(np.float32)[labels]
    cy = (my + 0.35 * radius * light[1]).astype(np.float32)[labels]
    d2 = ((x - cx) ** 2 + (y - cy) ** 2) * (1.0 / radius**2).astype(np.float32)[labels]
    ball = np.float32(1.0 + 0.8 * strength) - np.float32(1.6 * strength) * np.minimum(d2, np.float32(1.5))
    slope = np.float32(1.0) + np.float32(0.5 * strength) * (light[0] * x + light[1] * y)
    return ball * slope


def _colour_drift(xs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Separable low-frequency multiplicative colour field [H, W, 3], about +-5%."""
    freq = rng.uniform(1.0, 3.5, size=(2, 3)).astype(np.float32)
    phase = rng.uniform(0.0, 2 * math.pi, size=(2, 3)).astype(np.float32)
    amp = rng.uniform(0.015, 0.03, size=(2, 3)).astype(np.float32)
    along_x = amp[0] * np.sin(xs[:, None] * freq[0] + phase[0])  # [W, 3]
    along_y = amp[1] * np.sin(xs[:, None] * freq[1] + phase[1])  # [H, 3]
    return 1.0 + along_y[:, None, :] + along_x[None, :, :]


def _hair_strands(
    labels: np.ndarray, xs: np.ndarray, crown: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Strand texture on hair pixels: stripes radiating from the crown, slightly wavy."""
    rows, cols = np.nonzero(labels == HAIR)
    dx, dy = xs[cols] - crown[0], xs[rows] - crown[1]
    angle = np.arctan2(dx, dy)
    radius = np.sqrt(dx * dx + dy * dy)
    strands = min(60.0, 0.3 * labels.shape[0])
    wobble = 0.6 * np.sin(9.0 * radius + rng.uniform(0, 2 * math.pi))
    stripes = np.sin(strands * angle + wobble + rng.uniform(0, 2 * math.pi))
    return (rows, cols), (1.0 + 0.13 * stripes).astype(np.float32)


def _cloth_folds(labels: np.ndarray, xs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Soft diagonal folds on the clothes."""
    rows, cols = np.nonzero(labels == CLOTH)
    phase = rng.uniform(0, 2 * math.pi)
    folds = np.sin(9.0 * xs[cols] + 4.0 * xs[rows] + phase)
    return (rows, cols), (1.0 + 0.06 * folds).astype(np.float32)


def colourise(
    labels: np.ndarray,
    materials: np.ndarray,
    colours: ColourAttributes,
    crown: tuple[float, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """Paint the uint8 [H, W, 3] image for a raster; shading and noise never cross region borders in colour family."""
    n = labels.shape[0]
    xs = ((np.arange(n, dtype=np.float32) + 0.5) * (2.0 / n) - 1.0).astype(np.float32)
    image = material_colours(colours)[materials]
    light = (math.cos(colours.light_angle), math.sin(colours.light_angle))
    shade = _region_shading(labels, xs, light, colours.light_strength)
    for where, factor in (_hair_strands(labels, xs, crown, rng), _cloth_folds(labels, xs, rng)):
        shade[where] *= factor
    image *= shade[:, :, None]
    image *= _colour_drift(xs, rng)
    image += rng.random(image.shape, dtype=np.float32) * np.float32(10.0) - np.float32(5.0)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
