"""CLIP-T: 100 x cosine between the generated image's and its conditioning caption's CLIP embeddings."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from mdit.judges.clip import ClipJudge
from mdit.metrics.per_sample import concatenated


class ClipTScore(Metric):
    """Mean of 100 x cos(image, caption) over all pairs seen (no clamping at 0), with an open_clip judge.

    Each pair's score is kept too (`per_sample`), so tables can bootstrap over samples.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, judge: ClipJudge, **kwargs) -> None:
        super().__init__(**kwargs)
        self.judge = judge
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("scores", default=[], dist_reduce_fx="cat")  # per pair: 100 x cosine

    @torch.no_grad()
    def update(self, images: torch.Tensor, captions: list[str]) -> None:
        if len(captions) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(captions)} captions")
        empty = [i for i, c in enumerate(captions) if not c.strip()]
        if empty:
            raise ValueError(f"CLIP-T needs the conditioning caption; captions {empty[:5]} are empty")
        cosine = (self.judge.encode_images(images) * self.judge.encode_texts(list(captions))).sum(-1)
        scores = 100 * cosine.double().to(self.total.device)
        self.total += scores.sum()
        self.count += len(captions)
        self.scores.append(scores)

    def compute(self) -> torch.Tensor:
        return self.total / self.count  # nothing seen: 0 / 0 = NaN, reported as n/a, never 0

    def per_sample(self) -> torch.Tensor:
        """[N] float64: each pair's 100 x cosine, in the order seen."""
        return concatenated(self.scores)
