"""The datamodule of a config, keyed by `data.name` (synthfaces | celebamask_hq | folder), and its split record.

Every source gives the same sample format (see faces.py) through the same FaceDataModule; with
`data.embeddings` the training split reads the latents of `mdit cache-embeddings` instead of images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from mdit.embeddings.latents import CachedLatentsDataset
from mdit.paths import data_cache_dir, embeddings_dir, render_cache_dir

from .celebamask_hq import MAPPING_FILE, CelebAMaskHQDataset, celeba_split
from .condition_sources import derived_conditions_dir
from .datamodule import FaceDataModule
from .faces import FaceDataset
from .folder import FolderDataset, folder_split
from .mm_celeba import Captions, caption_folder, mm_celeba_ids
from .synthfaces import synthfaces_splits

Splits = tuple[FaceDataset, FaceDataset, FaceDataset]
Chosen = tuple[Splits, str]  # the splits and how they were chosen (split_record's "source")


def _synthfaces(cfg: DictConfig) -> Chosen:
    d = cfg.data
    splits = synthfaces_splits(
        d.resolution, d.train_size, d.val_size, d.test_size, d.flip_p, render_cache_dir(cfg), d.render_cache_gib
    )
    return splits, "synthfaces seeds"


def _celebamask_hq(cfg: DictConfig) -> Chosen:
    """CelebAMask-HQ faces with MM-CelebA-HQ captions. mm_celeba: MM-CelebA-HQ's train/test split as data.split_source
    chooses it, val = the last val_size train ids; celeba: CelebA's own train/val/test partition. Each split capped at
    its data.*_size; every face's files checked when its split is built (data.on_missing, data.on_corrupt)."""

    d = cfg.data
    root = Path(d.root).expanduser()
    if d.split == "mm_celeba":
        chosen = mm_celeba_ids(d.captions, d.split_source)
        train, source = chosen.train, chosen.source
        ids = {"train": train[: -d.val_size], "val": train[-d.val_size :], "test": chosen.test}
    else:
        ids = {split: celeba_split(root / MAPPING_FILE, split) for split in ("train", "val", "test")}
        source = "celeba partition"
    sizes = {"train": d.train_size, "val": d.val_size, "test": d.test_size}
    text, cache = Captions(caption_folder(d.captions)), data_cache_dir(cfg) / "masks"

    def split(name: str) -> CelebAMaskHQDataset:
        train = name == "train"
        return CelebAMaskHQDataset(
            root,
            ids[name][: sizes[name]],
            d.resolution,
            text,
            "random" if train else "fixed",
            d.flip_p if train else 0.0,
            cache,
            d.on_corrupt,
            d.on_missing,
            conditions=cfg.model.conditions,
            derived_dir=derived_conditions_dir(data_cache_dir(cfg), d.resolution),
        )

    return (split("train"), split("val"), split("test")), source


def _folder(cfg: DictConfig) -> Chosen:
    """A face folder (MM-FFHQ / MM-FairFace style): splits/ files, or the sorted names' last test_size / val_size."""

    d = cfg.data
    root = Path(d.root).expanduser()
    sizes = {"train": d.train_size, "val": d.val_size, "test": d.test_size}

    def split(name: str) -> FolderDataset:
        names = folder_split(root, name, d.val_size, d.test_size)[: sizes[name]]
        train = name == "train"
        return FolderDataset(
            root,
            names,
            d.resolution,
            "random" if train else "fixed",
            d.flip_p if train else 0.0,
            d.on_corrupt,
            data_cache_dir(cfg),
            on_missing=d.on_missing,
            conditions=cfg.model.conditions,
            derived_dir=derived_conditions_dir(data_cache_dir(cfg), d.resolution),
        )

    source = "splits/ files" if (root / "splits").is_dir() else "sorted names"
    return (split("train"), split("val"), split("test")), source


SPLIT_BUILDERS: dict[str, Callable[[DictConfig], Chosen]] = {
    "synthfaces": _synthfaces,
    "celebamask_hq": _celebamask_hq,
    "folder": _folder,
}


def _chosen_splits(cfg: DictConfig) -> Chosen:
    """The (train, val, test) datasets of `data.name`, without the embedding cache, and how the split was chosen."""
    if cfg.data.name not in SPLIT_BUILDERS:
        raise ValueError(f"data.name={cfg.data.name!r}; valid: {', '.join(SPLIT_BUILDERS)}")
    splits, source = SPLIT_BUILDERS[cfg.data.name](cfg)
    for split in splits:
        split.max_captions = cfg.data.max_captions
    return splits, source


def build_splits(cfg: DictConfig) -> Splits:
    """The (train, val, test) datasets of `data.name`, without the embedding cache."""
    return _chosen_splits(cfg)[0]


def _id_range(dataset: FaceDataset) -> dict[str, int]:
    ids = [dataset.sample_id(i) for i in range(len(dataset))]
    return {"count": len(ids), "min": min(ids), "max": max(ids)}


def split_record(splits: Splits, source: str) -> dict:
    """metrics.json's `data_split`: how the split was chosen (e.g. "pickles (swapped back)") and, per split, the
    count and range of the sample ids used, so that runs on different splits can be told apart."""
    return {"source": source, **{name: _id_range(split) for name, split in zip(("train", "val", "test"), splits)}}


def build_datamodule(cfg: DictConfig) -> FaceDataModule:
    """The datamodule of a config, with its `data_split` record; with data.embeddings the training split reads
    cached latents."""
    (train, val, test), source = _chosen_splits(cfg)
    record = split_record((train, val, test), source)
    if cfg.data.embeddings:
        train = CachedLatentsDataset(train, embeddings_dir(cfg))
    d = cfg.data
    return FaceDataModule(train, val, test, d.batch_size, d.num_workers, cfg.seed, data_split=record)
