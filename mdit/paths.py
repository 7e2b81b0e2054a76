"""Every cache folder of the framework, from a config: where backbones, judges, data caches and embeddings live.

The root is `cache_dir` from the config, else $MDIT_CACHE, else ~/.cache/mdit. Each folder's name holds a digest
of what decides its content, so a changed recipe never reads another's files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mdit.keypoints import NAMES

CACHE_ENV = "MDIT_CACHE"
# The `judges` settings that change what the embedded judges are; local judge paths and the run's seed do not.
JUDGE_RECIPE_KEYS = (
    "parser_width",
    "parser_steps",
    "parser_lr",
    "batch_size",
    "clip_width",
    "clip_steps",
    "clip_lr",
    "clip_batch_size",
    "heldout_size",
)
# Those of the landmark judge, which has its own folder: adding it left the parser's and CLIP's folder as it was.
LANDMARK_RECIPE_KEYS = ("landmark_width", "landmark_steps", "landmark_lr", "batch_size", "heldout_size")


def _digest(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _resolved(path: str | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else None


def cache_root(cfg: DictConfig) -> Path:
    """`cache_dir` from the config, else $MDIT_CACHE, else ~/.cache/mdit."""
    return Path(cfg.cache_dir or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "mdit").expanduser()


def embedded_backbone_key(cfg: DictConfig) -> str:
    """A name that changes whenever the pretraining recipe does (backbone section, resolution, backbone.seed);
    not with the run's seed, so every seed of a sweep fine-tunes the same backbone."""
    section = {k: v for k, v in OmegaConf.to_container(cfg.backbone).items() if k != "seed"}
    recipe = {
        "backbone": section,
        "resolution": cfg.data.resolution,
        "train_size": cfg.data.train_size,
        "seed": cfg.backbone.seed,
    }
    return f"backbone-{cfg.data.resolution}px-{_digest(recipe)}"


def embedded_backbone_dir(cfg: DictConfig) -> Path:
    """The folder `mdit pretrain-base` writes the embedded backbone of this config to."""
    return cache_root(cfg) / embedded_backbone_key(cfg)


def judges_dir(cfg: DictConfig) -> Path:
    """The cache folder of this config's embedded judges, keyed by resolution, recipe, `judges.seed` and the
    training split's size (they train on it): every run is scored by the same judges, whatever its own seed."""
    recipe = {
        "resolution": cfg.data.resolution,
        "judges": {k: cfg.judges[k] for k in JUDGE_RECIPE_KEYS},
        "seed": cfg.judges.seed,
        "train_size": cfg.data.train_size,
    }
    return cache_root(cfg) / f"judges-{cfg.data.resolution}px-{_digest(recipe)}"


def landmarks_dir(cfg: DictConfig) -> Path:
    """The cache folder of this config's embedded landmark judge, keyed like `judges_dir` by resolution, its recipe,
    `judges.seed` and the training split's size, and by the landmark names it regresses (mdit.keypoints)."""
    recipe = {
        "resolution": cfg.data.resolution,
        "judges": {k: cfg.judges[k] for k in LANDMARK_RECIPE_KEYS},
        "seed": cfg.judges.seed,
        "train_size": cfg.data.train_size,
        "keypoints": list(NAMES),
    }
    return cache_root(cfg) / f"landmarks-{cfg.data.resolution}px-{_digest(recipe)}"


def data_cache_dir(cfg: DictConfig) -> Path:
    """Merged masks, the file checks and embeddings of a real dataset, SynthFaces' render cache: data.cache_dir,
    else one folder per data source under the cache root."""
    if cfg.data.cache_dir:
        return Path(cfg.data.cache_dir).expanduser()
    source = {"name": cfg.data.name, "root": _resolved(cfg.data.root)}
    return cache_root(cfg) / "data" / f"{cfg.data.name}-{_digest(source)}"


def embeddings_dir(cfg: DictConfig) -> Path:
    """The `mdit cache-embeddings` folder of a config: one per backbone, dtype, text length, resolution, mirroring
    and caption source. Not per split or size: its files are per face and per caption, so one cache serves every
    selection of faces it holds (its manifest says which; the reader checks)."""
    recipe = {
        "pretrained": _resolved(cfg.model.pretrained),
        "dtype": cfg.model.dtype,
        "text_max_length": cfg.model.text_max_length,
        "resolution": cfg.data.resolution,
        "flips": cfg.data.flip_p > 0,
        "captions": _resolved(cfg.data.captions),
    }
    return data_cache_dir(cfg) / f"embeddings-{_digest(recipe)}"


def render_cache_dir(cfg: DictConfig) -> Path | None:
    """Where SynthFaces keeps the faces it rendered (data/synthfaces/render_cache.py); None with
    data.render_cache_gib=0."""
    return data_cache_dir(cfg) if cfg.data.render_cache_gib > 0 else None
