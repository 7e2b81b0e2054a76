"""Faces stored as files: full decoding, the corrupt-image scan, square fitting, and FaceFilesDataset, the base of
the CelebAMask-HQ and face-folder datasets (every face's files checked when the dataset is built; its sketches and
keypoints served through face_conditions.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mdit.labels import MaskError

from .checks import Problems, cached_verdicts, caption_problems, keep_complete
from .condition_sources import FILE_KINDS, ConditionSource, derived_source
from .decoding import DECODE_ERRORS, strict_decoding
from .face_conditions import FaceConditions
from .faces import FaceDataset
from .mm_celeba import Captions

logger = logging.getLogger(__name__)

SCAN_CACHE_NAME = "image_scan.json"
ON_CORRUPT = ("skip", "error")


class CorruptImageError(ValueError):
    """An image file exists but does not decode completely (truncated, damaged, not an image)."""


# ---------------------------------------------------------------------------------------------------- decoding


def load_rgb(path: str | Path) -> Image.Image:
    """Fully decode ``path`` as RGB: FileNotFoundError if missing, CorruptImageError naming it if undecodable."""
    try:
        with strict_decoding(), Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except DECODE_ERRORS as exc:
        raise CorruptImageError(f"cannot decode image {path}: {exc}") from exc


def _decodes(path: Path) -> bool:
    """Whether ``path`` decodes to the end; JPEGs decode at 1/8 scale (DCT scaling still reads every byte).

    Measured on a shared 2-core CPU: a 1024x1024, 194 KiB JPEG takes about 2.6 ms this way against 3.9 ms for a
    full decode, so a scan of the 30000 CelebA-HQ images is roughly 1.5 minutes plus disk reads (cached after).
    """
    try:
        with strict_decoding(), Image.open(path) as image:
            if image.format == "JPEG":
                image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
        return True
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except DECODE_ERRORS:
        return False


def scan_images(paths: Sequence[str | Path]) -> list[Path]:
    """The paths among ``paths`` that do not decode completely (a missing file is FileNotFoundError)."""
    return [Path(path) for path in paths if not _decodes(Path(path))]


def usable_ids(
    ids: Sequence[int], path_of: Callable[[int], Path], on_corrupt: str, cache_file: str | Path | None = None
) -> list[int]:
    """``ids`` whose image (``path_of(id)``) decodes: "skip" drops the others with one logged warning, "error" raises
    CorruptImageError naming them. ``cache_file`` (JSON, keyed by file name, size and mtime) makes rescans cheap."""
    if on_corrupt not in ON_CORRUPT:
        raise ValueError(f"on_corrupt must be one of {ON_CORRUPT}, got {on_corrupt!r}")
    paths = [Path(path_of(id_)) for id_ in ids]
    cache = Path(cache_file) if cache_file is not None else None
    verdicts = cached_verdicts(list(dict.fromkeys(paths)), cache, _decodes)
    bad = {path for path, ok in verdicts.items() if not ok}
    if not bad:
        return list(ids)
    names = sorted(str(path) for path in bad)
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    if on_corrupt == "error":
        raise CorruptImageError(f"{len(names)} corrupt image(s) (on_corrupt='error'): {shown}")
    logger.warning("skipping %d corrupt image(s) of %d: %s", len(names), len(set(paths)), shown)
    return [id_ for id_, path in zip(ids, paths, strict=True) if path not in bad]


def fit_square(
    image: Image.Image, mask: np.ndarray, resolution: int, name: str | Path
) -> tuple[np.ndarray, np.ndarray]:
    """Center-crop an RGB image and its mask to squares and resize them to ``resolution`` (LANCZOS / NEAREST).

    The mask may be smaller or larger than the image but must have its aspect ratio (else MaskError starting with
    ``name``, which says which files these are).
    """
    width, height = image.size
    mask_height, mask_width = mask.shape
    if width * mask_height != height * mask_width:
        raise MaskError(
            f"{name}: the mask is {mask_width}x{mask_height} but the image is {width}x{height} (width x height); "
            "their aspect ratios differ"
        )
    side, mask_side = min(width, height), min(mask_width, mask_height)
    left, top = (width - side) // 2, (height - side) // 2
    mask_left, mask_top = (mask_width - mask_side) // 2, (mask_height - mask_side) // 2
    image = image.crop((left, top, left + side, top + side))
    mask = mask[mask_top : mask_top + mask_side, mask_left : mask_left + mask_side]
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), Image.LANCZOS)
    if mask.shape != (resolution, resolution):
        mask = np.array(Image.fromarray(mask.astype(np.uint8)).resize((resolution, resolution), Image.NEAREST))
    return np.array(image), mask  # writable copies: torch.from_numpy warns on read-only arrays


class FaceFilesDataset(FaceDataset):
    """Faces stored as files, by sample id, fitted to ``resolution`` squares; FaceDataset draws captions and flips.

    Subclasses set ``source`` and ``captions`` (None: caption "") and implement ``image_path(id)``,
    ``face_key(id)``, ``missing_files(ids)`` and ``read(id) -> (RGB image, label map, name for errors)``, and
    ``published_source(kind)`` where the data set ships sketches or keypoints; they call ``use_conditions`` and then
    ``select`` once with their ids.
    """

    captions: Captions | None = None

    def __init__(self, resolution: int, caption_mode: str, flip_p: float) -> None:
        super().__init__(caption_mode, flip_p)
        if resolution < 1:
            raise ValueError(f"resolution must be positive, got {resolution}")
        self.resolution = resolution
        self.ids: list[int] = []
        self.conditions = FaceConditions(type(self).__name__, {})

    def image_path(self, id_: int) -> Path:
        raise NotImplementedError

    def read(self, id_: int) -> tuple[Image.Image, np.ndarray, str]:
        raise NotImplementedError

    def face_key(self, id_: int) -> str:
        """The name of face ``id_``'s files without their extension: a CelebA-HQ id, a folder's image name."""
        raise NotImplementedError

    def caption_key(self, id_: int) -> str:
        """The name of face ``id_``'s caption file, without ``.txt``."""
        return self.face_key(id_)

    def published_source(self, kind: str) -> ConditionSource | None:
        """Where the data set itself keeps ``kind`` ("sketch", "keypoints") files, if it may have them."""
        return None

    def use_conditions(self, conditions: Sequence[str], derived_dir: str | Path | None) -> None:
        """Serve sketches and keypoints from the published folders, else from ``derived_dir`` (`mdit
        cache-conditions`; None: none); each kind of ``conditions`` (model.conditions) must have one
        (MissingConditionsError naming the folders and the command). Call before ``select``."""
        places = {}
        for kind in FILE_KINDS:
            published = self.published_source(kind)
            derived = derived_source(kind, derived_dir) if derived_dir is not None else None
            places[kind] = [place for place in (published, derived) if place is not None]
        self.conditions = FaceConditions(self.source, places, conditions)

    def published_conditions(self) -> tuple[str, ...]:
        """The kinds the data set ships files of (their folder exists): `mdit cache-conditions` derives the others."""
        return tuple(
            kind for kind in FILE_KINDS if (place := self.published_source(kind)) is not None and place.folder.is_dir()
        )

    def missing_files(self, ids: Sequence[int]) -> Problems:
        """What is missing among the image and mask files of each face id."""
        raise NotImplementedError

    def _problems(self, ids: Sequence[int], cache_dir: Path | None) -> Problems:
        """``missing_files``, what required condition files each face lacks and, with captions, what is wrong with
        each face's caption file."""
        problems = self.missing_files(ids)
        for id_, found in self.conditions.problems({id_: self.face_key(id_) for id_ in ids}).items():
            problems.setdefault(id_, []).extend(found)
        if self.captions is not None:
            keys = {id_: self.caption_key(id_) for id_ in ids}
            for id_, found in caption_problems(self.captions, keys, cache_dir).items():
                problems.setdefault(id_, []).extend(found)
        return problems

    def select(self, ids: Sequence[int], on_missing: str, on_corrupt: str | None, cache_dir: Path | None) -> None:
        """Use ``ids`` less the faces whose files are missing or empty (``on_missing``, see checks.keep_complete)
        and those whose image does not decode (``on_corrupt``, see ``usable_ids``; None: no scan). The verdicts
        are cached in ``cache_dir`` (None: no cache)."""
        ids = [int(id_) for id_ in ids]
        ids = keep_complete(ids, self._problems(ids, cache_dir), on_missing, self.source)
        if on_corrupt is not None and ids:
            ids = usable_ids(ids, self.image_path, on_corrupt, cache_dir / SCAN_CACHE_NAME if cache_dir else None)
        if not ids:
            raise ValueError(f"{type(self).__name__}: no sample ids (empty split, or every face skipped)")
        self.conditions.keep_covering(ids)
        self.ids = ids

    def captions_of(self, index: int) -> list[str]:
        return self.captions.get(self.caption_key(self.sample_id(index))) if self.captions is not None else [""]

    def __len__(self) -> int:
        return len(self.ids)

    def sample_id(self, index: int) -> int:
        return self.ids[self._check_index(index)]

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image, mask, name = self.read(self.sample_id(index))
        return fit_square(image, mask, self.resolution, name)

    def image_size(self, id_: int) -> tuple[int, int]:
        """(width, height) of face ``id_``'s image file, from its header."""
        with Image.open(self.image_path(id_)) as image:
            return image.size

    def load_conditions(self, index: int) -> dict[str, np.ndarray]:
        """The face's sketch (float32 [R, R], 1 = line) and keypoints (float32 [20, 3]) that this data set serves
        (``conditions.kinds``), unflipped, fitted to its square as its image is."""
        id_ = self.sample_id(index)
        published = any(not self.conditions.sources[kind].derived for kind in self.conditions.kinds)
        return self.conditions.read(id_, self.image_size(id_) if published else None, self.resolution)
