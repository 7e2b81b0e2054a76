"""Metric arithmetic on fixed inputs: mask accuracy (perfect parser 100, known confusion) and CLIP-T."""

import pytest
import torch

from mdit.labels import MaskError
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


class _AxisJudge:
    """A fake CLIP judge: images and captions embed on fixed unit axes, so cosines are known."""

    def encode_images(self, images):
        return torch.nn.functional.one_hot(torch.zeros(len(images), dtype=torch.long), 2).float()

    def encode_texts(self, captions):
        return torch.tensor([[1.0, 0.0] if "red" in c else [0.0, 1.0] for c in captions])


def test_clip_t_is_100_times_the_mean_cosine():
    from mdit.metrics.clip_score import ClipTScore

    metric = ClipTScore(_AxisJudge())
    metric.update(torch.zeros(2, 3, 8, 8), ["red hair", "blue hat"])  # cosines 1 and 0
    metric.update(torch.zeros(1, 3, 8, 8), ["red"])  # 1
    assert metric.compute().item() == pytest.approx(100 * 2 / 3)
    with pytest.raises(ValueError, match="empty"):
        metric.update(torch.zeros(1, 3, 8, 8), [" "])
    with pytest.raises(ValueError, match="captions"):
        metric.update(torch.zeros(2, 3, 8, 8), ["red"])
