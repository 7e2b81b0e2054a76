"""Per-sample list states of the metrics, read back as one tensor in the order the samples were seen."""

from __future__ import annotations

import torch
from torchmetrics.utilities import dim_zero_cat


def concatenated(state: list[torch.Tensor] | torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """One [N] tensor from a "cat" list state (a tensor once synced); empty, not an error, when nothing was seen."""
    if isinstance(state, list) and not state:
        return torch.zeros(0, dtype=dtype)
    return dim_zero_cat(state)


def mean_or_nan(values: torch.Tensor) -> torch.Tensor:
    """The mean of per-sample values; NaN (reported as n/a, never 0) when there are none."""
    return values.double().mean() if values.numel() else torch.tensor(float("nan"), dtype=torch.float64)
