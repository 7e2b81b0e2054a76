"""Data: CelebAMask-HQ label tables, the SynthFaces generator, datasets and datamodules.

The datamodule names are imported lazily so that using labels or SynthFaces does not import Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

from .attributes import FaceAttributes, sample_attributes
from .captions import caption_vocabulary, caption_words, make_captions
from .labels import (
    BISENET_TO_OFFICIAL,
    FLIP_PAIRS,
    LABELS,
    NUM_CLASSES,
    OFFICIAL_TO_BISENET,
    PALETTE,
    MaskError,
    check_same_size,
    color_to_label_map,
    flip_label_map,
    label_map_to_color,
    remap,
    validate_label_map,
)
from .synthfaces import SynthFace, SynthFaces, draw, render, sample

_LAZY = {
    "SynthFacesDataset": "datamodule",
    "SynthFacesDataModule": "datamodule",
    "EpochSampler": "datamodule",
    "FaceDataset": "datamodule",
    "FaceDataModule": "datamodule",
    "to_sample": "datamodule",
    "build_datamodule": "registry",
    "CelebAMaskHQDataset": "celebamask_hq",
    "FolderDataset": "folder",
    "Captions": "mm_celeba",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BISENET_TO_OFFICIAL", "FLIP_PAIRS", "LABELS", "NUM_CLASSES", "OFFICIAL_TO_BISENET", "PALETTE", "MaskError",
    "check_same_size", "color_to_label_map", "flip_label_map", "label_map_to_color", "remap", "validate_label_map",
    "FaceAttributes", "SynthFace", "SynthFaces", "draw", "render", "sample", "sample_attributes",
    "caption_vocabulary", "caption_words", "make_captions", *_LAZY,
]  # fmt: skip
