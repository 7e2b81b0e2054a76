"""Where sampling, cost measurement, `mdit eval` and `mdit cache-embeddings` run."""

from __future__ import annotations

import torch
from omegaconf import DictConfig


def eval_device(cfg: DictConfig) -> torch.device:
    """`eval.device`, where auto = cuda when available, else cpu."""
    if cfg.eval.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.eval.device)
