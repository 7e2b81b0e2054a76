"""SynthFaces as a torch Dataset and a Lightning DataModule, and THE SAMPLE FORMAT.

Every dataset of the framework (SynthFaces here, CelebAMask-HQ later) returns
one dict per sample, and the default collate turns a list of them into a batch:

    {
        "image":         float32 tensor [3, H, W], RGB in [-1, 1]
        "mask":          int64 tensor [H, W], official CelebAMask-HQ ids 0..18 (see labels.py)
        "caption":       str (one of the sample's 10 captions; collated to a list of str)
        "id":            int, the dataset id (for SynthFaces: the seed)
        "caption_index": int, which of the 10 captions was returned
        "source":        str, "synthfaces" or "celebamask_hq"
    }

No caption dropout here: the model drops conditions itself. All randomness
(caption choice, flips, shuffling) is derived from (seed, epoch), never from
worker RNG state, so any num_workers gives the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .captions import CAPTIONS_PER_FACE
from .labels import check_same_size, flip_label_map, validate_label_map
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


class SynthFacesDataset(Dataset):
    """Faces for seeds [start, stop) at one resolution, in the shared sample format.

    ``caption_mode`` "random" picks a caption from (seed, epoch), "fixed" always caption ``seed % 10``;
    ``flip_p`` mirrors image and mask (l/r labels swapped) with a (seed, epoch)-determined coin.
    """

    def __init__(
        self, start: int, stop: int, resolution: int = 64, caption_mode: str = "random", flip_p: float = 0.0
    ) -> None:
        if not 0 <= start < stop:
            raise ValueError(f"need 0 <= start < stop, got [{start}, {stop})")
        if caption_mode not in CAPTION_MODES:
            raise ValueError(f"caption_mode must be one of {CAPTION_MODES}, got {caption_mode!r}")
        if not 0.0 <= flip_p <= 1.0:
            raise ValueError(f"flip_p must be in [0, 1], got {flip_p}")
        self.start, self.stop = start, stop
        self.generator = SynthFaces(resolution)
        self.caption_mode = caption_mode
        self.flip_p = flip_p
        self.epoch = 0

    def __len__(self) -> int:
        return self.stop - self.start

    def set_epoch(self, epoch: int) -> None:
        """Epoch used for caption choice and flips when an index comes without one."""
        self.epoch = epoch

    def seed_of(self, index: int) -> int:
        """The SynthFaces seed behind dataset position ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return self.start + index

    def __getitem__(self, index: Index) -> dict:
        index, epoch = index if isinstance(index, tuple) else (index, self.epoch)
        seed = self.seed_of(int(index))
        face = self.generator.render(seed)
        if self.caption_mode == "fixed":
            caption_index = seed % CAPTIONS_PER_FACE
        else:
            caption_index = int(_epoch_generator(seed, epoch, _CAPTION_STREAM).integers(CAPTIONS_PER_FACE))
        image, mask = face.image, face.mask
        if self.flip_p > 0.0 and _epoch_generator(seed, epoch, _FLIP_STREAM).random() < self.flip_p:
            image, mask = image[:, ::-1], flip_label_map(mask)
        return to_sample(image, mask, face.captions[caption_index], seed, caption_index, "synthfaces")


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
    """Training order as one seeded stream of (index, epoch) pairs, started at a given position.

    Stream position i is sample ``perm(seed, i // length)[i % length]``; a run resumed at step s
    starts at position s * batch_size, so it sees exactly the batches an uninterrupted run would.
    """

    def __init__(self, length: int, seed: int, start: int, stop: int) -> None:
        if not 0 <= start <= stop:
            raise ValueError(f"need 0 <= start <= stop, got {start}, {stop}")
        self.length, self.seed, self.start, self.stop = length, seed, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, order = -1, None
        for position in range(self.start, self.stop):
            if position // self.length != epoch:
                epoch = position // self.length
                seed = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0])
                order = torch.randperm(self.length, generator=torch.Generator().manual_seed(seed))
            yield int(order[position % self.length]), epoch


class SynthFacesDataModule(L.LightningDataModule):
    """Train/val/test SynthFaces on disjoint seed ranges: [0, train_size), 1e6 + [0, val_size), 2e6 + [0, test_size).

    Train shuffles (seeded) with random captions and optional flips; val/test use fixed captions and no flips.
    Persistent workers are shut down by the Trainer; outside it, a loader left to the garbage collector
    waits torch's worker timeout (about 5 s per worker), so pass ``persistent_workers=False`` for ad-hoc use.
    """

    def __init__(
        self, batch_size: int = 32, resolution: int = 64, train_size: int = 20_000, val_size: int = 256,
        test_size: int = 1000, num_workers: int = 0, flip_p: float = 0.0, seed: int = 0,
        persistent_workers: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        if not 0 < train_size <= TRAIN_MAX:
            raise ValueError(f"train_size must be in 1..{TRAIN_MAX}, got {train_size}")
        if not 0 < val_size <= TEST_START - VAL_START or test_size <= 0:
            raise ValueError(f"val_size must be in 1..{TEST_START - VAL_START} and test_size positive")
        self.save_hyperparameters()
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.persistent_workers = persistent_workers and num_workers > 0
        self.train_set = SynthFacesDataset(TRAIN_START, TRAIN_START + train_size, resolution, "random", flip_p)
        self.val_set = SynthFacesDataset(VAL_START, VAL_START + val_size, resolution, "fixed")
        self.test_set = SynthFacesDataset(TEST_START, TEST_START + test_size, resolution, "fixed")

    def _loader(self, dataset: SynthFacesDataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=EpochSampler(len(dataset), shuffle, self.seed),
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled (seeded per epoch) training batches; under a step-limited Trainer, one resumable stream."""
        trainer = self.trainer
        if trainer is None or trainer.max_steps < 0:
            return self._loader(self.train_set, shuffle=True)
        sampler = StepSampler(len(self.train_set), self.seed, trainer.global_step * self.batch_size,
                              trainer.max_steps * self.batch_size)  # fmt: skip
        return DataLoader(self.train_set, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
                          persistent_workers=self.persistent_workers)  # fmt: skip

    def val_dataloader(self) -> DataLoader:
        """Validation batches in seed order, fixed captions."""
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches in seed order, fixed captions."""
        return self._loader(self.test_set, shuffle=False)
