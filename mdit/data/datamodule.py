"""The dataset base class, SynthFaces on it, the one DataModule of every data source, and THE SAMPLE FORMAT.

Every dataset of the framework (a FaceDataset: SynthFaces here, CelebAMask-HQ and face folders in their
own modules) returns one dict per sample, and the default collate turns a list of them into a batch:

    {
        "image":         float32 tensor [3, H, W], RGB in [-1, 1]
        "mask":          int64 tensor [H, W], official CelebAMask-HQ ids 0..18 (see labels.py)
        "caption":       str (one of the sample's 10 captions; collated to a list of str)
        "id":            int, the dataset id (for SynthFaces: the seed)
        "caption_index": int, which of the 10 captions was returned
        "source":        str, "synthfaces", "celebamask_hq" or "folder"
    }

No caption dropout here: the model drops conditions itself. All randomness
(caption choice, flips, shuffling) is derived from (id or seed, epoch), never from
worker RNG state, so any num_workers gives the same batches. With cached embeddings
the training split's samples hold "latent" and "mask_latent" instead (mdit/data/cached.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .labels import check_same_size, flip_label_map, validate_label_map
from .render_cache import RenderCache, slot_bytes
from .synthfaces import SynthFaces

TRAIN_START, VAL_START, TEST_START = 0, 1_000_000, 2_000_000
TRAIN_MAX = 100_000
CAPTION_MODES = ("random", "fixed")
_CAPTION_STREAM, _FLIP_STREAM = 10, 11

Index = int | tuple[int, int]  # plain index, or (index, epoch) as yielded by EpochSampler


def _epoch_generator(seed: int, epoch: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, stream])))


def to_sample(image: np.ndarray, mask: np.ndarray, caption: str, id_: int, caption_index: int, source: str) -> dict:
    """Pack uint8 [H, W, 3] + label map into the shared sample format (image scaled to [-1, 1]).

    Raises MaskError if the mask is not a valid label map of the image's size: every loader goes through here.
    """
    check_same_size(image.shape[:2], mask.shape)
    validate_label_map(mask)
    pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
    return {
        "image": pixels,
        "mask": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64)),
        "caption": caption,
        "id": int(id_),
        "caption_index": int(caption_index),
        "source": source,
    }


class FaceDataset(Dataset):
    """Base of every dataset: subclasses say how to load a face; caption choice, flips and packing live here.

    ``caption_mode`` "random" picks a caption from (sample id, epoch), "fixed" always caption ``id % n``;
    ``flip_p`` mirrors image and mask (l/r labels swapped) with an (id, epoch)-determined coin.
    ``max_captions`` > 0 uses only each face's first captions (what an embedding cache must hold).
    """

    source: str
    max_captions: int = 0

    def __init__(self, caption_mode: str = "random", flip_p: float = 0.0) -> None:
        if caption_mode not in CAPTION_MODES:
            raise ValueError(f"caption_mode must be one of {CAPTION_MODES}, got {caption_mode!r}")
        if not 0.0 <= flip_p <= 1.0:
            raise ValueError(f"flip_p must be in [0, 1], got {flip_p}")
        self.caption_mode, self.flip_p = caption_mode, flip_p
        self.epoch = 0

    def __len__(self) -> int:
        raise NotImplementedError

    def sample_id(self, index: int) -> int:
        """The dataset id behind position ``index`` (a SynthFaces seed, a CelebA-HQ image number)."""
        raise NotImplementedError

    def captions_of(self, index: int) -> list[str]:
        """Every caption of the face at ``index`` (at least one)."""
        raise NotImplementedError

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The face at ``index``, unflipped: uint8 RGB [R, R, 3] and its label map [R, R]."""
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Epoch used for caption choice and flips when an index comes without one."""
        self.epoch = epoch

    def load_with_captions(self, index: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``load(index)`` and ``captions_of(index)`` together; a source that makes both at once overrides it."""
        return (*self.load(index), self.captions_of(index))

    def shown_captions(self, index: int) -> list[str]:
        """The captions the face at ``index`` is shown with: all, or the first ``max_captions``."""
        return self._shown(self.captions_of(index))

    def _shown(self, captions: list[str]) -> list[str]:
        return captions[: self.max_captions] if self.max_captions else captions

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return index

    def draw(self, index: int, epoch: int, caption_count: int | None = None) -> tuple[int, bool]:
        """(caption index, flipped) of position ``index`` in ``epoch``: a function of (id, epoch) only."""
        id_ = self.sample_id(index)
        count = caption_count or len(self.shown_captions(index))
        if self.caption_mode == "fixed":
            caption_index = id_ % count
        else:
            caption_index = int(_epoch_generator(id_, epoch, _CAPTION_STREAM).integers(count))
        flipped = self.flip_p > 0.0 and _epoch_generator(id_, epoch, _FLIP_STREAM).random() < self.flip_p
        return caption_index, flipped

    def __getitem__(self, index: Index) -> dict:
        index, epoch = index if isinstance(index, tuple) else (index, self.epoch)
        index = self._check_index(int(index))
        image, mask, captions = self.load_with_captions(index)
        captions = self._shown(captions)
        caption_index, flipped = self.draw(index, epoch, len(captions))
        if flipped:
            image, mask = image[:, ::-1], flip_label_map(mask)
        return to_sample(image, mask, captions[caption_index], self.sample_id(index), caption_index, self.source)


