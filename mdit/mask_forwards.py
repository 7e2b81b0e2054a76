"""Which forwards a training step runs: the samples that kept their mask and those that dropped it go through
separate forwards (a dropped mask has no tokens at all), and under FSDP every rank must run the same ones."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MaskForward:
    """One forward of a step: its samples, whether their mask is dropped, and the weight of its loss."""

    mask_dropped: bool
    samples: list[int]
    weight: float = 1.0


def mask_forwards(mask_drop: torch.Tensor, sharded: bool, mask_tokens: bool, device: torch.device) -> list[MaskForward]:
    """The forwards of one step, kept-mask first. With DDP or one device: those this rank has samples for. Under
    FSDP each forward gathers weights with every rank, so each rank runs those any rank needs (on one sample,
    weighted zero, where it has none), and a mask-token variant always runs the kept-mask one: its mask path then
    gets the (zero) gradient that `keep_every_weight` gives it under DDP, and AdamW steps it alike."""
    groups = ((False, ~mask_drop), (True, mask_drop))
    wanted = [bool(group.any()) for _, group in groups]
    if sharded:
        flags = torch.tensor(wanted, dtype=torch.int32, device=device)
        torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        wanted = [bool(f) for f in flags.tolist()]
        wanted[0] = wanted[0] or mask_tokens
    forwards = []
    for (dropped, group), run in zip(groups, wanted):
        samples = group.nonzero().flatten().tolist()
        if run:
            forwards.append(MaskForward(dropped, samples) if samples else MaskForward(dropped, [0], 0.0))
    return forwards


def keep_every_weight(mask_drop: torch.Tensor, sharded: bool, mask_tokens: bool) -> bool:
    """No sample kept its mask, so the mask path gets no gradient this step: DDP (which expects a gradient for
    every trainable weight) needs a zero term that keeps them all in the graph. FSDP runs the kept-mask forward
    instead (`mask_forwards`)."""
    return bool(mask_drop.all()) and mask_tokens and not sharded
