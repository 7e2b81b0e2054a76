"""The embedding cache of `mdit cache-embeddings` on disk: text embeddings and VAE latents, written once.

Training on them holds no text encoder (T5-XXL alone is 9.5 GB in bf16) and runs no VAE encoder. Layout:

    <folder>/manifest.json                  written last: its presence means the cache is complete
    <folder>/text/<k[:2]>/<k>.safetensors    tokens [L, D] + pooled [P] of one caption, k = caption_key(caption)
    <folder>/latents/<id>.safetensors        packed image and mask latents of one training face (+ mirrored ones)

Every file is written atomically, so an interrupted `cache-embeddings` resumes where it stopped. The readers are
text.py (captions -> embeddings) and latents.py (training faces -> latents); build.py fills the cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import save_file

from mdit import atomic
from mdit.conditioning.text import TextConditioner, normalise_captions

MANIFEST = "manifest.json"
VERSION = 1


def caption_key(caption: str) -> str:
    """A file name for a caption (whitespace-only captions are the empty prompt, as in every conditioner)."""
    (caption,) = normalise_captions([caption])
    return hashlib.sha256(caption.encode()).hexdigest()[:24]


def text_path(folder: Path, caption: str) -> Path:
    key = caption_key(caption)
    return folder / "text" / key[:2] / f"{key}.safetensors"


def latents_path(folder: Path, sample_id: int) -> Path:
    return folder / "latents" / f"{sample_id}.safetensors"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    atomic.write_with(path, lambda tmp: save_file({k: v.contiguous().cpu() for k, v in tensors.items()}, str(tmp)))


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a complete cache; a missing one says how to build it."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the embedding cache is missing or incomplete; build it "
            "with `mdit cache-embeddings -c <config>` (resumes if interrupted)"
        )
    manifest = json.loads(path.read_text())
    if manifest.get("version") != VERSION:
        raise ValueError(f"{path}: cache version {manifest.get('version')}, this mdit reads {VERSION}; rebuild it")
    return manifest


def text_dims(text: TextConditioner) -> dict[str, int]:
    """What a CachedTextConditioner must report in place of `text`."""
    return {
        "max_length": text.max_length,
        "joint_attention_dim": text.joint_attention_dim,
        "pooled_projection_dim": text.pooled_projection_dim,
    }


def write_manifest(
    folder: Path, dims: dict[str, int], latent_shape: Sequence[int], ids: Sequence[int], max_captions: int
) -> None:
    """Mark the cache complete: the text dimensions (`text_dims`), the latents' shape, the training faces held and
    how many captions of each (0 = all)."""
    atomic.write_json(
        folder / MANIFEST,
        {
            "version": VERSION,
            **dims,
            "latent_shape": list(latent_shape),
            "train_ids": sorted(ids),
            "max_captions": max_captions,
        },
    )
