"""`mdit cache-embeddings`: the text embeddings of every split's captions and the VAE latents of the training
faces, written once (resumably) so that `data.embeddings=true` trains without the text encoders (store.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from safetensors.torch import load_file

from mdit.backbone import load_conditioners
from mdit.conditioning.local import resolve_dtype
from mdit.data.faces import FaceDataset
from mdit.data.registry import build_splits, embeddings_dir
from mdit.devices import eval_device
from mdit.embeddings.latents import cache_latents
from mdit.embeddings.store import latents_path, text_dims, write_manifest
from mdit.embeddings.text import cache_text
from mdit.pretraining import backbone_dir
from mdit.progress import Progress


def all_captions(train: FaceDataset, evaluated: Sequence[FaceDataset]) -> set[str]:
    """Every caption a run shows: all of each training face's, the one fixed caption of each validation or test face."""
    captions: set[str] = set()
    with Progress(len(train) + sum(map(len, evaluated)), "cache-embeddings/captions", unit="face") as progress:
        for i in range(len(train)):
            captions.update(train.shown_captions(i))
            progress.update()
        for split in evaluated:
            for i in range(len(split)):
                captions.add(split.shown_captions(i)[split.draw(i, 0)[0]])
                progress.update()
    return captions


def cache_embeddings(cfg: DictConfig, batch_size: int = 16) -> dict[str, Any]:
    """Fill the embedding cache of `cfg` (see store.py); returns what it holds."""
    folder = embeddings_dir(cfg)
    train, *evaluated = build_splits(cfg)
    text, autoencoder = load_conditioners(backbone_dir(cfg), cfg.model.dtype, cfg.model.text_max_length or None)
    device = eval_device(cfg)
    text, autoencoder = text.to(device), autoencoder.to(device)
    captions = all_captions(train, evaluated)
    written_text = cache_text(folder, text, captions, batch_size)
    dims = text_dims(text)
    del text  # the largest part (T5-XXL) is not needed for the latents
    written_faces = cache_latents(folder, train, autoencoder, batch_size, device, resolve_dtype(cfg.model.dtype))
    ids = [train.sample_id(i) for i in range(len(train))]
    shape = load_file(str(latents_path(folder, ids[0])))["image"].shape
    write_manifest(folder, dims, shape, ids, cfg.data.max_captions)
    size = sum(p.stat().st_size for p in Path(folder).rglob("*.safetensors"))
    return {
        "folder": str(folder),
        "captions": len(captions | {""}),
        "captions_written": written_text,
        "faces": len(ids),
        "faces_written": written_faces,
        "bytes": size,
    }
