"""Mask accuracy arithmetic on fixed inputs: a perfect parser scores 100, a known confusion its known value."""

import pytest
import torch

from mdit.data.labels import MaskError
from mdit.metrics.mask_accuracy import MaskAccuracy

MASKS = torch.randint(0, 19, (3, 8, 8), generator=torch.Generator().manual_seed(0))
IMAGES = torch.zeros(3, 3, 8, 8)


def test_a_perfect_parser_scores_100():
    metric = MaskAccuracy(lambda images: MASKS)
    metric.update(IMAGES, MASKS)
    assert metric.compute().item() == pytest.approx(100.0)


def test_a_known_confusion_gives_its_fraction_over_all_batches():
    wrong_quarter = MASKS.clone()
    wrong_quarter[:, :4, :4] = (wrong_quarter[:, :4, :4] + 1) % 19  # 16 of 64 pixels per image wrong
    metric = MaskAccuracy(lambda images: wrong_quarter[: len(images)])
    metric.update(IMAGES[:1], MASKS[:1])
    metric.update(IMAGES, MASKS)
    assert metric.compute().item() == pytest.approx(75.0)
    metric.reset()
    metric.update(IMAGES[:1], wrong_quarter[:1])
    assert metric.compute().item() == pytest.approx(100.0)


def test_bad_masks_and_sizes_are_errors():
    metric = MaskAccuracy(lambda images: MASKS)
    with pytest.raises(MaskError, match="outside 0..18"):
        metric.update(IMAGES, MASKS + 19)
    with pytest.raises(ValueError, match="differ in batch or size"):
        metric.update(torch.zeros(3, 3, 16, 16), MASKS)
