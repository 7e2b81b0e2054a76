"""A tiny CelebAMask-HQ + Multi-Modal-CelebA-HQ tree on disk for the loader tests, in the layouts as released:
small images, overlapping part PNGs in several PNG modes, one missing part, captions with mis-encoded lines under
text/celeba-caption/ (or flattened to text/), split pickles of names without extension and a mapping file; on
request (``write_sketches``) the release's sketch/ folder: one dark-on-white line drawing per id."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_IDS = (0, 1, 2, 2000, 4001)  # three part folders: 0/, 1/, 2/
# orig_idx per id, on the CelebA partition bounds: train 0, 4001; val 1, 2; test 2000.
ORIG_IDX = {0: 162_769, 1: 162_770, 2: 182_636, 2000: 182_637, 4001: 5}
MISSING_PART = (1, "l_ear")  # id 1 has no l_ear file; no id has a hat

# Part boxes in sixteenths of the part size, (row0, row1, col0, col1), half-open. The image's left is the subject's
# right: r_eye / r_ear sit at small columns.
BOXES: dict[str, list[tuple[int, int, int, int]]] = {
    "skin": [(4, 12, 4, 12)],
    "nose": [(7, 9, 7, 9)],
    "l_eye": [(6, 7, 9, 11)],
    "r_eye": [(6, 7, 5, 7)],
    "l_ear": [(6, 9, 12, 13)],
    "r_ear": [(6, 9, 3, 4)],
    "hair": [(0, 5, 2, 14), (0, 16, 4, 5)],  # a cap over the skin's top row, a strand down the image's left
    "cloth": [(11, 16, 0, 16)],
}
PART_MODES = {"hair": "RGB", "cloth": "P", "l_eye": "RGBA"}  # the others are written as L
# Probe pixels in sixteenths (row, col) and the label each must get.
PROBES = {
    "skin only": ((10, 10), 1),
    "hair over skin": ((4, 8), 13),
    "cloth over skin and hair": ((11, 4), 18),
    "hair, no skin": ((1, 3), 13),
    "l_eye on the image's right": ((6, 9), 4),
    "r_eye on the image's left": ((6, 5), 5),
    "background": ((2, 0), 0),
}
CAPTION_DIRS = {"release": "text/celeba-caption", "flat": "text"}  # where each layout keeps <id>.txt
BAD_CAPTIONS = ("a woman with blond hair \ufffd\ufffd and a smile", "the woman\u00e2\u20ac\u2122s hair is black")
CLEAN_CAPTIONS = ("a woman with blond hair and a smile", "the woman's hair is black")


SKETCH_DIR = "sketch"  # beside text/ in the MM-CelebA-HQ release


@dataclass(frozen=True)
class CelebaTree:
    root: Path  # CelebAMask-HQ
    mm_root: Path  # Multi-Modal-CelebA-HQ
    ids: tuple[int, ...]
    image_size: int
    part_size: int
    layout: str = "release"  # a key of CAPTION_DIRS

    @property
    def anno_root(self) -> Path:
        return self.root / "CelebAMask-HQ-mask-anno"

    @property
    def caption_root(self) -> Path:
        return self.mm_root / CAPTION_DIRS[self.layout]

    def caption_path(self, idx: int) -> Path:
        return self.caption_root / f"{idx}.txt"

    @property
    def mapping_file(self) -> Path:
        return self.root / "CelebA-HQ-to-CelebA-mapping.txt"

    def image_path(self, idx: int) -> Path:
        return self.root / "CelebA-HQ-img" / f"{idx}.jpg"

    def part_path(self, idx: int, part: str) -> Path:
        return self.anno_root / str(idx // 2000) / f"{idx:05d}_{part}.png"

    def sketch_path(self, idx: int, suffix: str = ".png") -> Path:
        return self.mm_root / SKETCH_DIR / f"{idx}{suffix}"

    def probe(self, name: str) -> tuple[tuple[int, int], int]:
        """((row, col) in part pixels, expected label) of a named probe."""
        (row, col), label = PROBES[name]
        return (row * self.part_size // 16, col * self.part_size // 16), label


def part_mask(part: str, size: int) -> np.ndarray:
    """Boolean inside-map of ``part`` at ``size`` x ``size``."""
    inside = np.zeros((size, size), dtype=bool)
    for row0, row1, col0, col1 in BOXES[part]:
        inside[row0 * size // 16 : row1 * size // 16, col0 * size // 16 : col1 * size // 16] = True
    return inside


def write_part(path: Path, inside: np.ndarray, mode: str = "L") -> None:
    """One part PNG, 255 inside and 0 outside, in ``mode`` (L, RGB, RGBA or P)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = inside.astype(np.uint8) * 255
    if mode == "P":  # index 0 is white: the colours, not the indices, say what is inside
        image = Image.fromarray((~inside).astype(np.uint8), mode="L").convert("P")
        image.putpalette([255, 255, 255, 0, 0, 0])
    elif mode == "RGBA":
        image = Image.fromarray(np.dstack([values, values, values, np.full_like(values, 255)]), mode="RGBA")
    else:
        image = Image.fromarray(values).convert(mode)
    image.save(path)


