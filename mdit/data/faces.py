"""The dataset base class of every data source and THE SAMPLE FORMAT.

Every dataset of the framework (a FaceDataset: SynthFaces, CelebAMask-HQ, face folders) returns one dict
per sample, and the default collate turns a list of them into a batch:

    {
        "image":         float32 tensor [3, H, W], RGB in [-1, 1]
        "mask":          int64 tensor [H, W], official CelebAMask-HQ ids 0..18 (see labels.py)
        "sketch":        float32 tensor [H, W] in [0, 1], 1 = line (ink), 0 = paper       (where the source has it)
        "keypoints":     float32 tensor [20, 3] rows (x, y, visible) in pixels of the image  (where the source has it)
        "caption":       str (one of the sample's 10 captions; collated to a list of str)
        "id":            int, the dataset id (for SynthFaces: the seed)
        "caption_index": int, which of the 10 captions was returned
        "source":        str, "synthfaces", "celebamask_hq" or "folder"
    }

Keypoints (mdit/keypoints.py): x the column, y the row, pixel centres at integers, rows in the order of
``mdit.keypoints.NAMES``; a hidden landmark has visible 0 (at (0, 0) or its projected position). SynthFaces always
has both; a data set serves them through ``load_conditions``. A flip mirrors the sketch and applies
``flip_keypoints`` (x -> W - 1 - x, left and right landmarks swapped), as it mirrors the image and swaps the mask's
left and right labels. No caption dropout here: the model drops conditions itself. All randomness
(caption choice, flips, shuffling) is derived from (id or seed, epoch), never from
worker RNG state, so any num_workers gives the same batches. With cached embeddings
the training split's samples hold "latent" and "mask_latent" instead (mdit/embeddings/latents.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from mdit.keypoints import flip_keypoints, validate_keypoints
from mdit.labels import check_same_size, flip_label_map, validate_label_map

CAPTION_MODES = ("random", "fixed")
_CAPTION_STREAM, _FLIP_STREAM = 10, 11

Index = int | tuple[int, int]  # plain index, or (index, epoch) as yielded by EpochSampler
CONDITION_KEYS = ("sketch", "keypoints")  # what ``load_conditions`` may return, beside the mask every sample has
Conditions = Mapping[str, np.ndarray]


class ConditionError(ValueError):
    """A sketch or keypoint array a loader returned that is not valid for its image (or a kind that is unknown)."""


def _check_sketch(sketch: np.ndarray, size: tuple[int, int]) -> None:
    valid = f"a sketch must be float [{size[0]}, {size[1]}] (the image's height and width) in [0, 1], 1 = line"
    if sketch.ndim != 2 or tuple(sketch.shape) != tuple(size):
        raise ConditionError(f"{valid}; got shape {tuple(sketch.shape)}")
    if not np.issubdtype(sketch.dtype, np.floating):
        raise ConditionError(f"{valid}; got dtype {sketch.dtype}")
    finite = sketch[np.isfinite(sketch)]
    if finite.size < sketch.size or finite.min(initial=0.0) < 0.0 or finite.max(initial=0.0) > 1.0:
        found = f"values from {finite.min(initial=0.0)} to {finite.max(initial=0.0)}"
        raise ConditionError(
            f"{valid}; got {found}" + (" and NaN or infinite ones" if finite.size < sketch.size else "")
        )


def pack_conditions(conditions: Conditions, size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Sketch and keypoints of an image of ``size`` (H, W) as the sample format's float32 tensors, after checking
    them: ConditionError or KeypointError (keypoints.py) saying what is valid."""
    unknown = sorted(set(conditions) - set(CONDITION_KEYS))
    if unknown:
        raise ConditionError(f"unknown condition(s) {unknown}; a loader may return {', '.join(CONDITION_KEYS)}")
    packed = {}
    if "sketch" in conditions:
        sketch = np.asarray(conditions["sketch"])
        _check_sketch(sketch, size)
        packed["sketch"] = torch.from_numpy(np.ascontiguousarray(sketch, dtype=np.float32))
    if "keypoints" in conditions:
        points = np.asarray(conditions["keypoints"])
        validate_keypoints(points, size)
        packed["keypoints"] = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))
    return packed


def flip_conditions(conditions: Conditions, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The conditions of the mirrored image of ``size`` (H, W): the sketch mirrored, the keypoints (checked first)
    through ``flip_keypoints``."""
    flipped = dict(conditions)
    if "sketch" in flipped:
        flipped["sketch"] = np.asarray(flipped["sketch"])[:, ::-1]
    if "keypoints" in flipped:
        validate_keypoints(flipped["keypoints"], size)
        flipped["keypoints"] = flip_keypoints(flipped["keypoints"], size[1])
    return flipped


def _epoch_generator(seed: int, epoch: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, stream])))


def to_sample(
    image: np.ndarray,
    mask: np.ndarray,
    caption: str,
    id_: int,
    caption_index: int,
    source: str,
    conditions: Conditions | None = None,
) -> dict:
    """Pack uint8 [H, W, 3] + label map (+ sketch and keypoints) into the shared sample format (image in [-1, 1]).

    Raises MaskError if the mask is not a valid label map of the image's size, ConditionError / KeypointError if a
    condition is not valid for the image (see ``pack_conditions``): every loader goes through here.
    """
    check_same_size(image.shape[:2], mask.shape)
    validate_label_map(mask)
    extra = pack_conditions(conditions, tuple(image.shape[:2])) if conditions else {}
    pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
    return {
        "image": pixels,
        "mask": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64)),
        **extra,
        "caption": caption,
        "id": int(id_),
        "caption_index": int(caption_index),
        "source": source,
    }


class FaceDataset(Dataset):
    """Base of every dataset: subclasses say how to load a face; caption choice, flips and packing live here.

    ``caption_mode`` "random" picks a caption from (sample id, epoch), "fixed" always caption ``id % n``;
    ``flip_p`` mirrors image, mask (l/r labels swapped) and conditions with an (id, epoch)-determined coin.
    ``max_captions`` > 0 uses only each face's first captions (what an embedding cache must hold).
    A source with sketches or keypoints returns them from ``load_conditions``.
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

    def load_conditions(self, index: int) -> dict[str, np.ndarray]:
        """The face's spatial conditions besides the mask, unflipped: "sketch" float32 [R, R] in [0, 1] (1 = line)
        and "keypoints" float32 [20, 3] (x, y, visible) in its pixels, where the source has them (default: none)."""
        return {}

    def set_epoch(self, epoch: int) -> None:
        """Epoch used for caption choice and flips when an index comes without one."""
        self.epoch = epoch

    def load_with_captions(self, index: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``load(index)`` and ``captions_of(index)`` together; a source that makes both at once overrides it."""
        return (*self.load(index), self.captions_of(index))

    def load_with_conditions(self, index: int) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, np.ndarray]]:
        """``load_with_captions`` and ``load_conditions`` of ``index``; a source making all at once overrides it."""
        return (*self.load_with_captions(index), self.load_conditions(index))

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
        image, mask, captions, conditions = self.load_with_conditions(index)
        captions = self._shown(captions)
        caption_index, flipped = self.draw(index, epoch, len(captions))
        if flipped:
            image, mask = image[:, ::-1], flip_label_map(mask)
            conditions = flip_conditions(conditions, image.shape[:2])
        id_ = self.sample_id(index)
        return to_sample(image, mask, captions[caption_index], id_, caption_index, self.source, conditions)
