"""A folder of faces with masks and captions (MM-FFHQ / MM-FairFace style) as a Dataset in the shared sample format.

Layout under ``root``: ``images/<name>.{jpg,jpeg,png,webp}``, ``masks/<name>.png`` (label ids or palette colours,
any size with the image's aspect ratio), ``captions/<name>.txt`` (one caption a line) and optionally
``splits/{train,val,test}.txt`` (one name a line), ``sketches/<name>.{png,jpg,jpeg}`` (line drawings with the
image's aspect ratio, dark on white or white on black: condition_files.py) and ``keypoints/<name>.json`` (the 20
landmarks in the image's pixels, ``{"keypoints": [[x, y, visible], ...], "size": [W, H]}``). A sample's id is the
position of its name in the sorted list of all image names, so ids do not depend on the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mdit.masks import read_mask

from .checks import Problems, listing
from .condition_sources import ConditionSource
from .face_files import FaceFilesDataset, load_rgb
from .mm_celeba import Captions

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
FOLDER_SPLITS = ("train", "val", "test")
SKETCH_SUFFIXES = (".png", ".jpg", ".jpeg")  # sketches/<name><suffix>: the first found is read


def image_files(root: str | Path) -> dict[str, Path]:
    """``{name: image path}`` of ``<root>/images``, sorted by name; two images with one name are a ValueError."""
    folder = Path(root) / "images"
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder} (it should hold <name>.jpg/.jpeg/.png/.webp)")
    files: dict[str, Path] = {}
    for path in folder.iterdir():
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        if path.stem in files:
            raise ValueError(f"two images named {path.stem!r}: {files[path.stem]} and {path}")
        files[path.stem] = path
    if not files:
        raise FileNotFoundError(f"no image (.jpg, .jpeg, .png, .webp) in {folder}")
    return dict(sorted(files.items()))


def _read_split_file(path: Path, known: dict[str, Path]) -> list[str]:
    """Names listed in a split file (an image suffix on a line is dropped); unknown names are a ValueError."""
    names = []
    for line in path.read_text().splitlines():
        name = line.strip()
        if Path(name).suffix.lower() in IMAGE_SUFFIXES:
            name = Path(name).stem
        if name:
            names.append(name)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"split file {path} names {len(unknown)} images not in images/: {unknown[:10]}")
    return names


def folder_split(root: str | Path, split: str, val_size: int = 0, test_size: int = 0) -> list[str]:
    """Sorted names of ``split``: from ``<root>/splits/<split>.txt`` if ``splits/`` exists, else the sorted names with
    the last ``test_size`` as test, the ``val_size`` before them as val and the rest as train."""
    if split not in FOLDER_SPLITS:
        raise ValueError(f"split must be one of {FOLDER_SPLITS}, got {split!r}")
    root = Path(root)
    files = image_files(root)
    splits = root / "splits"
    if splits.is_dir():
        path = splits / f"{split}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"split file not found: {path} (splits/ exists, so every split used needs one)")
        chosen = _read_split_file(path, files)
        for other in FOLDER_SPLITS:
            if other != split and (splits / f"{other}.txt").is_file():
                shared = sorted(set(chosen) & set(_read_split_file(splits / f"{other}.txt", files)))
                if shared:
                    raise ValueError(f"{path} and {splits / f'{other}.txt'} share {len(shared)} names: {shared[:10]}")
        return sorted(set(chosen))
    if val_size < 0 or test_size < 0 or val_size + test_size >= len(files):
        raise ValueError(
            f"val_size {val_size} + test_size {test_size} must be >= 0 and leave training images of the {len(files)}"
            f" in {root / 'images'}"
        )
    names = list(files)
    train_end, val_end = len(names) - test_size - val_size, len(names) - test_size
    return {"train": names[:train_end], "val": names[train_end:val_end], "test": names[val_end:]}[split]


class FolderDataset(FaceFilesDataset):
    """Images ``names`` of a face folder (default: all) with their masks and captions, center-cropped to squares.

    At construction every selected image's mask and (with ``use_captions``) caption file are checked (``on_missing``
    "skip" / "error", see checks.py); ``on_corrupt`` as CelebAMaskHQDataset; ``cache_dir`` keeps the verdicts.
    ``conditions`` (model.conditions) must be served: from ``sketches/`` and ``keypoints/``, else from
    ``derived_dir`` (`mdit cache-conditions`).
    """

    source = "folder"

    def __init__(
        self,
        root: str | Path,
        names: Sequence[str] | None = None,
        resolution: int = 512,
        caption_mode: str = "random",
        flip_p: float = 0.0,
        on_corrupt: str | None = "skip",
        cache_dir: str | Path | None = None,
        use_captions: bool = True,
        on_missing: str = "skip",
        conditions: Sequence[str] = (),
        derived_dir: str | Path | None = None,
    ) -> None:
        super().__init__(resolution, caption_mode, flip_p)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"face folder not found: {self.root} (it should hold images/, masks/, captions/)")
        files = image_files(self.root)
        self.all_names = list(files)
        self.image_paths = list(files.values())
        position = {name: id_ for id_, name in enumerate(self.all_names)}
        names = self.all_names if names is None else list(names)
        unknown = [name for name in names if name not in position]
        if unknown:
            raise ValueError(f"no image in {self.root / 'images'} for {len(unknown)} names: {unknown[:10]}")
        masks = self.root / "masks"
        if not masks.is_dir():
            raise FileNotFoundError(f"mask folder not found: {masks} (it should hold <name>.png per image)")
        self.captions = Captions(self.root / "captions") if use_captions else None
        cache = Path(cache_dir) if cache_dir is not None else None
        self.use_conditions(conditions, derived_dir)
        self.select([position[name] for name in names], on_missing, on_corrupt, cache)

    def image_path(self, id_: int) -> Path:
        """The image file of sample ``id_`` (its position among all names)."""
        return self.image_paths[id_]

    def mask_path(self, name: str) -> Path:
        """The mask file of image ``name``."""
        return self.root / "masks" / f"{name}.png"

    def face_key(self, id_: int) -> str:
        return self.all_names[id_]

    def published_source(self, kind: str) -> ConditionSource | None:
        if kind == "sketch":
            return ConditionSource(kind, self.root / "sketches", SKETCH_SUFFIXES, False, "the folder's sketches/")
        return ConditionSource(kind, self.root / "keypoints", (".json",), False, "the folder's keypoints/")

    def missing_files(self, ids: Sequence[int]) -> Problems:
        masks = listing(self.root / "masks")
        problems: Problems = {}
        for id_ in ids:
            mask = self.mask_path(self.all_names[id_])
            if mask.name not in masks:
                problems[id_] = [f"no mask {mask} (for image {self.image_paths[id_]})"]
        return problems

    def read(self, id_: int) -> tuple[Image.Image, np.ndarray, str]:
        name = self.all_names[id_]
        mask = read_mask(self.mask_path(name)).numpy()
        return load_rgb(self.image_paths[id_]), mask, f"mask {self.mask_path(name)} of image {self.image_paths[id_]}"