class SynthFacesDataset(FaceDataset):
    """Faces for seeds [start, stop) at one resolution, in the shared sample format.

    With ``cache_dir`` each face is rendered once and then read from a RenderCache there (the same bytes).
    """

    source = "synthfaces"

    def __init__(
        self, start: int, stop: int, resolution: int = 64, caption_mode: str = "random", flip_p: float = 0.0,
        cache_dir: str | Path | None = None,
    ) -> None:  # fmt: skip
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
        return list(held[2] if held is not None else self.generator.captions(seed))

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.load_with_captions(index)[:2]

    def load_with_captions(self, index: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        seed = self.seed_of(index)
        if self.cache is not None and (held := self.cache.get(seed)) is not None:
            return held[0], held[1], list(held[2])
        face = self.generator.render(seed)
        if self.cache is not None:
            self.cache.put(seed, face.image, face.mask, face.captions)
        return face.image, face.mask, list(face.captions)


class EpochSampler(Sampler):
    """Yields (index, epoch) pairs, shuffled from (seed, epoch); Lightning calls ``set_epoch`` each epoch.

    Carrying the epoch in the index makes caption choice and flips change per epoch even in worker processes.
    """

    def __init__(self, length: int, shuffle: bool, seed: int = 0) -> None:
        self.length, self.shuffle, self.seed = length, shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and per-sample randomness to produce."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = torch.arange(self.length)
        if self.shuffle:
            generator = torch.Generator().manual_seed(
                int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0])
            )
            order = torch.randperm(self.length, generator=generator)
        return ((int(i), self.epoch) for i in order)


class StepSampler(Sampler):
    """Training order as one seeded stream of (index, epoch) pairs, from a start position to a stop position.

    Stream position i is sample ``perm(seed, i // length)[i % length]``; a run resumed at step s starts at
    position s * batch_size (x ranks x accumulation), so it sees exactly the batches an uninterrupted run would.
    Its length is the whole run's (from position 0): Lightning, resuming, counts the batches done before and
    ends the epoch when the count reaches it, which is when this stream runs out. With ``world`` ranks, rank r
    reads the positions i = r (mod world).
    """

    def __init__(self, length: int, seed: int, start: int, stop: int, rank: int = 0, world: int = 1) -> None:
        if not 0 <= start <= stop:
            raise ValueError(f"need 0 <= start <= stop, got {start}, {stop}")
        if not 0 <= rank < world:
            raise ValueError(f"need 0 <= rank < world, got rank {rank} of {world}")
        self.length, self.seed, self.start, self.stop = length, seed, start, stop
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return len(range(self.rank, self.stop, self.world))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, order = -1, None
        for position in range(self.start + (self.rank - self.start) % self.world, self.stop, self.world):
            if position // self.length != epoch:
                epoch = position // self.length
                seed = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0])
                order = torch.randperm(self.length, generator=torch.Generator().manual_seed(seed))
            yield int(order[position % self.length]), epoch


