"""Multi-Modal-CelebA-HQ text: caption files (``<text_root>/<key>.txt``, one caption a line) and the train/test split.

Caption lines are cleaned once, the same way for every data set: ftfy repairs mojibake (``womanâ€™s`` -> ``woman's``),
every run of U+FFFD (what undecodable bytes become) is one space, whitespace is collapsed and empty lines dropped.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import ftfy

logger = logging.getLogger(__name__)

MM_TRAIN_IDS = range(0, 24_000)  # by the maintainers; the published pickles have been found swapped
MM_TEST_IDS = range(24_000, 30_000)
MM_SPLITS = {"train": MM_TRAIN_IDS, "test": MM_TEST_IDS}
_REPLACEMENT_RUN = re.compile("\ufffd+")


def clean_caption(line: str) -> str:
    """One caption line repaired and normalised; "" when nothing is left."""
    text = _REPLACEMENT_RUN.sub(" ", ftfy.fix_text(line))
    return " ".join(text.split())


def read_captions(path: str | Path) -> list[str]:
    """The cleaned, non-empty captions of one file; bytes that are not UTF-8 become U+FFFD and then a space.

    Raises FileNotFoundError for a missing file and ValueError naming it when no caption is left.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"caption file not found: {path}") from None
    captions = [
        caption for line in data.decode("utf-8-sig", errors="replace").splitlines() if (caption := clean_caption(line))
    ]
    if not captions:
        raise ValueError(f"caption file {path} holds no caption after cleanup")
    return captions


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
    """CelebA-HQ ids from a pickled list of names like "12", "12.jpg" or b"12" (Python 2 pickles included)."""
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
    return ids


def _outside(ids: Sequence[int], allowed: range) -> list[int]:
    return sorted({i for i in ids if i not in allowed})


def _split_root(root: Path) -> Path:
    """The folder holding ``train/`` and ``test/``: ``root`` itself or, for ``<mm>/text``, its parent."""
    for candidate in (root, root.parent):
        if (candidate / "train" / "filenames.pickle").is_file() or (candidate / "test" / "filenames.pickle").is_file():
            return candidate
    raise FileNotFoundError(f"no MM-CelebA-HQ split under {root} or {root.parent}: expected train/filenames.pickle")


def mm_celeba_split(text_root_or_mm_root: str | Path, split: str) -> list[int]:
    """Sorted CelebA-HQ ids of MM-CelebA-HQ's ``split`` ("train": 0..23999, "test": 24000..29999; there is no val).

    Both pickles are read and checked: swapped pickles are swapped back with a warning; any other id outside its
    split's range is a ValueError naming the pickle and the ids.
    """
    if split not in MM_SPLITS:
        raise ValueError(f"MM-CelebA-HQ split must be one of {tuple(MM_SPLITS)}, got {split!r}")
    root = _split_root(Path(text_root_or_mm_root))
    paths = {name: root / name / "filenames.pickle" for name in MM_SPLITS}
    ids = {name: _read_names_pickle(path) for name, path in paths.items()}
    swapped = all(ids.values()) and not _outside(ids["train"], MM_TEST_IDS) and not _outside(ids["test"], MM_TRAIN_IDS)
    if swapped:
        logger.warning(
            "MM-CelebA-HQ split pickles are swapped (%s holds ids 24000.., %s ids ..23999); using them swapped back",
            paths["train"], paths["test"],
        )  # fmt: skip
        ids = {"train": ids["test"], "test": ids["train"]}
    for name, allowed in MM_SPLITS.items():
        bad = _outside(ids[name], allowed)
        if bad:
            raise ValueError(
                f"split pickle {paths[name]} holds {len(bad)} ids outside {name}'s range "
                f"{allowed.start}..{allowed.stop - 1}: {bad[:10]}"
            )
    return sorted(ids[split])
