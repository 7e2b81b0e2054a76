"""Resolution-independent vector shapes rasterised with vectorised numpy.

Frame coordinates: x right, y down, both in [-1, 1] over the image. A Shape is
a bounding box plus an inside-test on coordinate arrays; the Canvas evaluates
the test only inside the box, so small parts stay cheap at 512 px.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Inside = Callable[[np.ndarray, np.ndarray], np.ndarray]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass(frozen=True)
class Shape:
    """A region: ``inside(x, y)`` on broadcastable arrays, nonzero only within ``box``."""

    box: Box
    inside: Inside

    def __and__(self, other: Shape) -> Shape:
        box = (
            max(self.box[0], other.box[0]),
            max(self.box[1], other.box[1]),
            min(self.box[2], other.box[2]),
            min(self.box[3], other.box[3]),
        )
        return Shape(box, lambda x, y: self.inside(x, y) & other.inside(x, y))

    def __or__(self, other: Shape) -> Shape:
        box = (
            min(self.box[0], other.box[0]),
            min(self.box[1], other.box[1]),
            max(self.box[2], other.box[2]),
            max(self.box[3], other.box[3]),
        )
        return Shape(box, lambda x, y: self.inside(x, y) | other.inside(x, y))

    def __sub__(self, other: Shape) -> Shape:
        return Shape(self.box, lambda x, y: self.inside(x, y) & ~other.inside(x, y))


def ellipse(cx: float, cy: float, rx: float, ry: float) -> Shape:
    """Axis-aligned filled ellipse."""
    return Shape(
        (cx - rx, cy - ry, cx + rx, cy + ry),
        lambda x, y: ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0,
    )


def superellipse(cx: float, cy: float, rx: float, ry: float, power: float) -> Shape:
    """|dx/rx|^p + |dy/ry|^p <= 1: a rounded rectangle for p > 2."""
    return Shape(
        (cx - rx, cy - ry, cx + rx, cy + ry),
        lambda x, y: np.abs((x - cx) / rx) ** power + np.abs((y - cy) / ry) ** power <= 1.0,
    )


def wavy_ellipse(cx: float, cy: float, rx: float, ry: float, amplitude: float, waves: int, phase: float) -> Shape:
    """Ellipse whose radius wobbles by ``amplitude`` (relative) ``waves`` times around: curly outlines."""

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = (x - cx) / rx, (y - cy) / ry
        wobble = 1.0 + amplitude * np.sin(waves * np.arctan2(v, u) + phase)
        return u * u + v * v <= wobble * wobble

    pad = 1.0 + amplitude
    return Shape((cx - rx * pad, cy - ry * pad, cx + rx * pad, cy + ry * pad), inside)


FAR = 10.0  # beyond any coordinate used, local or image


def above(y0: float) -> Shape:
    """Half-plane y <= y0 (y grows downwards): clips a shape from below."""
    return Shape((-FAR, -FAR, FAR, y0), lambda x, y: np.broadcast_to(y <= y0, np.broadcast_shapes(x.shape, y.shape)))


def below(y0: float) -> Shape:
    """Half-plane y >= y0: clips a shape from above."""
    return Shape((-FAR, y0, FAR, FAR), lambda x, y: np.broadcast_to(y >= y0, np.broadcast_shapes(x.shape, y.shape)))


def above_curve(curve: Callable[[np.ndarray], np.ndarray]) -> Shape:
    """Points with y <= curve(x): a hairline or fringe edge."""
    return Shape((-FAR, -FAR, FAR, FAR), lambda x, y: y <= curve(x))


def lens(
    cx: float,
    cy: float,
    rx: float,
    up: float,
    down: float,
    bend: float = 0.0,
    tilt: float = 0.0,
    power: float = 1.0,
) -> Shape:
    """Region between two arcs over |x - cx| <= rx: eyes, lips, brows, mouths.

    With t = (x - cx) / rx the centre line is cy + bend * t^2 + tilt * t (bend < 0 lifts
    the ends: a smile), and the region spans up*(1-t^2)^power above it, down*(...) below.
    """

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        t = (x - cx) / rx
        profile = np.clip(1.0 - t * t, 0.0, None) ** power
        centre = cy + bend * t * t + tilt * t
        return (np.abs(t) <= 1.0) & (y >= centre - up * profile) & (y <= centre + down * profile)

    extent = abs(bend) + abs(tilt)
    return Shape((cx - rx, cy - up - extent, cx + rx, cy + down + extent), inside)


@dataclass(frozen=True)
class Lens:
    """The parameters of a `lens`, kept so that points can be read off the region it draws (landmarks)."""

    cx: float
    cy: float
    rx: float
    up: float
    down: float
    bend: float = 0.0
    tilt: float = 0.0
    power: float = 1.0

    @property
    def shape(self) -> Shape:
        """The region: ``lens(...)`` with these parameters."""
        return lens(self.cx, self.cy, self.rx, self.up, self.down, self.bend, self.tilt, self.power)

    def centre_line(self, t: float) -> tuple[float, float]:
        """The centre-line point at t = (x - cx) / rx; t = -1 and 1 are the two ends, where the arcs meet."""
        return self.cx + self.rx * t, self.cy + self.bend * t * t + self.tilt * t


def polygon(points: Sequence[tuple[float, float]]) -> Shape:
    """Filled polygon (even-odd rule), one vectorised test per edge."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    edges = list(zip(points, points[1:] + points[:1], strict=True))

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=bool)
        for (x0, y0), (x1, y1) in edges:
            if y0 == y1:
                continue
            crosses = (y0 > y) != (y1 > y)
            x_at = x0 + (y - y0) * ((x1 - x0) / (y1 - y0))
            result ^= crosses & (x < x_at)
        return result

    return Shape((min(xs), min(ys), max(xs), max(ys)), inside)


