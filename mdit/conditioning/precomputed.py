"""Precomputed conditioning (`mdit cache-embeddings`): text embeddings and VAE latents on disk.

Training on them holds no text encoder (T5-XXL alone is 9.5 GB in bf16) and runs no VAE encoder. Layout:

    <folder>/manifest.json                  written last: its presence means the cache is complete
    <folder>/text/<k[:2]>/<k>.safetensors    tokens [L, D] + pooled [P] of one caption, k = caption_key(caption)
    <folder>/latents/<id>.safetensors        packed image and mask latents of one training face (+ mirrored ones)

Every file is written atomically, so an interrupted `cache-embeddings` resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from mdit import atomic

from .text import TextConditioner, normalise_captions

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
        raise FileNotFoundError(f"{path} not found: the embedding cache is missing or incomplete; build it "
                                "with `mdit cache-embeddings -c <config>` (resumes if interrupted)")  # fmt: skip
    manifest = json.loads(path.read_text())
    if manifest.get("version") != VERSION:
        raise ValueError(f"{path}: cache version {manifest.get('version')}, this mdit reads {VERSION}; rebuild it")
    return manifest


class CachedTextConditioner(TextConditioner):
    """Captions -> embeddings read from a cache; a caption that was never cached is an error, never a default."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        manifest = read_manifest(self.folder)
        self.max_length = manifest["max_length"]
        self.joint_attention_dim = manifest["joint_attention_dim"]
        self.pooled_projection_dim = manifest["pooled_projection_dim"]
        self.register_buffer("_device", torch.zeros(0), persistent=False)  # follows the module to its device
        self.freeze()

    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, pooled = [], []
        for caption in prompts:
            path = text_path(self.folder, caption)
            if not path.is_file():
                raise ValueError(f"caption {caption!r} is not in the embedding cache {self.folder}: "
                               "`mdit cache-embeddings` caches the captions of every split; for new captions "
                               "set data.embeddings=false to load the text encoders")  # fmt: skip
            stored = load_file(str(path))
            tokens.append(stored["tokens"])
            pooled.append(stored["pooled"])
        device = self._device.device
        return torch.stack(tokens).to(device), torch.stack(pooled).to(device)


@torch.no_grad()
def cache_text(folder: Path, text: TextConditioner, captions: Iterable[str], batch_size: int = 32) -> int:
    """Embed every caption not cached yet (the empty prompt always included); returns how many were written."""
    todo = sorted({c for c in [*captions, ""] if not text_path(folder, c).is_file()})
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        emb = text(chunk)
        for caption, tokens, pooled in zip(chunk, emb.tokens, emb.pooled):
            save_tensors(text_path(folder, caption), {"tokens": tokens, "pooled": pooled})
    return len(todo)


def text_dims(text: TextConditioner) -> dict[str, int]:
    """What a CachedTextConditioner must report in place of `text`."""
    return {"max_length": text.max_length, "joint_attention_dim": text.joint_attention_dim,
            "pooled_projection_dim": text.pooled_projection_dim}  # fmt: skip


def write_manifest(
    folder: Path, dims: dict[str, int], latent_shape: Sequence[int], ids: Sequence[int], max_captions: int
) -> None:
    """Mark the cache complete: the text dimensions (`text_dims`), the latents' shape, the training faces held and
    how many captions of each (0 = all)."""
    atomic.write_json(folder / MANIFEST, {"version": VERSION, **dims, "latent_shape": list(latent_shape),
                                          "train_ids": sorted(ids), "max_captions": max_captions})  # fmt: skip


@torch.no_grad()
def cache_latents(
    folder: Path, dataset, autoencoder, batch_size: int = 8, device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> int:  # fmt: skip
    """Encode every face of `dataset` (a mdit.data FaceDataset) not cached yet: packed image and mask latents,
    and the mirrored ones when the dataset flips, stored in `dtype`. Returns how many faces were written."""
    from mdit.data.datamodule import to_sample  # noqa: PLC0415 (data imports Lightning; keep conditioning light)
    from mdit.data.labels import flip_label_map  # noqa: PLC0415

    from .mask import encode_image, encode_mask  # noqa: PLC0415

    todo = [i for i in range(len(dataset)) if not latents_path(folder, dataset.sample_id(i)).is_file()]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        views = {"": [dataset.load(i) for i in chunk]}
        if dataset.flip_p > 0:
            views["_flipped"] = [(image[:, ::-1], flip_label_map(mask)) for image, mask in views[""]]
        encoded = {}
        for suffix, faces in views.items():
            samples = [to_sample(image, mask, "", 0, 0, dataset.source) for image, mask in faces]
            images = torch.stack([s["image"] for s in samples]).to(device)
            masks = torch.stack([s["mask"] for s in samples]).to(device)
            encoded["image" + suffix] = encode_image(images, autoencoder).to(dtype)
            encoded["mask" + suffix] = encode_mask(masks, autoencoder).to(dtype)
        for row, index in enumerate(chunk):
            save_tensors(latents_path(folder, dataset.sample_id(index)), {k: v[row] for k, v in encoded.items()})
    return len(todo)
