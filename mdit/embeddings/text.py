"""Captions -> embeddings read from the cache (`data.embeddings=true`), and how the cache's text files are written."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors.torch import load_file

from mdit.conditioning.text import TextConditioner
from mdit.progress import Progress

from .store import read_manifest, save_tensors, text_path


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
                raise ValueError(
                    f"caption {caption!r} is not in the embedding cache {self.folder}: "
                    "`mdit cache-embeddings` caches the captions of every split; for new captions "
                    "set data.embeddings=false to load the text encoders"
                )
            stored = load_file(str(path))
            tokens.append(stored["tokens"])
            pooled.append(stored["pooled"])
        device = self._device.device
        return torch.stack(tokens).to(device), torch.stack(pooled).to(device)


@torch.no_grad()
def cache_text(folder: Path, text: TextConditioner, captions: Iterable[str], batch_size: int = 32) -> int:
    """Embed every caption not cached yet (the empty prompt always included); returns how many were written."""
    everything = {*captions, ""}
    todo = sorted(c for c in everything if not text_path(folder, c).is_file())
    with Progress(len(everything), "cache-embeddings/text", unit="caption", done=len(everything) - len(todo)) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            emb = text(chunk)
            for caption, tokens, pooled in zip(chunk, emb.tokens, emb.pooled):
                save_tensors(text_path(folder, caption), {"tokens": tokens, "pooled": pooled})
            bar.update(len(chunk))
    return len(todo)
