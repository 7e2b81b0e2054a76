"""SynthFaces: procedural faces with 19-class CelebAMask-HQ label maps and 10 MM-CelebA-HQ-style captions each.

A face is drawn from its seed alone: attributes (attributes.py) -> shapes (layout.py) rasterised into a label map
(raster.py) -> colours and shading (shading.py); captions describe the same attributes (captions.py), the sketch
(sketch.py) and the keypoints (landmarks.py) the same shapes. The dataset and its train/val/test seed ranges are in
dataset.py, the on-disk cache of rendered faces in render_cache.py.
"""

from .attributes import FaceAttributes, sample_attributes
from .captions import caption_vocabulary, caption_words, make_captions
from .dataset import SynthFacesDataset, synthfaces_splits
from .face import SynthFace, SynthFaces, draw, render, sample

__all__ = [
    "FaceAttributes",
    "SynthFace",
    "SynthFaces",
    "SynthFacesDataset",
    "caption_vocabulary",
    "caption_words",
    "draw",
    "make_captions",
    "render",
    "sample",
    "sample_attributes",
    "synthfaces_splits",
]