class FaceDataModule(L.LightningDataModule):
    """Train/val/test datasets in the shared sample format, batched the same way for every data source.

    Train: one seeded, resumable stream under a step-limited Trainer (StepSampler), else shuffled per epoch;
    val/test in order. Persistent workers are shut down by the Trainer; outside it, a loader left to the garbage
    collector waits torch's worker timeout (about 5 s per worker), so pass ``persistent_workers=False`` for
    ad-hoc use.
    """

    def __init__(
        self, train_set: Dataset, val_set: Dataset, test_set: Dataset, batch_size: int = 32, num_workers: int = 0,
        seed: int = 0, persistent_workers: bool = True, data_split: dict | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.data_split = data_split  # how the split was chosen and its id ranges (registry.split_record)
        for split, dataset in (("train", train_set), ("val", val_set), ("test", test_set)):
            if len(dataset) == 0:
                raise ValueError(f"the {split} split is empty: check the data folder and its split files")
        self.train_set, self.val_set, self.test_set = train_set, val_set, test_set
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.persistent_workers = persistent_workers and num_workers > 0

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=EpochSampler(len(dataset), shuffle, self.seed),
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled (seeded per epoch) training batches; under a step-limited Trainer, one resumable stream.

        Under DDP each rank reads every world_size-th sample of the same stream (its own shard of each step).
        """
        trainer = self.trainer
        if trainer is None or trainer.max_steps < 0:
            return self._loader(self.train_set, shuffle=True)
        world, rank = trainer.world_size, trainer.global_rank
        per_step = self.batch_size * world * trainer.accumulate_grad_batches
        sampler = StepSampler(len(self.train_set), self.seed, trainer.global_step * per_step,
                              trainer.max_steps * per_step, rank, world)  # fmt: skip
        return DataLoader(self.train_set, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
                          persistent_workers=self.persistent_workers)  # fmt: skip

    def val_dataloader(self) -> DataLoader:
        """Validation batches in order, fixed captions."""
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches in order, fixed captions."""
        return self._loader(self.test_set, shuffle=False)


def render_cache_within(
    cache_dir: str | Path | None, faces: int, resolution: int, cache_gib: float
) -> str | Path | None:
    """``cache_dir`` if a render cache of ``faces`` faces at ``resolution`` takes at most ``cache_gib`` GiB."""
    return cache_dir if faces * slot_bytes(resolution) <= cache_gib * 2**30 else None


def synthfaces_splits(
    resolution: int, train_size: int, val_size: int, test_size: int, flip_p: float = 0.0,
    cache_dir: str | Path | None = None, cache_gib: float = math.inf,
) -> tuple[SynthFacesDataset, SynthFacesDataset, SynthFacesDataset]:  # fmt: skip
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


class SynthFacesDataModule(FaceDataModule):
    """The SynthFaces splits of `synthfaces_splits` in a FaceDataModule."""

    def __init__(
        self, batch_size: int = 32, resolution: int = 64, train_size: int = 20_000, val_size: int = 256,
        test_size: int = 1000, num_workers: int = 0, flip_p: float = 0.0, seed: int = 0,
        persistent_workers: bool = True,
    ) -> None:  # fmt: skip
        splits = synthfaces_splits(resolution, train_size, val_size, test_size, flip_p)
        super().__init__(*splits, batch_size, num_workers, seed, persistent_workers)
        self.save_hyperparameters()
