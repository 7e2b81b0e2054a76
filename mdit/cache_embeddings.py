"""`mdit cache-embeddings`: the text embeddings of every split's captions and the VAE latents of the training
faces, written once (resumably) so that `data.embeddings=true` trains without the text encoders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from safetensors.torch import load_file

from mdit.backbone import load_backbone
from mdit.conditioning.local import resolve_dtype
from mdit.conditioning.precomputed import cache_latents, cache_text, latents_path, text_dims, write_manifest
from mdit.data.registry import build_splits, embeddings_dir
from mdit.evaluation.command import eval_device
from mdit.run import backbone_dir


def cache_embeddings(cfg: DictConfig, batch_size: int = 16) -> dict[str, Any]:
    """Fill the embedding cache of `cfg` (see mdit.conditioning.precomputed); returns what it holds."""
    folder = embeddings_dir(cfg)
    splits = build_splits(cfg)
    backbone = load_backbone(backbone_dir(cfg), cfg.model.dtype, cfg.model.text_max_length or None)
    device = eval_device(cfg)
    text, autoencoder = backbone.text.to(device), backbone.autoencoder.to(device)
    captions = {c for split in splits for i in range(len(split)) for c in split.shown_captions(i)}
    written_text = cache_text(folder, text, captions, batch_size)
    dims = text_dims(text)
    del text, backbone.text  # the largest part (T5-XXL) is not needed for the latents
    train = splits[0]
    written_faces = cache_latents(folder, train, autoencoder, batch_size, device, resolve_dtype(cfg.model.dtype))
    ids = [train.sample_id(i) for i in range(len(train))]
    shape = load_file(str(latents_path(folder, ids[0])))["image"].shape
    write_manifest(folder, dims, shape, ids)
    size = sum(p.stat().st_size for p in Path(folder).rglob("*.safetensors"))
    return {"folder": str(folder), "captions": len(captions | {""}), "captions_written": written_text,
            "faces": len(ids), "faces_written": written_faces, "bytes": size}  # fmt: skip
