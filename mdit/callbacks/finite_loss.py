"""Stop at the first non-finite loss, before its backward, on every rank at once."""

from __future__ import annotations

import lightning as L
import torch


class StopOnNonFiniteLoss(L.Callback):
    """A NaN or infinite loss on any rank stops every rank before the weights are touched: the last checkpoint
    holds the last good weights."""

    def on_before_backward(self, trainer: L.Trainer, module: L.LightningModule, loss: torch.Tensor) -> None:
        finite = bool(torch.isfinite(loss.detach()))
        if not trainer.strategy.reduce_boolean_decision(finite, all=True):
            raise FloatingPointError(
                f"loss is {loss.item()} at step {trainer.global_step}: stopping; "
                "the last checkpoint holds the last good weights"
            )
