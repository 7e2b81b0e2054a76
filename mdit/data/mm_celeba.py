"""Multi-Modal-CelebA-HQ text and sketches: caption files (``<id>.txt``, one caption a line), where they are, the
split, and the release's sketch folder.

The release unpacks its captions to ``text/celeba-caption/<id>.txt`` (some copies are flattened to ``text/<id>.txt``)
and its split to ``train/filenames.pickle`` and ``test/filenames.pickle`` (lists of names without extension). By the
maintainers train is ids 0..23999 and test 24000..29999, but the pickles have been found swapped and other
partitions have been reported: ``data.split_source`` says which to use (``mm_celeba_ids``).

The release's sketches (``sketch/`` beside ``text/``; made with DeepFaceDrawing's pipeline: Photoshop's Photocopy
filter, then sketch simplification) are dark lines on white, one per face, named by the CelebA-HQ id: ``<id>.png``
in the release's listing, ``<id>.jpg`` where the authors' TediGAN code reads them, ``<id>_edges.jpg`` as their
create_sketch.py writes them; all three are accepted (``sketch_source``).

Caption lines are cleaned once, the same way for every data set: ftfy repairs mojibake (``womanâ€™s`` -> ``woman's``),
every run of U+FFFD (what undecodable bytes become) is one space, whitespace is collapsed and empty lines dropped.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ftfy

from .condition_sources import ConditionSource

logger = logging.getLogger(__name__)

MM_TRAIN_IDS = range(0, 24_000)  # by the maintainers; the published pickles have been found swapped
MM_TEST_IDS = range(24_000, 30_000)
MM_SPLITS = {"train": MM_TRAIN_IDS, "test": MM_TEST_IDS}
SPLIT_SOURCES = ("auto", "pickles", "ranges")  # data.split_source
PICKLE_NAME = "filenames.pickle"
# Where the <id>.txt files may be, relative to data.captions: the release's root, a flattened root, its text/
# folder, or the caption folder itself.
CAPTION_LAYOUTS = ("text/celeba-caption", "celeba-caption", "text", ".")
_REPLACEMENT_RUN = re.compile("\ufffd+")
SKETCH_DIR = "sketch"  # beside text/ in the release
SKETCH_SUFFIXES = (".png", ".jpg", "_edges.jpg", "_edges.png")  # after the id; the first found is read


def clean_caption(line: str) -> str:
    """One caption line repaired and normalised; "" when nothing is left."""
    text = _REPLACEMENT_RUN.sub(" ", ftfy.fix_text(line))
    return " ".join(text.split())


def _cleaned(data: bytes) -> list[str]:
    """The non-empty cleaned lines of a caption file's bytes (bytes that are not UTF-8 become a space)."""
    lines = data.decode("utf-8-sig", errors="replace").splitlines()
    return [caption for line in lines if (caption := clean_caption(line))]


def read_captions(path: str | Path) -> list[str]:
    """The cleaned, non-empty captions of one file; bytes that are not UTF-8 become U+FFFD and then a space.

    Raises FileNotFoundError for a missing file and ValueError naming it when no caption is left.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"caption file not found: {path}") from None
    captions = _cleaned(data)
    if not captions:
        raise ValueError(f"caption file {path} holds no caption after cleanup")
    return captions


def caption_count(path: Path) -> int:
    """How many captions ``path`` holds after cleanup (0: only blank lines): the build-time check of a caption file."""
    return len(_cleaned(path.read_bytes()))


def _holds_captions(folder: Path) -> bool:
    """Whether ``folder`` is a folder with at least one ``.txt`` file (stops at the first)."""
    try:
        with os.scandir(folder) as entries:
            return any(entry.name.endswith(".txt") and entry.is_file() for entry in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


def caption_folder(captions: str | Path) -> Path:
    """The folder of the ``<id>.txt`` files under data.captions, which may name the Multi-Modal-CelebA-HQ root
    (``text/celeba-caption/`` as released, or a flat ``text/``), its ``text/`` folder or the caption folder itself.
    FileNotFoundError says every place it looked."""
    root = Path(captions).expanduser()
    places = [root / layout if layout != "." else root for layout in CAPTION_LAYOUTS]
    for place in places:
        if _holds_captions(place):
            return place
    looked = ", ".join(str(place / "<id>.txt") for place in places)
    raise FileNotFoundError(f"no caption files for data.captions={root}: looked for {looked}")


def release_root(caption_dir: str | Path) -> Path:
    """The Multi-Modal-CelebA-HQ root above a caption folder: ``<root>/text/celeba-caption``, ``<root>/celeba-caption``
    and ``<root>/text`` give ``<root>``; any other folder is its own root."""
    root = Path(caption_dir).expanduser()
    if root.name == "celeba-caption":
        root = root.parent
    return root.parent if root.name == "text" else root


def sketch_source(caption_dir: str | Path) -> ConditionSource:
    """The release's sketch folder (``<root>/sketch/``, ``<root>`` the release root above ``caption_dir``)."""
    folder = release_root(caption_dir) / SKETCH_DIR
    return ConditionSource("sketch", folder, SKETCH_SUFFIXES, False, "MM-CelebA-HQ's sketch folder")


