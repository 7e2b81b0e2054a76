"""CelebAMask-HQ as a Dataset: part PNGs merged into label maps (cached), images checked once, CelebA splits.

Layout under ``root`` (see REFERENCE.md): ``CelebA-HQ-img/{idx}.jpg`` (1024x1024), ``CelebAMask-HQ-mask-anno/
{idx // 2000}/{idx:05d}_{part}.png`` (512x512, 0/255 per part) and ``CelebA-HQ-to-CelebA-mapping.txt``. The image
helpers and the base class ``FaceFilesDataset`` are in ``face_files.py``, shared with the face-folder loader.
Sketches come from MM-CelebA-HQ's ``sketch/`` folder (mm_celeba.py) when it is there, else from `mdit
cache-conditions`, like the keypoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mdit import atomic
from mdit.labels import LABELS, NUM_CLASSES, MaskError

from .checks import Problems, listing
from .condition_sources import ConditionSource
from .decoding import DECODE_ERRORS, strict_decoding
from .face_files import FaceFilesDataset, load_rgb
from .mm_celeba import Captions, sketch_source

IMAGE_DIR = "CelebA-HQ-img"
ANNO_DIR = "CelebAMask-HQ-mask-anno"
MAPPING_FILE = "CelebA-HQ-to-CelebA-mapping.txt"
IDS_PER_ANNO_FOLDER = 2000
PART_NAMES = frozenset(LABELS[1:])
# CelebA's own partition (list_eval_partition.txt) of orig_file N = orig_idx + 1, stated on the 0-based orig_idx.
CELEBA_PARTITION = {"train": range(0, 162_770), "val": range(162_770, 182_637), "test": range(182_637, 1 << 62)}


# ---------------------------------------------------------------------------------------------------- label maps


def part_path(anno_root: str | Path, idx: int, part: str) -> Path:
    """Where CelebAMask-HQ keeps part ``part`` of image ``idx``."""
    return Path(anno_root) / str(idx // IDS_PER_ANNO_FOLDER) / f"{idx:05d}_{part}.png"


def faces_with_parts(anno_root: str | Path, folders: Iterable[int]) -> set[int]:
    """The ids with at least one part PNG where ``merge_parts`` reads it, from one listing per part folder."""
    faces = set()
    for folder in folders:
        for name in listing(Path(anno_root) / str(folder)):
            number, _, part = name.removesuffix(".png").partition("_")
            if not number.isdigit() or part not in PART_NAMES:
                continue
            if name == f"{int(number):05d}_{part}.png" and int(number) // IDS_PER_ANNO_FOLDER == folder:
                faces.add(int(number))
    return faces


def _read_part(path: Path) -> np.ndarray | None:
    """Boolean inside-map of one part PNG (any nonzero colour channel; alpha ignored), or None if the file is absent."""
    try:
        with strict_decoding(), Image.open(path) as image:
            image.load()
            array = np.asarray(image.convert("RGB") if image.mode in ("P", "PA") else image)
    except FileNotFoundError:
        return None
    except DECODE_ERRORS as exc:
        raise MaskError(f"cannot read part file {path}: {exc}") from exc
    if array.ndim == 3:
        return (array[..., :3] if array.shape[2] >= 3 else array[..., :1]).any(axis=2)
    return array != 0


def merge_parts(anno_root: str | Path, idx: int) -> np.ndarray:
    """uint8 label map of image ``idx`` painted from its part files in the official order (later parts win, cloth last).

    A missing part file means the part is absent; no part file at all is FileNotFoundError (every annotated face has
    parts), and part files of different sizes are MaskError naming the odd file.
    """
    if idx < 0:
        raise ValueError(f"CelebAMask-HQ ids are >= 0, got {idx}")
    labels, first = None, None
    for label, part in enumerate(LABELS[1:], start=1):
        path = part_path(anno_root, idx, part)
        inside = _read_part(path)
        if inside is None:
            continue
        if labels is None:
            labels, first = np.zeros(inside.shape, dtype=np.uint8), path
        elif inside.shape != labels.shape:
            raise MaskError(
                f"part file {path} is {inside.shape[0]}x{inside.shape[1]} (height x width) but {first} is "
                f"{labels.shape[0]}x{labels.shape[1]}"
            )
        labels[inside] = label
    if labels is None:
        raise FileNotFoundError(
            f"no part file for CelebAMask-HQ id {idx}: expected {part_path(anno_root, idx, '<part>')} with <part> one "
            f"of {', '.join(LABELS[1:])}"
        )
    return labels


def _read_cached_map(path: Path) -> np.ndarray | None:
    """A cached label map if ``path`` holds a complete 8-bit PNG with ids 0..18, else None (absent or damaged)."""
    try:
        with strict_decoding(), Image.open(path) as image:
            image.load()
            if image.format != "PNG" or image.mode != "L":
                return None
            labels = np.array(image, dtype=np.uint8)
    except DECODE_ERRORS:  # FileNotFoundError included: not cached yet
        return None
    return labels if int(labels.max(initial=0)) < NUM_CLASSES else None


class MergedMaskCache:
    """Merged label maps as 8-bit label-id PNGs ``<folder>/{idx}.png``, written atomically on first use.

    Any number of DataLoader workers may fill it at once (each writes its own temporary file, then renames); a file
    that does not read back completely is rebuilt. The cache is keyed by id only: delete the folder if parts change.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, idx: int) -> Path:
        """The cache file of image ``idx``."""
        return self.folder / f"{idx}.png"

    def get(self, anno_root: str | Path, idx: int) -> np.ndarray:
        """The merged map of ``idx``: from the cache when it reads back, else merged from ``anno_root`` and stored."""
        path = self.path(idx)
        cached = _read_cached_map(path)
        if cached is not None:
            return cached
        labels = merge_parts(anno_root, idx)
        atomic.write_with(path, lambda tmp: Image.fromarray(labels).save(tmp, format="PNG"))
        return labels


