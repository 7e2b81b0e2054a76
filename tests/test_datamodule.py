"""SynthFacesDataset / SynthFacesDataModule: the shared sample format, seed ranges, epochs, flips, collation."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mdit.data.datamodule import EpochSampler, SynthFacesDataModule
from mdit.data.faces import to_sample
from mdit.data.synthfaces import render
from mdit.data.synthfaces.dataset import SynthFacesDataset
from mdit.labels import MaskError, flip_label_map

SAMPLE_KEYS = {"image", "mask", "sketch", "keypoints", "caption", "id", "caption_index", "source"}


def test_sample_format() -> None:
    sample = SynthFacesDataset(100, 110, resolution=32)[3]
    assert set(sample) == SAMPLE_KEYS
    image, mask = sample["image"], sample["mask"]
    assert image.dtype == torch.float32 and image.shape == (3, 32, 32)
    assert -1.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.1
    assert mask.dtype == torch.int64 and mask.shape == (32, 32) and 0 <= mask.min() and mask.max() <= 18
    assert sample["id"] == 103 and sample["source"] == "synthfaces"
    face = render(103, 32)
    assert sample["caption"] == face.captions[sample["caption_index"]]
    assert np.array_equal(mask.numpy(), face.mask)
    assert torch.allclose((image + 1) * 127.5, torch.from_numpy(face.image).permute(2, 0, 1).float(), atol=1e-3)


def test_seed_ranges_are_disjoint() -> None:
    dm = SynthFacesDataModule(batch_size=4, train_size=100_000, val_size=256, test_size=1000)
    ranges = [(d.start, d.stop) for d in (dm.train_set, dm.val_set, dm.test_set)]
    assert ranges == [(0, 100_000), (1_000_000, 1_000_256), (2_000_000, 2_001_000)]
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        assert end <= start
    with pytest.raises(ValueError):
        SynthFacesDataModule(train_size=100_001)


def test_fixed_captions_do_not_change_with_epochs() -> None:
    val = SynthFacesDataModule(val_size=12, resolution=32).val_set
    first = [val[i]["caption_index"] for i in range(12)]
    val.set_epoch(5)
    assert [val[(i, 7)]["caption_index"] for i in range(12)] == first == [(1_000_000 + i) % 10 for i in range(12)]


def test_random_captions_follow_seed_and_epoch() -> None:
    train = SynthFacesDataset(0, 40, resolution=32, caption_mode="random")
    epoch0 = [train[(i, 0)]["caption_index"] for i in range(40)]
    assert epoch0 == [train[(i, 0)]["caption_index"] for i in range(40)], "same (seed, epoch) -> same caption"
    assert epoch0 != [train[(i, 1)]["caption_index"] for i in range(40)]
    train.set_epoch(1)
    assert [train[i]["caption_index"] for i in range(40)] == [train[(i, 1)]["caption_index"] for i in range(40)]
    assert len(set(epoch0)) > 3


def test_flip_mirrors_image_and_swaps_labels() -> None:
    always = SynthFacesDataset(0, 4, resolution=32, flip_p=1.0)
    never = SynthFacesDataset(0, 4, resolution=32)
    for i in range(4):
        flipped, plain = always[i], never[i]
        assert torch.equal(flipped["image"], plain["image"].flip(-1))
        assert torch.equal(flipped["mask"], flip_label_map(plain["mask"]))
        assert not torch.equal(flipped["mask"], plain["mask"].flip(-1)), "l/r labels must be swapped, not only mirrored"
    half = SynthFacesDataset(0, 64, resolution=32, flip_p=0.5)
    plain = SynthFacesDataset(0, 64, resolution=32)
    flipped = [torch.equal(half[(i, 0)]["mask"], flip_label_map(plain[i]["mask"])) for i in range(64)]
    assert flipped == [torch.equal(half[(i, 0)]["mask"], flip_label_map(plain[i]["mask"])) for i in range(64)]
    assert 16 < sum(flipped) < 48
    assert flipped != [torch.equal(half[(i, 1)]["mask"], flip_label_map(plain[i]["mask"])) for i in range(64)]


def test_default_collate_and_loaders() -> None:
    dm = SynthFacesDataModule(batch_size=4, resolution=32, train_size=12, val_size=8, test_size=8)
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["mask"].shape == (4, 32, 32)
    assert (
        isinstance(batch["caption"], list)
        and len(batch["caption"]) == 4
        and all(isinstance(c, str) for c in batch["caption"])
    )
    assert batch["id"].dtype == torch.int64 and batch["source"] == ["synthfaces"] * 4
    val_ids = torch.cat([b["id"] for b in dm.val_dataloader()]).tolist()
    assert val_ids == list(range(1_000_000, 1_000_008))
    plain = DataLoader(SynthFacesDataset(0, 8, resolution=32), batch_size=4)
    assert next(iter(plain))["image"].shape == (4, 3, 32, 32)


def test_train_order_is_seeded_and_changes_per_epoch() -> None:
    sampler = EpochSampler(50, shuffle=True, seed=3)
    first = list(sampler)
    assert first == list(EpochSampler(50, shuffle=True, seed=3)) and sorted(i for i, _ in first) == list(range(50))
    sampler.set_epoch(1)
    second = list(sampler)
    assert [i for i, _ in second] != [i for i, _ in first] and {e for _, e in second} == {1}
    assert [i for i, _ in EpochSampler(5, shuffle=False)] == [0, 1, 2, 3, 4]


def test_workers_give_the_same_batches() -> None:
    def ids_and_captions(workers: int) -> list:
        dm = SynthFacesDataModule(
            batch_size=4, resolution=32, train_size=16, num_workers=workers, persistent_workers=False
        )
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(2)
        return [(b["id"].tolist(), b["caption"]) for b in loader]

    assert ids_and_captions(0) == ids_and_captions(2)


class _Recorder(L.LightningModule):
    """Records what the Trainer feeds it, per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: dict[int, list[tuple[int, int]]] = {}
        self.val_seen: dict[int, list[tuple[int, int]]] = {}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        pairs = zip(batch["id"].tolist(), batch["caption_index"].tolist(), strict=True)
        self.seen.setdefault(self.current_epoch, []).extend(pairs)
        return self.weight * batch["image"].mean()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        pairs = zip(batch["id"].tolist(), batch["caption_index"].tolist(), strict=True)
        self.val_seen.setdefault(self.current_epoch, []).extend(pairs)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_trainer_advances_the_epoch_of_order_and_captions() -> None:
    dm = SynthFacesDataModule(batch_size=8, resolution=32, train_size=24, val_size=8)
    model = _Recorder()
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=dm)
    first, second = (sorted(model.seen[e]) for e in (0, 1))
    assert [seed for seed, _ in first] == [seed for seed, _ in second] == list(range(24))
    assert first != second, "captions must be re-drawn each epoch"
    assert [s for s, _ in model.seen[0]] != [s for s, _ in model.seen[1]], "order must be reshuffled each epoch"
    assert model.val_seen[0] == model.val_seen[1] == [(1_000_000 + i, i % 10) for i in range(8)]


def test_to_sample_rejects_bad_masks() -> None:
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(MaskError, match="image is 8x8 but mask is 4x4"):
        to_sample(image, np.zeros((4, 4), dtype=np.int64), "x", 0, 0, "test")
    with pytest.raises(MaskError, match="outside 0..18"):
        to_sample(image, np.full((8, 8), 255, dtype=np.uint8), "x", 0, 0, "test")
    assert to_sample(image, np.zeros((8, 8), dtype=np.uint8), "x", 0, 0, "test")["mask"].dtype == torch.int64
