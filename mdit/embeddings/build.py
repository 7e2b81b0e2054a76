"""`mdit cache-embeddings`: the text embeddings of every split's captions and the VAE latents of the training
faces, written once (resumably) so that `data.embeddings=true` trains without the text encoders (store.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from safetensors.torch import load_file

from mdit.backbone import load_conditioners
from mdit.conditioning.local import resolve_dtype
from mdit.data.registry import build_splits, embeddings_dir
from mdit.embeddings.latents import cache_latents
from mdit.embeddings.store import latents_path, text_dims, write_manifest
from mdit.embeddings.text import cache_text
from mdit.run import backbone_dir, eval_device


def cache_embeddings(cfg: DictConfig, batch_size: int = 16) -> dict[str, Any]:
    """Fill the embedding cache of `cfg` (see store.py); returns what it holds."""
    folder = embeddings_dir(cfg)
    train, *evaluated = build_splits(cfg)
    text, autoencoder = load_conditioners(backbone_dir(cfg), cfg.model.dtype, cfg.model.text_max_length or None)
    device = eval_device(cfg)
    text, autoencoder = text.to(device), autoencoder.to(device)
    # Training draws among a face's captions; validation and test use one fixed caption each.
    captions = {c for i in range(len(train)) for c in train.shown_captions(i)}
    captions |= {split.shown_captions(i)[split.draw(i, 0)[0]] for split in evaluated for i in range(len(split))}
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
