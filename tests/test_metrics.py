"""Metric arithmetic on fixed inputs: mask accuracy (perfect parser 100, known confusion), per-image mIoU worked
out by hand, CLIP-T, and the per-sample values whose means are the aggregates."""

import pytest
import torch

from mdit.labels import MaskError
from mdit.metrics.iou import confusion_matrices
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


def test_per_sample_mask_accuracy_averages_to_the_aggregate():
    wrong = MASKS.clone()
    wrong[0, :4, :4] = (wrong[0, :4, :4] + 1) % 19  # image 0: 16 of 64 pixels wrong
    wrong[2, :2] = (wrong[2, :2] + 1) % 19  # image 2: 16 of 64 wrong
    wrong[2, 2, :4] = (wrong[2, 2, :4] + 1) % 19  # ... and 4 more
    metric = MaskAccuracy(lambda images: wrong[-len(images) :])
    metric.update(IMAGES[:1], MASKS[2:])  # batches of other sizes, in order: images 2, then 0..2
    metric.update(IMAGES, MASKS)
    per_sample = metric.per_sample()["mask_accuracy"]
    assert per_sample.tolist() == pytest.approx([100 * 44 / 64, 100 * 48 / 64, 100.0, 100 * 44 / 64])
    assert per_sample.mean().item() == pytest.approx(metric.compute().item())
    assert len(metric.per_sample()["miou"]) == 4


# Two 4x4 label maps and what a stub parser "sees" in them; every number below is counted by hand.
MASK_A = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 1, 1], [2, 2, 2, 2]])
PARSED_A = torch.tensor([[0, 0, 0, 1], [0, 0, 1, 1], [2, 2, 1, 1], [1, 1, 2, 2]])
MASK_B = torch.tensor([[0, 0, 0, 0], [0, 3, 3, 0], [0, 3, 3, 0], [0, 0, 0, 0]])
PARSED_B = torch.tensor([[5, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])


def test_mean_iou_of_each_image_by_hand():
    metric = MaskAccuracy(lambda images: torch.stack([PARSED_A, PARSED_B]))
    metric.update(torch.zeros(2, 3, 4, 4), torch.stack([MASK_A, MASK_B]))
    # A: 13 of 16 pixels right. Class 0: 4 shared / 5 in either; class 1: 5 / 8; class 2: 4 / 6.
    # B: 11 of 16 right. Class 0: 11 / 16; class 3 (mask only) and class 5 (parse only): IoU 0, still counted.
    iou_a = 100 * (4 / 5 + 5 / 8 + 4 / 6) / 3  # 69.72
    iou_b = 100 * (11 / 16 + 0 + 0) / 3  # 22.92
    per_sample = metric.per_sample()
    assert per_sample["mask_accuracy"].tolist() == pytest.approx([100 * 13 / 16, 100 * 11 / 16])
    assert per_sample["miou"].tolist() == pytest.approx([iou_a, iou_b])
    assert metric.mean_iou().item() == pytest.approx((iou_a + iou_b) / 2)
    assert metric.compute().item() == pytest.approx(100 * 24 / 32)
    metric.reset()
    assert metric.per_sample()["miou"].numel() == 0 and torch.isnan(metric.mean_iou())  # nothing seen: n/a, not 0


def test_a_perfect_parse_has_miou_100_and_classes_absent_from_both_do_not_count():
    metric = MaskAccuracy(lambda images: torch.stack([MASK_A, MASK_B]))
    metric.update(torch.zeros(2, 3, 4, 4), torch.stack([MASK_A, MASK_B]))
    assert metric.per_sample()["miou"].tolist() == pytest.approx([100.0, 100.0])


def test_confusion_matrices_count_target_rows_and_predicted_columns():
    confusion = confusion_matrices(PARSED_B[None], MASK_B[None], 6)
    assert confusion.shape == (1, 6, 6)
    assert (confusion[0, 0, 0], confusion[0, 0, 5], confusion[0, 3, 0], confusion.sum()) == (11, 1, 4, 16)
    with pytest.raises(ValueError, match="one shape"):
        confusion_matrices(PARSED_B[None], MASK_B, 6)


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
    assert metric.per_sample().tolist() == pytest.approx([100.0, 0.0, 100.0])  # one per pair, in order
    assert metric.per_sample().mean().item() == pytest.approx(metric.compute().item())
    with pytest.raises(ValueError, match="empty"):
        metric.update(torch.zeros(1, 3, 8, 8), [" "])
    with pytest.raises(ValueError, match="captions"):
        metric.update(torch.zeros(2, 3, 8, 8), ["red"])
