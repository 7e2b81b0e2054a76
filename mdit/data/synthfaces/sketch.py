"""The sketch of a SynthFaces face: a line drawing of the contours of every painted part, float32 [R, R], 1 = line.

The regions are the painted (label, material) pairs: materials refine the labels (iris, pupil, teeth, lens, frame)
and labels split what shares a material (the upper and lower lip), so every contour of the mask is drawn, the
inner ones of eyes, mouth and glasses too. A contour is drawn one pixel wide on the side of the part in front:
a pixel is ink when one of its 4 neighbours shows a region painted before its own (a grey erosion of the paint
depth), so of every two differing neighbours the one in front is inked. Binary (0 or 1): lines are whole pixels,
no anti-aliasing (a 2x canvas would double the painting time). It is read off the canvas the image and mask were
painted on, so it never changes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.morphology import diamond, erosion

from mdit.labels import NUM_CLASSES

from .layout import Material, Part
from .raster import Canvas

_MATERIALS = len(Material)


def paint_depth(labels: np.ndarray, materials: np.ndarray, parts: Sequence[Part]) -> np.ndarray:
    """int16 [R, R]: per pixel, the paint position of the last part of its (label, material); -1 unpainted.

    Two pixels of one region share a depth and regions have distinct depths (a part is the last of one region).
    """
    last = np.full(NUM_CLASSES * _MATERIALS, -1, dtype=np.int16)
    for position, (_, label, material) in enumerate(parts):
        last[label * _MATERIALS + material] = position
    return last[labels.astype(np.intp) * _MATERIALS + materials]


def contour_sketch(canvas: Canvas, parts: Sequence[Part]) -> np.ndarray:
    """The line drawing (float32 [R, R] in {0, 1}) of the parts painted on ``canvas``, ``parts`` in paint order."""
    depth = paint_depth(canvas.labels, canvas.materials, parts)
    behind = erosion(depth, diamond(1), mode="ignore")  # the lowest depth of each pixel and its 4 neighbours
    return (depth > behind).astype(np.float32)
