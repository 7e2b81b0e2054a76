"""Which forwards a training step runs: samples that dropped different conditions go through separate forwards (a
dropped condition has no tokens at all), and under FSDP every rank must run the same ones."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ConditionForward:
    """One forward of a step: its samples, which conditions they dropped (in the model's order), its loss weight."""

    dropped: tuple[bool, ...]
    samples: list[int]
    weight: float = 1.0


def condition_forwards(
    drops: torch.Tensor, sharded: bool, condition_tokens: bool, device: torch.device
) -> list[ConditionForward]:
    """The forwards of one step for drops [conditions, batch], one per drop pattern, every condition kept first.
    With DDP or one device: those this rank has samples for. Under FSDP each forward gathers weights with every
    rank, so each rank runs those any rank needs (on one sample, weighted zero, where it has none), and a
    condition-token variant always runs the all-kept one: its condition paths then get the (zero) gradient that
    `keep_every_weight` gives them under DDP, and AdamW steps them alike."""
    patterns = list(itertools.product((False, True), repeat=drops.shape[0]))
    groups = [(drops == torch.tensor(p)[:, None]).all(0) for p in patterns]
    wanted = [bool(group.any()) for group in groups]
    if sharded:
        flags = torch.tensor(wanted, dtype=torch.int32, device=device)
        torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        wanted = [bool(f) for f in flags.tolist()]
        wanted[0] = wanted[0] or condition_tokens
    forwards = []
    for pattern, group, run in zip(patterns, groups, wanted):
        samples = group.nonzero().flatten().tolist()
        if run:
            forwards.append(ConditionForward(pattern, samples) if samples else ConditionForward(pattern, [0], 0.0))
    return forwards


def keep_every_weight(drops: torch.Tensor, sharded: bool, condition_tokens: bool) -> bool:
    """Some condition was dropped by every sample, so its path gets no gradient this step: DDP (which expects a
    gradient for every trainable weight) needs a zero term that keeps them all in the graph. FSDP runs the
    all-kept forward instead (`condition_forwards`)."""
    return bool(drops.all(dim=1).any()) and condition_tokens and not sharded