# ---------------------------------------------------------------------------------------------------- CelebAMask-HQ


def check_layout(root: str | Path) -> tuple[Path, Path]:
    """(image folder, part-mask folder) of a CelebAMask-HQ root; FileNotFoundError naming whatever is missing."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CelebAMask-HQ root not found: {root} (it should hold {IMAGE_DIR}/ and {ANNO_DIR}/)")
    folders = {IMAGE_DIR: "the images {idx}.jpg", ANNO_DIR: "the part masks {idx // 2000}/{idx:05d}_{part}.png"}
    for name, content in folders.items():
        if not (root / name).is_dir():
            raise FileNotFoundError(f"CelebAMask-HQ folder not found: {root / name} ({content} belong there)")
    return root / IMAGE_DIR, root / ANNO_DIR


class CelebAMaskHQDataset(FaceFilesDataset):
    """CelebAMask-HQ images ``ids`` with merged label maps and MM-CelebA-HQ captions, in the shared sample format.

    ``captions`` None gives caption "". At construction every face's image, part PNGs and caption file are checked
    (``on_missing`` "skip" / "error", see checks.py) and, with ``on_corrupt`` "skip" / "error", its image decoded
    (None: no scan, a bad image raises when read). ``mask_cache`` (a folder) keeps merged maps and the verdicts.
    ``conditions`` (model.conditions) must be served: sketches from ``sketches`` (default: the ``sketch/`` folder
    of the MM-CelebA-HQ release holding the captions), else, like keypoints, from ``derived_dir``.
    """

    source = "celebamask_hq"

    def __init__(
        self,
        root: str | Path,
        ids: Sequence[int],
        resolution: int = 512,
        captions: Captions | None = None,
        caption_mode: str = "random",
        flip_p: float = 0.0,
        mask_cache: str | Path | None = None,
        on_corrupt: str | None = "skip",
        on_missing: str = "skip",
        conditions: Sequence[str] = (),
        derived_dir: str | Path | None = None,
        sketches: ConditionSource | None = None,
    ) -> None:
        super().__init__(resolution, caption_mode, flip_p)
        self.root = Path(root)
        self.image_root, self.anno_root = check_layout(self.root)
        negative = sorted(int(id_) for id_ in ids if int(id_) < 0)
        if negative:
            raise ValueError(f"CelebAMask-HQ ids are >= 0, got {negative[:10]}")
        self.captions = captions
        self.sketches = sketches if sketches is not None else sketch_source(captions.root) if captions else None
        self.mask_cache = MergedMaskCache(mask_cache) if mask_cache is not None else None
        self.use_conditions(conditions, derived_dir)
        self.select(ids, on_missing, on_corrupt, Path(mask_cache) if mask_cache is not None else None)

    def image_path(self, id_: int) -> Path:
        """The image file of ``id_``."""
        return self.image_root / f"{id_}.jpg"

    def face_key(self, id_: int) -> str:
        return str(id_)

    def published_source(self, kind: str) -> ConditionSource | None:
        return self.sketches if kind == "sketch" else None

    def missing_files(self, ids: Sequence[int]) -> Problems:
        images = listing(self.image_root)
        with_parts = faces_with_parts(self.anno_root, {id_ // IDS_PER_ANNO_FOLDER for id_ in ids})
        problems: Problems = {}
        for id_ in ids:
            if self.image_path(id_).name not in images:
                problems.setdefault(id_, []).append(f"no image {self.image_path(id_)}")
            if id_ not in with_parts:
                problems.setdefault(id_, []).append(f"no part PNG {part_path(self.anno_root, id_, '<part>')}")
        return problems

    def label_map(self, id_: int) -> np.ndarray:
        """The merged uint8 label map of ``id_`` at the part files' size (512x512), cached when a cache is set."""
        if self.mask_cache is not None:
            return self.mask_cache.get(self.anno_root, id_)
        return merge_parts(self.anno_root, id_)

    def read(self, id_: int) -> tuple[Image.Image, np.ndarray, str]:
        return load_rgb(self.image_path(id_)), self.label_map(id_), f"merged mask of {self.image_path(id_)}"


