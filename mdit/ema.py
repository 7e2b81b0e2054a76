"""An exponential moving average of the trainable weights: placed like them, updated, swapped in, saved whole.

The average lives where the weights live (their device; sharded like them under FSDP), follows diffusers'
EMAModel warm-up (early averages do not remember the random initialisation), and is swapped in for validation
and sampling. Checkpoints hold it as whole tensors, so a run resumed on another number of ranks reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch.distributed.tensor import DTensor, distribute_tensor

Parameters = Mapping[str, torch.nn.Parameter]


class EMA:
    """The average of `params` with `decay` (the weights' current values at the start)."""

    def __init__(self, decay: float, params: Parameters) -> None:
        self.decay = decay
        self.shadow: dict[str, torch.Tensor] = {n: p.detach().clone() for n, p in params.items()}

    def place(self, params: Parameters, whole: Mapping[str, torch.Tensor] | None = None) -> None:
        """`whole` (whole tensors; default the average itself) laid out like `params`: on their device, and sharded
        like them under FSDP."""
        source = self.shadow if whole is None else whole
        placed = {}
        for name, value in source.items():
            param = params[name]
            if isinstance(param, DTensor):
                placed[name] = distribute_tensor(value.to(param.device), param.device_mesh, param.placements)
            else:
                placed[name] = value.to(param.device)
        self.shadow = placed

    @torch.no_grad()
    def update(self, params: Parameters, step: int) -> None:
        """One step of the average after optimizer step `step`, with diffusers' warm-up of the decay."""
        decay = min(self.decay, (1 + step) / (10 + step))
        for name, param in params.items():
            self.shadow[name].lerp_(param.detach(), 1 - decay)

    @contextmanager
    def swapped_in(self, params: Callable[[], Parameters]) -> Iterator[None]:
        """The average in place of the weights for the duration, the weights back after. `params()` gives the
        weights as they are at that moment (under FSDP the root unit's must be resharded first)."""
        current = params()
        saved = {n: p.detach().clone() for n, p in current.items()}
        self.copy_to(current)
        try:
            yield
        finally:
            with torch.no_grad():
                for name, param in params().items():
                    param.copy_(saved[name])

    @torch.no_grad()
    def copy_to(self, params: Parameters) -> None:
        """The average into the weights, for good (sampling only)."""
        for name, param in params.items():
            param.copy_(self.shadow[name])

    def whole(self, keep: bool = True) -> dict[str, torch.Tensor]:
        """The average as whole tensors for a checkpoint; sharded ones gathered one at a time onto the CPU (every
        rank takes part; only those with `keep`, the one writing the checkpoint, hold the result)."""
        whole = {}
        for name, value in self.shadow.items():
            if isinstance(value, DTensor):
                value = value.full_tensor().cpu()
            if keep:
                whole[name] = value
        return whole