class Captions:
    """Captions of a folder of ``<key>.txt`` files, read lazily and kept in a small LRU cache (one per worker)."""

    def __init__(self, text_root: str | Path, cache_size: int = 4096) -> None:
        self.root = Path(text_root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"caption folder not found: {self.root} (it should hold one <id>.txt per image)")
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def path(self, key: int | str) -> Path:
        """The caption file of ``key`` (a CelebA-HQ id or a file name without extension)."""
        return self.root / f"{key}.txt"

    def get(self, key: int | str) -> list[str]:
        """The cleaned captions of ``key``, in file order (errors as in ``read_captions``)."""
        name = str(key)
        if name in self._cache:
            self._cache.move_to_end(name)
            return list(self._cache[name])
        captions = read_captions(self.path(name))
        self._cache[name] = tuple(captions)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return captions


class _NamesUnpickler(pickle.Unpickler):
    """Unpickles plain containers of strings only: a split file never needs to import anything."""

    def find_class(self, module: str, name: str) -> type:
        raise pickle.UnpicklingError(f"refusing to import {module}.{name}: a split pickle holds a list of names")


def _read_names_pickle(path: Path) -> list[int]:
    """CelebA-HQ ids from a pickled list of names like "12", "12.jpg", b"12" or 12 (Python 2 pickles included)."""
    if not path.is_file():
        raise FileNotFoundError(f"split pickle not found: {path} (MM-CelebA-HQ's <split>/filenames.pickle)")
    try:
        with path.open("rb") as file:
            names = _NamesUnpickler(file, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise ValueError(f"cannot read split pickle {path}: {exc}") from exc
    if not isinstance(names, (list, tuple)):
        raise ValueError(f"split pickle {path} holds a {type(names).__name__}, expected a list of names")
    ids = []
    for name in names:
        text = name.decode("latin1") if isinstance(name, bytes) else str(name)
        stem = Path(text.strip()).stem
        if not stem.isdigit():
            raise ValueError(f"split pickle {path} holds {name!r}, not a CelebA-HQ id like '12' or '12.jpg'")
        ids.append(int(stem))
    if not ids:
        raise ValueError(f"split pickle {path} holds no names")
    return ids


def _span(allowed: range) -> str:
    return f"{allowed.start}..{allowed.stop - 1}"


def describe_ids(ids: Sequence[int], allowed: range) -> str:
    """What a split holds against the range it should, e.g. "4 ids, 0..24001, 1 outside 0..23999"."""
    outside = sum(id_ not in allowed for id_ in ids)
    return f"{len(ids)} ids, {min(ids)}..{max(ids)}, {outside} outside {_span(allowed)}"


def _inside(ids: Sequence[int], allowed: range) -> bool:
    return all(id_ in allowed for id_ in ids)


class SplitMismatchError(ValueError):
    """MM-CelebA-HQ's split pickles do not hold the maintainers' ranges: the user must choose data.split_source."""


@dataclass(frozen=True)
class MMSplit:
    """MM-CelebA-HQ's train and test ids and how they were chosen (``source``, as metrics.json records it)."""

    train: list[int]
    test: list[int]
    source: str  # "pickles", "pickles (swapped back)" or "ranges"


def split_root(captions: str | Path) -> Path:
    """The MM-CelebA-HQ folder holding ``train/`` and ``test/`` pickles: ``captions`` (data.captions) or a folder
    above it (data.captions may name the release's root, its text/ folder or text/celeba-caption/)."""
    root = Path(captions).expanduser()
    candidates = [root, root.parent, root.parent.parent]
    for candidate in candidates:
        if any((candidate / split / PICKLE_NAME).is_file() for split in MM_SPLITS):
            return candidate
    looked = ", ".join(str(c / "train" / PICKLE_NAME) for c in candidates)
    raise FileNotFoundError(
        f"no MM-CelebA-HQ split pickles for data.captions={root}: looked for {looked}; "
        f"data.split_source=ranges uses the maintainers' ranges without them"
    )


def _pickle_ids(root: Path) -> dict[str, list[int]]:
    """The ids of each split pickle under ``root``, as published; their ranges are logged."""
    ids = {}
    for name, allowed in MM_SPLITS.items():
        path = root / name / PICKLE_NAME
        ids[name] = _read_names_pickle(path)
        logger.info("MM-CelebA-HQ %s: %s", path, describe_ids(ids[name], allowed))
    shared = sorted(set(ids["train"]) & set(ids["test"]))
    if shared:
        raise ValueError(
            f"MM-CelebA-HQ's split pickles under {root} share {len(shared)} ids ({shared[:10]}): a face cannot be "
            f"both train and test; data.split_source=ranges uses the maintainers' ranges instead"
        )
    return ids


def _mismatch(root: Path, ids: dict[str, list[int]]) -> SplitMismatchError:
    """The error that shows what each pickle holds and the two ways to go on."""
    held = "\n".join(
        f"  {name}: {root / name / PICKLE_NAME} holds {describe_ids(ids[name], allowed)}"
        for name, allowed in MM_SPLITS.items()
    )
    ranges = ", ".join(f"{name} {_span(allowed)}" for name, allowed in MM_SPLITS.items())
    return SplitMismatchError(
        f"MM-CelebA-HQ's split pickles hold neither the maintainers' ranges ({ranges}) nor those swapped:\n{held}\n"
        f"Choose the split with one of:\n"
        f"  data.split_source=pickles  use the pickles as published\n"
        f"  data.split_source=ranges   use the maintainers' ranges ({ranges}; the pickles are not read)"
    )


def mm_celeba_ids(captions: str | Path, source: str = "auto") -> MMSplit:
    """MM-CelebA-HQ's train and test ids (sorted) by data.split_source: "ranges" (the maintainers' 0..23999 /
    24000..29999), "pickles" (train/ and test/filenames.pickle as published) or "auto" (the pickles when they hold
    those ranges, swapped back with a warning when they hold them swapped, else SplitMismatchError). ``captions`` is
    data.captions: the pickles are looked for there and in the folders above it (``split_root``)."""
    if source not in SPLIT_SOURCES:
        raise ValueError(f"split source must be one of {SPLIT_SOURCES}, got {source!r}")
    if source == "ranges":
        return MMSplit(list(MM_TRAIN_IDS), list(MM_TEST_IDS), "ranges")
    root = split_root(captions)
    ids = {name: sorted(values) for name, values in _pickle_ids(root).items()}
    if source == "pickles" or (_inside(ids["train"], MM_TRAIN_IDS) and _inside(ids["test"], MM_TEST_IDS)):
        return MMSplit(ids["train"], ids["test"], "pickles")
    if _inside(ids["train"], MM_TEST_IDS) and _inside(ids["test"], MM_TRAIN_IDS):
        logger.warning(
            "MM-CelebA-HQ's split pickles under %s are swapped (train/ holds test ids, test/ train ids): using them "
            "swapped back (data.split_source=pickles uses them as published)",
            root,
        )
        return MMSplit(ids["test"], ids["train"], "pickles (swapped back)")
    raise _mismatch(root, ids)
