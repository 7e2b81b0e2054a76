"""Training faces as cached latents (`mdit cache-embeddings`): the same captions and flips, no image decoding;
and how the cache's latent files are written.

A sample is {"latent", "mask_latent" (packed, [N, C]), "caption", "id", "caption_index", "source"}: the
training step reads the latents instead of encoding "image" and "mask", and looks the caption up in the
text cache. Caption choice and mirroring are the wrapped dataset's own draw, so a run sees the same
(face, caption, flip) stream with or without the cache.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch.utils.data import Dataset

from mdit.conditioning.mask import encode_image, encode_mask
from mdit.data.faces import FaceDataset, Index, to_sample
from mdit.labels import flip_label_map
from mdit.progress import Progress

from .store import latents_path, read_manifest, save_tensors


class CachedLatentsDataset(Dataset):
    """`dataset`'s faces read from the latents of a complete embedding cache in `folder`."""

    def __init__(self, dataset: FaceDataset, folder: str | Path) -> None:
        self.dataset, self.folder = dataset, Path(folder)
        manifest = read_manifest(self.folder)  # complete, or an error that says how to build it
        held = set(manifest["train_ids"])
        missing = [dataset.sample_id(i) for i in range(len(dataset)) if dataset.sample_id(i) not in held]
        cached, wanted = manifest["max_captions"], dataset.max_captions
        if missing or (cached and (not wanted or wanted > cached)):
            raise ValueError(
                f"the embedding cache {self.folder} was built for another selection ({len(missing)} "
                f"training faces missing, e.g. {missing[:3]}; captions per face: {cached or 'all'}, "
                f"wanted: {wanted or 'all'}): rerun `mdit cache-embeddings` with this config"
            )
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: Index) -> dict:
        index, epoch = index if isinstance(index, tuple) else (index, self.epoch)
        captions = self.dataset.shown_captions(int(index))
        caption_index, flipped = self.dataset.draw(int(index), epoch, len(captions))
        id_ = self.dataset.sample_id(int(index))
        path = latents_path(self.folder, id_)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} missing: the embedding cache does not hold face {id_}; "
                "rerun `mdit cache-embeddings` with this config"
            )
        latents = load_file(str(path))
        suffix = "_flipped" if flipped else ""
        return {
            "latent": latents["image" + suffix],
            "mask_latent": latents["mask" + suffix],
            "caption": captions[caption_index],
            "id": id_,
            "caption_index": caption_index,
            "source": self.dataset.source,
        }


@torch.no_grad()
def cache_latents(
    folder: Path,
    dataset: FaceDataset,
    autoencoder,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> int:
    """Encode every face of `dataset` (a mdit.data FaceDataset) not cached yet: packed image and mask latents,
    and the mirrored ones when the dataset flips, stored in `dtype`. Returns how many faces were written."""
    todo = [i for i in range(len(dataset)) if not latents_path(folder, dataset.sample_id(i)).is_file()]
    with Progress(len(dataset), "cache-embeddings/train", unit="face", done=len(dataset) - len(todo)) as bar:
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
            bar.update(len(chunk))
    return len(todo)
