"""The one edge extractor of the sketch condition: scikit-image's Canny, on the image's luminance.

`mdit cache-conditions` derives sketches with it (data sets without sketches) and the sketch judge scores the
generated images' edges with it, so a sketch and the edges it is scored against come from the same operator.
"""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2gray
from skimage.feature import canny


def canny_sigma(size: int) -> float:
    """Gaussian sigma for an image `size` pixels wide: 1 px at 256 px and below, growing with the size (2 at 512)."""
    return max(1.0, size / 256.0)


def edge_map(image: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Canny edges (bool [H, W]) of one RGB image, uint8 [H, W, 3] or float [H, W, 3] in [0, 1].

    Thresholds are scikit-image's defaults on the luminance (10 % and 20 % of the dtype's range), the same for
    every image, so an image's score does not depend on the others in its batch.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected one RGB image [H, W, 3], got shape {tuple(image.shape)}")
    gray = rgb2gray(image.astype(np.float64) / 255.0 if image.dtype == np.uint8 else image.astype(np.float64))
    return canny(gray, sigma=canny_sigma(image.shape[1]) if sigma is None else sigma)
