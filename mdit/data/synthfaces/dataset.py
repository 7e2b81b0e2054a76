"""SynthFaces as a dataset: faces for a range of seeds, rendered or read from the render cache, and the splits.

Every sample holds the face's sketch and keypoints beside its mask (the SynthFaces renderer draws all three)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mdit.data.faces import FaceDataset

from .face import SynthFaces
from .render_cache import CachedFace, RenderCache, slot_bytes

TRAIN_START, VAL_START, TEST_START = 0, 1_000_000, 2_000_000
TRAIN_MAX = 100_000


class SynthFacesDataset(FaceDataset):
    """Faces for seeds [start, stop) at one resolution, in the shared sample format.

    With ``cache_dir`` each face is rendered once and then read from a RenderCache there (the same bytes).
    """

    source = "synthfaces"

    def __init__(
        self,
        start: int,
        stop: int,
        resolution: int = 64,
        caption_mode: str = "random",
        flip_p: float = 0.0,
        cache_dir: str | Path | None = None,
    ) -> None:
        if not 0 <= start < stop:
            raise ValueError(f"need 0 <= start < stop, got [{start}, {stop})")
        super().__init__(caption_mode, flip_p)
        self.start, self.stop = start, stop
        self.generator = SynthFaces(resolution)
        self.cache = RenderCache(cache_dir, resolution, start, stop) if cache_dir is not None else None

    def __len__(self) -> int:
        return self.stop - self.start

    def seed_of(self, index: int) -> int:
        """The SynthFaces seed behind dataset position ``index``."""
        return self.start + self._check_index(index)

    sample_id = seed_of

    def captions_of(self, index: int) -> list[str]:
        seed = self.seed_of(index)
        held = self.cache.get(seed) if self.cache is not None else None
        return list(held.captions if held is not None else self.generator.captions(seed))

    def face(self, index: int) -> CachedFace:
        """Everything of the face at ``index``: read from the render cache when held, else rendered (and stored)."""
        seed = self.seed_of(index)
        if self.cache is not None and (held := self.cache.get(seed)) is not None:
            return held
        face = self.generator.render(seed)
        if self.cache is not None:
            self.cache.put(seed, face)
        return CachedFace(face.image, face.mask, face.captions, face.sketch, face.keypoints)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        face = self.face(index)
        return face.image, face.mask

    def load_with_captions(self, index: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        face = self.face(index)
        return face.image, face.mask, list(face.captions)

    def load_conditions(self, index: int) -> dict[str, np.ndarray]:
        """The face's sketch (float32 [R, R], 1 = line) and keypoints (float32 [20, 3]), unflipped."""
        face = self.face(index)
        return {"sketch": face.sketch, "keypoints": face.keypoints}

    def load_with_conditions(self, index: int) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, np.ndarray]]:
        face = self.face(index)
        return face.image, face.mask, list(face.captions), {"sketch": face.sketch, "keypoints": face.keypoints}


def render_cache_within(
    cache_dir: str | Path | None, faces: int, resolution: int, cache_gib: float
) -> str | Path | None:
    """``cache_dir`` if a render cache of ``faces`` faces at ``resolution`` takes at most ``cache_gib`` GiB."""
    return cache_dir if faces * slot_bytes(resolution) <= cache_gib * 2**30 else None


def synthfaces_splits(
    resolution: int,
    train_size: int,
    val_size: int,
    test_size: int,
    flip_p: float = 0.0,
    cache_dir: str | Path | None = None,
    cache_gib: float = math.inf,
) -> tuple[SynthFacesDataset, SynthFacesDataset, SynthFacesDataset]:
    """Train/val/test SynthFaces on disjoint seed ranges: [0, train_size), 1e6 + [0, val_size), 2e6 + [0, test_size).

    Train: random captions and optional flips; val/test: fixed captions, no flips. With ``cache_dir``, each split
    whose whole render cache takes at most ``cache_gib`` GiB keeps its rendered faces there.
    """
    if not 0 < train_size <= TRAIN_MAX:
        raise ValueError(f"train_size must be in 1..{TRAIN_MAX}, got {train_size}")
    if not 0 < val_size <= TEST_START - VAL_START or test_size <= 0:
        raise ValueError(f"val_size must be in 1..{TEST_START - VAL_START} and test_size positive")

    def split(start: int, size: int, caption_mode: str, flip: float) -> SynthFacesDataset:
        cache = render_cache_within(cache_dir, size, resolution, cache_gib)
        return SynthFacesDataset(start, start + size, resolution, caption_mode, flip, cache)

    return (
        split(TRAIN_START, train_size, "random", flip_p),
        split(VAL_START, val_size, "fixed", 0.0),
        split(TEST_START, test_size, "fixed", 0.0),
    )
