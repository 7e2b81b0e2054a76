"""Frozen pretrained parts: no gradients, and eval mode even when a parent calls `.train()`."""

from __future__ import annotations

from torch import nn


class Frozen(nn.Module):
    """Mixin for modules that are never trained (text encoders, the VAE).

    Lightning calls `.train()` on the whole LightningModule each epoch; overriding it keeps
    dropout and similar layers off here, so embeddings stay deterministic.
    """

    def freeze(self) -> None:
        """Switch off gradients and training mode; call at the end of `__init__`."""
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> Frozen:
        return super().train(False)