def face_image(idx: int, size: int) -> np.ndarray:
    """uint8 [size, size, 3]: a left-right gradient, an id-dependent tint and a red block on the image's right."""
    ramp = np.linspace(0, 200, size, dtype=np.float64)[None, :].repeat(size, 0)
    pixels = np.dstack([ramp, np.full_like(ramp, 40 + 37 * (idx % 5)), 200 - ramp])
    pixels[size // 4 : size // 2, size * 5 // 8 : size * 7 // 8] = (250, 10, 10)
    return pixels.astype(np.uint8)


def sketch_lines(idx: int, size: int) -> np.ndarray:
    """bool [size, size]: a two-pixel horizontal line whose row depends on the id, and a vertical one on column
    size // 2 (pairs of rows and columns, so a 2x area reduction keeps them whole)."""
    lines = np.zeros((size, size), dtype=bool)
    row = 2 * (size // 8 + idx % 3)
    lines[row : row + 2, 2:-2] = True
    lines[4:-4, size // 2 : size // 2 + 2] = True
    return lines


def write_sketches(tree: CelebaTree, size: int, ids: Sequence[int] | None = None, suffix: str = ".png") -> Path:
    """The release's sketch/ folder: ``sketch_lines`` of each id as black lines on white, ``<id><suffix>``."""
    for idx in tree.ids if ids is None else ids:
        path = tree.sketch_path(idx, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.where(sketch_lines(idx, size), 0, 255).astype(np.uint8)).save(path, quality=95)
    return tree.mm_root / SKETCH_DIR


def caption_lines(idx: int) -> list[str]:
    """The raw lines of a caption file: two mis-encoded captions, blank and U+FFFD-only lines, eight plain ones."""
    plain = [f"face {idx} caption {k}" for k in range(8)]
    return [BAD_CAPTIONS[0], "", plain[0], BAD_CAPTIONS[1], " \ufffd ", *plain[1:]]


def write_split_pickles(mm_root: Path, train: Sequence[object], test: Sequence[object]) -> None:
    """train/filenames.pickle and test/filenames.pickle holding these names (the release: '12', no extension)."""
    for split, names in (("train", train), ("test", test)):
        (mm_root / split).mkdir(parents=True, exist_ok=True)
        (mm_root / split / "filenames.pickle").write_bytes(pickle.dumps(list(names)))


def python2_pickle(names: Sequence[str]) -> bytes:
    """A protocol-2 pickle of a list of Python 2 ``str`` (SHORT_BINSTRING opcodes), as Python 2 wrote them."""
    items = b"".join(b"U" + bytes([len(name)]) + name.encode("ascii") for name in names)
    return b"\x80\x02]q\x00(" + items + b"e."


def truncate(path: Path, fraction: float = 0.5) -> None:
    """Cut ``path`` to ``fraction`` of its bytes, like an interrupted download."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def write_celeba_tree(
    base: Path, ids: Sequence[int] = DEFAULT_IDS, image_size: int = 64, part_size: int = 32, layout: str = "release"
) -> CelebaTree:
    """Write the tree under ``base`` (``base/CelebAMask-HQ`` and ``base/MM-CelebA-HQ``) and describe it. The split
    pickles hold the ids below 24000 (train) and those from 24000 (test; without any, 24000 and 29999, faces the
    tree does not hold)."""
    tree = CelebaTree(base / "CelebAMask-HQ", base / "MM-CelebA-HQ", tuple(ids), image_size, part_size, layout)
    tree.image_path(0).parent.mkdir(parents=True, exist_ok=True)
    tree.caption_root.mkdir(parents=True, exist_ok=True)
    for idx in ids:
        Image.fromarray(face_image(idx, image_size)).save(tree.image_path(idx), quality=95)
        for part in BOXES:
            if (idx, part) != MISSING_PART:
                write_part(tree.part_path(idx, part), part_mask(part, part_size), PART_MODES.get(part, "L"))
        tree.caption_path(idx).write_text("\n".join(caption_lines(idx)) + "\n", encoding="utf-8")
    rows = [f"{idx:<12d}{ORIG_IDX.get(idx, idx):<10d}{ORIG_IDX.get(idx, idx) + 1:06d}.jpg" for idx in ids]
    tree.mapping_file.write_text("idx         orig_idx  orig_file\n" + "\n".join(rows) + "\n")
    test = [str(i) for i in ids if i >= 24_000] or ["24000", "29999"]
    write_split_pickles(tree.mm_root, [str(i) for i in ids if i < 24_000], test)
    return tree
