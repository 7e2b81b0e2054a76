"""`mdit train` end to end, and a trained run loaded back from its folder.

Training itself is `mdit.trainer.fit`; the run folder's format is in runs.py. Re-running the same command
resumes from `last.ckpt`, or says the run is finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from mdit.data.registry import build_datamodule
from mdit.pretraining import backbone_for
from mdit.runs import LAST_CHECKPOINT, load_run_config, run_dir
from mdit.trainer import fit
from mdit.training import MDiTModule


def train(cfg: DictConfig) -> Path:
    """`mdit train`: the data (split chosen, every file checked), the backbone (built once if missing), then this
    variant's run. Returns the run folder."""
    data = build_datamodule(cfg)  # a bad split or a missing file stops the run before any weights load
    fit(cfg, backbone_for(cfg), data=data)
    return run_dir(cfg)


def load_run(
    folder: str | Path, overrides: Sequence[str] = (), for_sampling: bool = False, checkpoint: Path | None = None
) -> MDiTModule:
    """A trained run back from its folder: its config (`overrides` on top), its backbone, the weights of its last
    checkpoint (or of `checkpoint`, one it kept); `for_sampling`: made sampling-only (`MDiTModule.for_sampling`: EMA
    weights, image adapter merged)."""
    folder = Path(folder)
    cfg = load_run_config(folder, overrides)
    module = MDiTModule(cfg, backbone_for(cfg)).load_trained(checkpoint or folder / LAST_CHECKPOINT)
    return module.for_sampling() if for_sampling else module.eval()
