"""Sketch and keypoint files read into the sample format: sketch float32 [H, W] in [0, 1] (1 = line), keypoints
float32 [20, 3] (x, y, visible) in pixels of an H x W image (mdit.keypoints).

Both readers fit a file to the size asked for the way an image is fitted to its square: the largest centred box
of the target's aspect ratio, then scaled (sketches by area averaging). The data loaders and `mdit generate
--sketch / --keypoints` read through them.

Sketch files: any greyscale or colour PNG or JPEG. Paper is what most pixels are: dark lines on white (as
MM-CelebA-HQ's sketches and `mdit cache-conditions` store them) and white lines on black (an edge map) both read
as 1 = line. Transparent pixels are paper (composited onto white).

Keypoint files: JSON, ``{"keypoints": [[x, y, visible], ... 20 rows in mdit.keypoints.NAMES order], "size": [W,
H]}`` or ``{"size": [W, H], "<name>": [x, y], ...}`` (absent names invisible), in pixels of an image of that size
(x the column, y the row, pixel centres at integers); or a PNG point image as `render_keypoints` draws it
(landmark k a disc of colour mdit.keypoints.COLOURS[k] on black; a colour absent is an invisible landmark, a
landmark's position is the centroid of its colour's pixels).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mdit.keypoints import COLOURS, NAMES, NUM_KEYPOINTS, KeypointError, validate_keypoints

from .decoding import DECODE_ERRORS, strict_decoding

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
Size = int | tuple[int, int]  # (height, width); an int is a square


class SketchFileError(ValueError):
    """A sketch file that does not decode as an image."""


def _height_width(size: Size) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive (height, width), got {size}")
    return height, width


def centre_box(width: int, height: int, size: Size) -> tuple[int, int, int, int]:
    """(left, top, box width, box height) of the largest centred box of ``size``'s aspect ratio in a width x height
    frame; for a square ``size`` the centred square of side min(width, height), as images are cropped."""
    target_h, target_w = _height_width(size)
    box_w = min(width, height * target_w // target_h)
    box_h = min(height, width * target_h // target_w)
    return (width - box_w) // 2, (height - box_h) // 2, box_w, box_h


# ---------------------------------------------------------------------------------------------------- sketches


def _paper_white_grey(image: Image.Image) -> np.ndarray:
    """float64 [h, w] in [0, 1] of any image mode (16-bit greys included; transparent pixels composited on white)."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        return np.clip(np.asarray(image, dtype=np.float64) / 65535.0, 0.0, 1.0)
    if image.mode == "1":
        return np.asarray(image, dtype=np.float64)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def ink_of(grey: np.ndarray) -> np.ndarray:
    """1 = line from greys in [0, 1]: the paper is the majority colour, so a median of at least a half means dark
    lines on white (inverted), below it white lines on black (kept)."""
    return 1.0 - grey if float(np.median(grey)) >= 0.5 else grey


def load_sketch(path: str | Path) -> np.ndarray:
    """The sketch in ``path`` at its own size: float32 [h, w] in [0, 1], 1 = line. FileNotFoundError if absent,
    SketchFileError naming the file if it does not decode."""
    path = Path(path)
    try:
        with strict_decoding(), Image.open(path) as image:
            image.load()
            grey = _paper_white_grey(image)
    except FileNotFoundError:
        raise FileNotFoundError(f"sketch file not found: {path}") from None
    except DECODE_ERRORS as exc:
        raise SketchFileError(f"cannot decode sketch {path} (a PNG or JPEG line drawing): {exc}") from exc
    return ink_of(grey).astype(np.float32)


def fit_sketch(ink: np.ndarray, size: Size) -> np.ndarray:
    """A sketch [h, w] cropped to the centred box of ``size``'s aspect ratio and resized to ``size`` by area
    averaging (PIL's box filter: each output pixel the mean of the input it covers); float32 in [0, 1]."""
    height, width = _height_width(size)
    left, top, box_w, box_h = centre_box(ink.shape[1], ink.shape[0], (height, width))
    box = np.ascontiguousarray(ink[top : top + box_h, left : left + box_w], dtype=np.float32)
    if box.shape != (height, width):
        box = np.asarray(Image.fromarray(box, mode="F").resize((width, height), Image.BOX), dtype=np.float32)
    return np.clip(box, 0.0, 1.0)


def read_sketch(path: str | Path, size: Size) -> np.ndarray:
    """The sketch file ``path`` as float32 [H, W] in [0, 1] (1 = line) for an image of ``size`` (H, W)."""
    return fit_sketch(load_sketch(path), size)


# ---------------------------------------------------------------------------------------------------- keypoints


def _frame_size(value: object, path: Path) -> tuple[int, int]:
    """(width, height) from a JSON "size" entry [W, H]."""
    ok = isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)
    if not ok:
        raise KeypointError(
            f'keypoint file {path}: "size" must be [width, height] in pixels (two positive integers), got {value!r}'
        )
    return int(value[0]), int(value[1])


