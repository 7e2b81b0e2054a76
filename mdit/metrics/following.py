"""Whom a generated face follows where its mask and its caption disagree (the conflict and agree sets).

Each sample comes with two masks: the one at the caption's value of the contested attribute and the one at the
other value (mdit.data.synthfaces.conflict). On the pixels where they differ, the parser's labels are counted
against each: the version with more of them wins, a tie (or no vote at all) is neither. The face follows the mask
when the winner is the version it was given, the caption when the winner is the caption's (in the agree set both).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from mdit.metrics.mask_accuracy import Parser
from mdit.metrics.per_sample import concatenated, mean_or_nan


def contested_votes(labels: torch.Tensor, caption_masks: torch.Tensor, other_masks: torch.Tensor) -> torch.Tensor:
    """[B, 2] pixel counts over each sample's contested pixels: labels equal to the caption's mask, to the other."""
    contested = caption_masks != other_masks
    for_caption = ((labels == caption_masks) & contested).flatten(1).sum(1)
    for_other = ((labels == other_masks) & contested).flatten(1).sum(1)
    return torch.stack([for_caption, for_other], 1)


class ConditionFollowing(Metric):
    """Percent of faces that follow the mask, and that follow the caption, on their contested pixels."""

    full_state_update = False
    higher_is_better = None  # in the conflict set, neither direction is "better": it is who wins

    def __init__(self, parser: Parser, **kwargs) -> None:
        super().__init__(**kwargs)
        self.parser = parser
        self.add_state("follows_mask", default=[], dist_reduce_fx="cat")  # per image: 1.0 or 0.0
        self.add_state("follows_caption", default=[], dist_reduce_fx="cat")

    def update(
        self, images: torch.Tensor, masks: torch.Tensor, caption_masks: torch.Tensor, other_masks: torch.Tensor
    ) -> None:
        """`masks`: the masks the faces were given (each equal to its caption's or to its other mask)."""
        contested = caption_masks != other_masks
        if not contested.flatten(1).any(1).all():
            raise ValueError("a sample's caption and other masks are equal: it contests no pixel")
        given_caption = ((masks == caption_masks) | ~contested).flatten(1).all(1)
        given_other = ((masks == other_masks) | ~contested).flatten(1).all(1)
        if not (given_caption ^ given_other).all():
            raise ValueError("each sample's mask must be its caption mask or its other mask on the contested pixels")
        votes = contested_votes(self.parser(images).to(masks.device), caption_masks, other_masks)
        caption_wins, other_wins = votes[:, 0] > votes[:, 1], votes[:, 1] > votes[:, 0]
        self.follows_caption.append(caption_wins.double())
        self.follows_mask.append(torch.where(given_caption, caption_wins, other_wins).double())

    def per_sample(self) -> dict[str, torch.Tensor]:
        """[N] float64 tensors of 0 / 1 in the order seen: "follows_mask" and "follows_caption"."""
        return {"follows_mask": concatenated(self.follows_mask), "follows_caption": concatenated(self.follows_caption)}

    def compute(self) -> dict[str, torch.Tensor]:
        return {key: 100 * mean_or_nan(values) for key, values in self.per_sample().items()}
