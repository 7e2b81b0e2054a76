"""The dataset base class of every data source and THE SAMPLE FORMAT.

Every dataset of the framework (a FaceDataset: SynthFaces, CelebAMask-HQ, face folders) returns one dict
per sample, and the default collate turns a list of them into a batch:

    {
        "image":         float32 tensor [3, H, W], RGB in [-1, 1]
        "mask":          int64 tensor [H, W], official CelebAMask-HQ ids 0..18 (see labels.py)
        "caption":       str (one of the sample's 10 captions; collated to a list of str)
        "id":            int, the dataset id (for SynthFaces: the seed)
        "caption_index": int, which of the 10 captions was returned
        "source":        str, "synthfaces", "celebamask_hq" or "folder"
    }

No caption dropout here: the model drops conditions itself. All randomness
(caption choice, flips, shuffling) is derived from (id or seed, epoch), never from
worker RNG state, so any num_workers gives the same batches. With cached embeddings
the training split's samples hold "latent" and "mask_latent" instead (mdit/embeddings/latents.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from mdit.labels import check_same_size, flip_label_map, validate_label_map

CAPTION_MODES = ("random", "fixed")
_CAPTION_STREAM, _FLIP_STREAM = 10, 11

Index = int | tuple[int, int]  # plain index, or (index, epoch) as yielded by EpochSampler


def _epoch_generator(seed: int, epoch: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, stream])))


def to_sample(image: np.ndarray, mask: np.ndarray, caption: str, id_: int, caption_index: int, source: str) -> dict:
    """Pack uint8 [H, W, 3] + label map into the shared sample format (image scaled to [-1, 1]).

    Raises MaskError if the mask is not a valid label map of the image's size: every loader goes through here.
    """
    check_same_size(image.shape[:2], mask.shape)
    validate_label_map(mask)
    pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
    return {
        "image": pixels,
        "mask": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64)),
        "caption": caption,
        "id": int(id_),
        "caption_index": int(caption_index),
        "source": source,
    }


class FaceDataset(Dataset):
    """Base of every dataset: subclasses say how to load a face; caption choice, flips and packing live here.

    ``caption_mode`` "random" picks a caption from (sample id, epoch), "fixed" always caption ``id % n``;
    ``flip_p`` mirrors image and mask (l/r labels swapped) with an (id, epoch)-determined coin.
    ``max_captions`` > 0 uses only each face's first captions (what an embedding cache must hold).
    """

    source: str
    max_captions: int = 0

    def __init__(self, caption_mode: str = "random", flip_p: float = 0.0) -> None:
        if caption_mode not in CAPTION_MODES:
            raise ValueError(f"caption_mode must be one of {CAPTION_MODES}, got {caption_mode!r}")
        if not 0.0 <= flip_p <= 1.0:
            raise ValueError(f"flip_p must be in [0, 1], got {flip_p}")
        self.caption_mode, self.flip_p = caption_mode, flip_p
        self.epoch = 0

    def __len__(self) -> int:
        raise NotImplementedError

    def sample_id(self, index: int) -> int:
        """The dataset id behind position ``index`` (a SynthFaces seed, a CelebA-HQ image number)."""
        raise NotImplementedError

    def captions_of(self, index: int) -> list[str]:
        """Every caption of the face at ``index`` (at least one)."""
        raise NotImplementedError

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The face at ``index``, unflipped: uint8 RGB [R, R, 3] and its label map [R, R]."""
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Epoch used for caption choice and flips when an index comes without one."""
        self.epoch = epoch

    def load_with_captions(self, index: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``load(index)`` and ``captions_of(index)`` together; a source that makes both at once overrides it."""
        return (*self.load(index), self.captions_of(index))

    def shown_captions(self, index: int) -> list[str]:
        """The captions the face at ``index`` is shown with: all, or the first ``max_captions``."""
        return self._shown(self.captions_of(index))

    def _shown(self, captions: list[str]) -> list[str]:
        return captions[: self.max_captions] if self.max_captions else captions

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return index

    def draw(self, index: int, epoch: int, caption_count: int | None = None) -> tuple[int, bool]:
        """(caption index, flipped) of position ``index`` in ``epoch``: a function of (id, epoch) only."""
        id_ = self.sample_id(index)
        count = caption_count or len(self.shown_captions(index))
        if self.caption_mode == "fixed":
            caption_index = id_ % count
        else:
            caption_index = int(_epoch_generator(id_, epoch, _CAPTION_STREAM).integers(count))
        flipped = self.flip_p > 0.0 and _epoch_generator(id_, epoch, _FLIP_STREAM).random() < self.flip_p
        return caption_index, flipped

    def __getitem__(self, index: Index) -> dict:
        index, epoch = index if isinstance(index, tuple) else (index, self.epoch)
        index = self._check_index(int(index))
        image, mask, captions = self.load_with_captions(index)
        captions = self._shown(captions)
        caption_index, flipped = self.draw(index, epoch, len(captions))
        if flipped:
            image, mask = image[:, ::-1], flip_label_map(mask)
        return to_sample(image, mask, captions[caption_index], self.sample_id(index), caption_index, self.source)