def _row(value: object, where: str) -> list[float]:
    """One [x, y] or [x, y, visible] entry as [x, y, visible]."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) not in (2, 3):
        raise KeypointError(f"{where} must be [x, y] or [x, y, visible], got {value!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise KeypointError(f"{where} must hold numbers, got {value!r}")
    return [float(value[0]), float(value[1]), float(value[2]) if len(value) == 3 else 1.0]


def _rows_from_names(named: Mapping[str, object], path: Path) -> np.ndarray:
    """[20, 3] from {"<name>": [x, y], ...}; a name not given is invisible (0, 0, 0)."""
    unknown = sorted(set(named) - set(NAMES))
    if unknown:
        raise KeypointError(f"keypoint file {path} names unknown landmarks {unknown}; valid: {', '.join(NAMES)}")
    points = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
    for name, value in named.items():
        points[NAMES.index(name)] = _row(value, f"keypoint file {path}: {name!r}")
    return points


def _rows_from_list(rows: object, path: Path) -> np.ndarray:
    """[20, 3] from a list of 20 [x, y, visible] rows in mdit.keypoints.NAMES order."""
    if not isinstance(rows, list) or len(rows) != NUM_KEYPOINTS:
        count = len(rows) if isinstance(rows, list) else type(rows).__name__
        raise KeypointError(
            f'keypoint file {path}: "keypoints" must be {NUM_KEYPOINTS} rows [x, y, visible] in the order '
            f"{', '.join(NAMES)}; got {count}"
        )
    return np.array([_row(row, f"keypoint file {path}: row {i} ({NAMES[i]})") for i, row in enumerate(rows)])


def _load_json(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeypointError(f"cannot parse keypoint file {path} as JSON: {exc}") from exc
    if not isinstance(data, dict) or "size" not in data:
        raise KeypointError(
            f'keypoint file {path} must be a JSON object with "size": [W, H] and either "keypoints": '
            f'[{NUM_KEYPOINTS} rows [x, y, visible]] or one "<name>": [x, y] per visible landmark'
        )
    size = _frame_size(data["size"], path)
    rest = {key: value for key, value in data.items() if key != "size"}
    if "keypoints" in rest:
        extra = sorted(set(rest) - {"keypoints"})
        if extra:
            raise KeypointError(f'keypoint file {path}: unknown keys {extra} beside "keypoints" and "size"')
        body = rest["keypoints"]
        points = _rows_from_names(body, path) if isinstance(body, dict) else _rows_from_list(body, path)
    else:
        points = _rows_from_names(rest, path)
    return points, size


def _load_point_image(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """Landmark k at the centroid of the pixels of exactly colour COLOURS[k]; absent colours are invisible."""
    try:
        with strict_decoding(), Image.open(path) as image:
            image.load()
            pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except DECODE_ERRORS as exc:
        raise KeypointError(f"cannot decode keypoint image {path}: {exc}") from exc
    height, width = pixels.shape[:2]
    codes = pixels.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    points = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
    for k, colour in enumerate(COLOURS.astype(np.int64)):
        rows, cols = np.nonzero(codes == (colour[0] << 16 | colour[1] << 8 | colour[2]))
        if rows.size:
            points[k] = (cols.mean(), rows.mean(), 1.0)
    if not points[:, 2].any():
        raise KeypointError(
            f"keypoint image {path} holds none of the {NUM_KEYPOINTS} landmark colours (mdit.keypoints.COLOURS, "
            "exact RGB on black, as render_keypoints draws them)"
        )
    return points, (width, height)


def load_keypoint_file(path: str | Path) -> tuple[np.ndarray, tuple[int, int]]:
    """(keypoints float64 [20, 3] in the file's pixels, (width, height) of its frame) from a JSON or PNG keypoint
    file, checked: visible points must lie in the frame (KeypointError naming the file and the landmarks)."""
    path = Path(path)
    try:
        head = path.read_bytes()[: len(PNG_SIGNATURE)]
    except FileNotFoundError:
        raise FileNotFoundError(f"keypoint file not found: {path}") from None
    if head == PNG_SIGNATURE:
        points, (width, height) = _load_point_image(path)
    elif head.startswith(JPEG_SIGNATURE):
        raise KeypointError(
            f"keypoint image {path} is a JPEG: its colours no longer match mdit.keypoints.COLOURS exactly; "
            "give a JSON file or a lossless PNG point image"
        )
    else:
        points, (width, height) = _load_json(path)
    points[points[:, 2] == 0] = 0.0
    try:
        validate_keypoints(points, (height, width))
    except KeypointError as exc:
        raise KeypointError(f"keypoint file {path}: {exc}") from exc
    return points, (width, height)


def fit_keypoints(points: np.ndarray, frame: tuple[int, int], size: Size) -> np.ndarray:
    """Keypoints in pixels of a (width, height) frame -> pixels of ``size`` (H, W), through the centred box
    (``centre_box``): x' = (x - left + 0.5) * W / box_width - 0.5 (pixel centres at integers), y' likewise. Points
    outside the box become invisible; invisible rows are (0, 0, 0)."""
    height, width = _height_width(size)
    left, top, box_w, box_h = centre_box(frame[0], frame[1], (height, width))
    fitted = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
    x, y = np.asarray(points, dtype=np.float64)[:, 0] - left, np.asarray(points, dtype=np.float64)[:, 1] - top
    inside = (points[:, 2] == 1) & (x >= -0.5) & (x <= box_w - 0.5) & (y >= -0.5) & (y <= box_h - 0.5)
    fitted[:, 0] = (x + 0.5) * width / box_w - 0.5
    fitted[:, 1] = (y + 0.5) * height / box_h - 0.5
    fitted[:, 2] = 1.0
    fitted[~inside] = 0.0
    return fitted.astype(np.float32)


def read_keypoints(path: str | Path, size: Size) -> np.ndarray:
    """The keypoint file ``path`` (JSON or PNG point image) as float32 [20, 3] in pixels of an image of ``size``
    (H, W). FileNotFoundError if absent; KeypointError naming the file for anything malformed."""
    points, frame = load_keypoint_file(path)
    return fit_keypoints(points, frame, size)
