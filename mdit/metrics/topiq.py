"""TOPIQ (pyiqa's topiq_nr, trained on KonIQ): no-reference image quality, the paper's main quality number.

The network is built with no weights at all (pretrained=False, backbone_pretrain=False) and the local
checkpoint is then loaded strictly, exactly as pyiqa loads its download: nothing is fetched, and a wrong
file fails loudly (pyiqa's `pretrained_model_path=` loads non-strictly and would hide it).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
from torchmetrics import Metric

from mdit.judges.weights import require_file
from mdit.metrics.per_sample import concatenated

TOPIQ_WEIGHTS_FILE = "cfanet_nr_koniq_res50-9a73138b.pth"


def topiq_weights_path(torch_home: str | Path) -> Path:
    """Where pyiqa keeps the file: `<TORCH_HOME>/hub/pyiqa/` (torch.hub.get_dir() + "pyiqa")."""
    return Path(torch_home).expanduser() / "hub" / "pyiqa" / TOPIQ_WEIGHTS_FILE


class TopiqScore(Metric):
    """Mean TOPIQ score (about 0..1, higher is better) over all images seen, images in [-1, 1].

    Each image's score is kept too (`per_sample`), so tables can bootstrap over samples.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, model: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("scores", default=[], dist_reduce_fx="cat")  # per image
        self.eval()

    @torch.no_grad()
    def update(self, images: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W] in [-1, 1], got {tuple(images.shape)}")
        scores = self.model(((images.float() + 1) / 2).clamp(0, 1))  # pyiqa wants RGB in [0, 1]
        scores = scores.double().reshape(images.shape[0]).to(self.total.device)  # pyiqa gives [B, 1]
        self.total += scores.sum()
        self.count += images.shape[0]
        self.scores.append(scores)

    def compute(self) -> torch.Tensor:
        return self.total / self.count  # nothing seen: 0 / 0 = NaN, reported as n/a, never 0

    def per_sample(self) -> torch.Tensor:
        """[N] float64: each image's score, in the order seen."""
        return concatenated(self.scores)

    def train(self, mode: bool = True) -> TopiqScore:
        """The judge stays in eval mode inside a training module (in train mode CFANet applies dropout)."""
        return super().train(False)


def load_topiq(torch_home: str | Path, device: str | torch.device = "cpu") -> TopiqScore:
    """TOPIQ from `<torch_home>/hub/pyiqa/cfanet_nr_koniq_res50-9a73138b.pth`; works whenever pyiqa was imported.

    pyiqa resolves its cache folder once, at import (pyiqa.utils.download_util.DEFAULT_CACHE_DIR), so
    TORCH_HOME set later would be ignored; taking the folder as an argument and loading the file here avoids that.
    """
    import pyiqa
    from pyiqa.archs.arch_util import load_pretrained_network

    file = require_file(
        topiq_weights_path(torch_home),
        f"put TOPIQ's {TOPIQ_WEIGHTS_FILE} in {Path(torch_home).expanduser() / 'hub' / 'pyiqa'}/ "
        "(pyiqa's cache folder under TORCH_HOME)",
    )
    metric = pyiqa.create_metric("topiq_nr", device=torch.device("cpu"), pretrained=False, backbone_pretrain=False)
    try:  # what pyiqa does with its own download: the "params" entry, loaded strictly
        load_pretrained_network(metric.net, str(file), strict=True, weight_keys="params")
    except (KeyError, RuntimeError, TypeError) as error:
        raise ValueError(f"{file} is not a topiq_nr checkpoint ({{'params': CFANet state dict}}): {error}") from error
    return TopiqScore(metric.eval()).to(device)
