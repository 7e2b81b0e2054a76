"""Whom a face follows on the contested pixels, on hand-made 4x4 maps whose votes are counted here by hand."""

from __future__ import annotations

import pytest
import torch

from mdit.metrics.following import ConditionFollowing, contested_votes

HAT, HAIR, SKIN, BACKGROUND = 14, 13, 1, 0
# The caption says "a hat" (top row hat), the other version has hair there: 4 contested pixels.
CAPTION = torch.tensor([[HAT] * 4, [SKIN] * 4, [SKIN] * 4, [BACKGROUND] * 4])
OTHER = torch.tensor([[HAIR] * 4, [SKIN] * 4, [SKIN] * 4, [BACKGROUND] * 4])


def parsed(top_row: list[int]) -> torch.Tensor:
    """A parse equal to both masks outside the top row (those pixels never vote), `top_row` in it."""
    labels = CAPTION.clone()
    labels[0] = torch.tensor(top_row)
    return labels


def following(parses: list[torch.Tensor]) -> ConditionFollowing:
    """The metric with a parser that returns `parses` (the images only carry their index)."""
    stack = torch.stack(parses)
    metric = ConditionFollowing(lambda images: stack[images[:, 0, 0, 0].long()])
    return metric


def images(n: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 3, 4, 4)


def test_votes_count_only_contested_pixels():
    labels = parsed([HAT, HAT, HAT, HAIR])[None]
    assert contested_votes(labels, CAPTION[None], OTHER[None]).tolist() == [[3, 1]]
    assert contested_votes(parsed([SKIN] * 4)[None], CAPTION[None], OTHER[None]).tolist() == [[0, 0]]


def test_conflict_set_faces_follow_the_mask_the_caption_or_neither():
    parses = [parsed([HAT, HAT, HAT, HAIR]), parsed([HAIR, HAIR, HAT, HAIR]), parsed([HAT, HAIR, SKIN, SKIN])]
    metric = following(parses)
    n = len(parses)
    given = OTHER.expand(n, 4, 4)  # the conflict set: the mask shows the other version
    metric.update(images(n), given, CAPTION.expand(n, 4, 4), OTHER.expand(n, 4, 4))
    per_sample = metric.per_sample()
    assert per_sample["follows_caption"].tolist() == [1.0, 0.0, 0.0]  # 3 vs 1, 1 vs 3, 1 vs 1 (a tie: neither)
    assert per_sample["follows_mask"].tolist() == [0.0, 1.0, 0.0]
    result = metric.compute()
    assert result["follows_caption"].item() == pytest.approx(100 / 3) and result[
        "follows_mask"
    ].item() == pytest.approx(100 / 3)


def test_agree_set_faces_follow_both_or_neither():
    parses = [parsed([HAT, HAT, HAT, HAIR]), parsed([HAIR, HAIR, HAT, HAIR])]
    metric = following(parses)
    caption = CAPTION.expand(2, 4, 4)
    metric.update(images(2), caption, caption, OTHER.expand(2, 4, 4))  # the agree set: the mask is the caption's
    per_sample = metric.per_sample()
    assert per_sample["follows_caption"].tolist() == per_sample["follows_mask"].tolist() == [1.0, 0.0]


def test_a_mask_that_is_neither_version_or_a_pair_without_contest_is_an_error():
    metric = following([parsed([HAT] * 4)])
    with pytest.raises(ValueError, match="caption mask or its other mask"):
        metric.update(images(1), torch.full((1, 4, 4), SKIN), CAPTION[None], OTHER[None])
    with pytest.raises(ValueError, match="contests no pixel"):
        metric.update(images(1), CAPTION[None], CAPTION[None], CAPTION[None])
