"""The datamodule of a config, keyed by `data.name` (synthfaces | celebamask_hq | folder), and its cache folders.

Every source gives the same sample format (see datamodule.py) through the same FaceDataModule; with
`data.embeddings` the training split reads the latents of `mdit cache-embeddings` instead of images.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from .cached import CachedLatentsDataset
from .datamodule import FaceDataModule, FaceDataset, synthfaces_splits

Splits = tuple[FaceDataset, FaceDataset, FaceDataset]
Chosen = tuple[Splits, str]  # the splits and how they were chosen (split_record's "source")


def _digest(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:10]


def data_cache_dir(cfg: DictConfig) -> Path:
    """Merged masks, the image scan and embeddings of a real dataset, SynthFaces' render cache: data.cache_dir,
    else one folder per data source under the cache root ($MDIT_CACHE or ~/.cache/mdit)."""
    if cfg.data.cache_dir:
        return Path(cfg.data.cache_dir).expanduser()
    from mdit.backbone import cache_root  # noqa: PLC0415 (imports diffusers, which building splits does not need)

    source = {"name": cfg.data.name, "root": _resolved(cfg.data.root)}
    return cache_root(cfg) / "data" / f"{cfg.data.name}-{_digest(source)}"


def embeddings_dir(cfg: DictConfig) -> Path:
    """The `mdit cache-embeddings` folder of a config: one per backbone, dtype, text length, resolution, mirroring
    and caption source. Not per split or size: its files are per face and per caption, so one cache serves every
    selection of faces it holds (its manifest says which; the reader checks)."""
    recipe = {
        "pretrained": _resolved(cfg.model.pretrained), "dtype": cfg.model.dtype,
        "text_max_length": cfg.model.text_max_length, "resolution": cfg.data.resolution,
        "flips": cfg.data.flip_p > 0, "captions": _resolved(cfg.data.captions),
    }  # fmt: skip
    return data_cache_dir(cfg) / f"embeddings-{_digest(recipe)}"


def _resolved(path: str | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else None


def render_cache_dir(cfg: DictConfig) -> Path | None:
    """Where SynthFaces keeps the faces it rendered (mdit/data/render_cache.py); None with data.render_cache_gib=0."""
    return data_cache_dir(cfg) if cfg.data.render_cache_gib > 0 else None


def _synthfaces(cfg: DictConfig) -> Chosen:
    d = cfg.data
    splits = synthfaces_splits(d.resolution, d.train_size, d.val_size, d.test_size, d.flip_p, render_cache_dir(cfg),
                               d.render_cache_gib)  # fmt: skip
    return splits, "synthfaces seeds"


def _celebamask_hq(cfg: DictConfig) -> Chosen:
    """CelebAMask-HQ faces with MM-CelebA-HQ captions. mm_celeba: MM-CelebA-HQ's train/test split as data.split_source
    chooses it, val = the last val_size train ids; celeba: CelebA's own train/val/test partition. Each split capped at
    its data.*_size; every face's files checked when its split is built (data.on_missing, data.on_corrupt)."""
    from .celebamask_hq import MAPPING_FILE, CelebAMaskHQDataset, celeba_split  # noqa: PLC0415
    from .mm_celeba import Captions, caption_folder, mm_celeba_ids  # noqa: PLC0415

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
        return CelebAMaskHQDataset(root, ids[name][: sizes[name]], d.resolution, text, "random" if train else "fixed",
                                   d.flip_p if train else 0.0, cache, d.on_corrupt, d.on_missing)  # fmt: skip

    return (split("train"), split("val"), split("test")), source


def _folder(cfg: DictConfig) -> Chosen:
    """A face folder (MM-FFHQ / MM-FairFace style): splits/ files, or the sorted names' last test_size / val_size."""
    from .folder import FolderDataset, folder_split  # noqa: PLC0415

    d = cfg.data
    root = Path(d.root).expanduser()
    sizes = {"train": d.train_size, "val": d.val_size, "test": d.test_size}

    def split(name: str) -> FolderDataset:
        names = folder_split(root, name, d.val_size, d.test_size)[: sizes[name]]
        train = name == "train"
        return FolderDataset(root, names, d.resolution, "random" if train else "fixed", d.flip_p if train else 0.0,
                             d.on_corrupt, data_cache_dir(cfg), on_missing=d.on_missing)  # fmt: skip

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
