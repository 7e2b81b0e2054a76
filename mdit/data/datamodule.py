"""The one DataModule of every data source, and the samplers that make its batches resumable and rank-disjoint."""

from __future__ import annotations

from collections.abc import Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .synthfaces.dataset import synthfaces_splits


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
        self,
        train_set: Dataset,
        val_set: Dataset,
        test_set: Dataset,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        persistent_workers: bool = True,
        data_split: dict | None = None,
    ) -> None:
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
        sampler = StepSampler(
            len(self.train_set), self.seed, trainer.global_step * per_step, trainer.max_steps * per_step, rank, world
        )
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers,
        )

    def val_dataloader(self) -> DataLoader:
        """Validation batches in order, fixed captions."""
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches in order, fixed captions."""
        return self._loader(self.test_set, shuffle=False)


class SynthFacesDataModule(FaceDataModule):
    """The SynthFaces splits of `synthfaces_splits` in a FaceDataModule."""

    def __init__(
        self,
        batch_size: int = 32,
        resolution: int = 64,
        train_size: int = 20_000,
        val_size: int = 256,
        test_size: int = 1000,
        num_workers: int = 0,
        flip_p: float = 0.0,
        seed: int = 0,
        persistent_workers: bool = True,
    ) -> None:
        splits = synthfaces_splits(resolution, train_size, val_size, test_size, flip_p)
        super().__init__(*splits, batch_size, num_workers, seed, persistent_workers)
        self.save_hyperparameters()