# ---------------------------------------------------------------------------------------------------- splits


def read_mapping(mapping_file: str | Path) -> dict[int, int]:
    """``{CelebA-HQ idx: CelebA orig_idx}`` from CelebA-HQ-to-CelebA-mapping.txt (header, then ``idx orig_idx
    orig_file``); each orig_file must be orig_idx + 1 (``119614.jpg`` for 119613), which pins the 0-based reading."""
    path = Path(mapping_file)
    if not path.is_file():
        raise FileNotFoundError(f"CelebA-HQ mapping file not found: {path} (the {MAPPING_FILE} of CelebAMask-HQ)")
    mapping = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or (number == 1 and not fields[0].isdigit()):
            continue
        try:
            idx, orig_idx = int(fields[0]), int(fields[1])
            orig_number = int(Path(fields[2]).stem) if len(fields) > 2 else orig_idx + 1
        except (ValueError, IndexError):
            raise ValueError(f"{path}:{number}: expected 'idx orig_idx orig_file', got {line.strip()!r}") from None
        if orig_number != orig_idx + 1:
            raise ValueError(f"{path}:{number}: orig_file {fields[2]} is not orig_idx {orig_idx} + 1")
        mapping[idx] = orig_idx
    if not mapping:
        raise ValueError(f"CelebA-HQ mapping file {path} holds no rows")
    return mapping


def celeba_split(mapping_file: str | Path, split: str) -> list[int]:
    """Sorted CelebA-HQ ids in CelebA's ``split`` ("train", "val", "test"), decided by each image's orig_idx.

    Bounds: train orig_idx 0..162769, val 162770..182636, test 182637.. (CelebA's partition of files 1..202599).
    CelebAMask-HQ's g_partition.py compares the 0-based orig_idx with the 1-based bounds 162771 / 182638, so it
    differs from this for orig_idx 162770 and 182637 only.
    """
    if split not in CELEBA_PARTITION:
        raise ValueError(f"CelebA split must be one of {tuple(CELEBA_PARTITION)}, got {split!r}")
    allowed = CELEBA_PARTITION[split]
    return sorted(idx for idx, orig_idx in read_mapping(mapping_file).items() if orig_idx in allowed)