def capsule(x0: float, y0: float, x1: float, y1: float, radius: float) -> Shape:
    """Thick line segment with round ends (glasses temples and bridges)."""
    dx, dy = x1 - x0, y1 - y0
    length2 = max(dx * dx + dy * dy, 1e-12)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / length2, 0.0, 1.0)
        return (x - x0 - t * dx) ** 2 + (y - y0 - t * dy) ** 2 <= radius * radius

    return Shape((min(x0, x1) - radius, min(y0, y1) - radius, max(x0, x1) + radius, max(y0, y1) + radius), inside)


@dataclass(frozen=True)
class Pose:
    """Similarity transform from a local frame (e.g. the face, half-width 1) to image coordinates."""

    cx: float
    cy: float
    scale: float
    angle_deg: float = 0.0

    def place(self, shape: Shape) -> Shape:
        """The same region expressed in image coordinates."""
        cos, sin = math.cos(math.radians(self.angle_deg)), math.sin(math.radians(self.angle_deg))

        def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            dx, dy = x - self.cx, y - self.cy
            return shape.inside((dx * cos + dy * sin) / self.scale, (dy * cos - dx * sin) / self.scale)

        x0, y0, x1, y1 = shape.box
        corners = [(x, y) for x in (x0, x1) for y in (y0, y1)]
        px = [self.cx + self.scale * (x * cos - y * sin) for x, y in corners]
        py = [self.cy + self.scale * (x * sin + y * cos) for x, y in corners]
        return Shape((min(px), min(py), max(px), max(py)), inside)

    def point(self, x: float, y: float) -> tuple[float, float]:
        """Image coordinates of a local point."""
        cos, sin = math.cos(math.radians(self.angle_deg)), math.sin(math.radians(self.angle_deg))
        return self.cx + self.scale * (x * cos - y * sin), self.cy + self.scale * (x * sin + y * cos)


class Canvas:
    """Painter's-algorithm raster of two aligned maps: class labels and colour materials."""

    def __init__(self, resolution: int) -> None:
        self.resolution = resolution
        self.coords = ((np.arange(resolution, dtype=np.float32) + 0.5) * (2.0 / resolution) - 1.0).astype(np.float32)
        self.labels = np.zeros((resolution, resolution), dtype=np.uint8)
        self.materials = np.zeros((resolution, resolution), dtype=np.uint8)

    def _span(self, low: float, high: float) -> slice:
        n = self.resolution
        start = max(0, math.floor((low + 1.0) * n / 2.0 - 0.5))
        stop = min(n, math.ceil((high + 1.0) * n / 2.0 + 0.5))
        return slice(start, max(start, stop))

    def paint(self, shape: Shape, label: int, material: int) -> None:
        """Paint ``shape`` over everything drawn so far with one label and one material."""
        x0, y0, x1, y1 = shape.box
        cols, rows = self._span(x0, x1), self._span(y0, y1)
        if cols.start >= cols.stop or rows.start >= rows.stop:
            return
        hit = shape.inside(self.coords[None, cols], self.coords[rows, None])
        hit = np.broadcast_to(hit, (rows.stop - rows.start, cols.stop - cols.start))
        self.labels[rows, cols][hit] = label
        self.materials[rows, cols][hit] = material
