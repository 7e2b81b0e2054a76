"""A tiny embedded config for the training tests: seconds per run on a CPU, nothing downloaded."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from mdit.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(tmp: Path, *overrides: str) -> DictConfig:
    """experiments/synthfaces.yaml shrunk: 32 px, a 1+1-block backbone, a few steps, W&B off."""
    return load_config(ROOT / "experiments" / "synthfaces.yaml", tiny_overrides(tmp, *overrides))


def tiny_overrides(tmp: Path, *overrides: str) -> list[str]:
    """The key=value list of `tiny_config` (for a command line)."""
    return [
        f"output_dir={tmp / 'runs'}",
        f"cache_dir={tmp / 'cache'}",
        "wandb.mode=disabled",
        "backbone.hidden=48",
        "backbone.heads=3",
        "backbone.double_blocks=1",
        "backbone.single_blocks=1",
        "backbone.text_dim=32",
        "backbone.text_layers=1",
        "backbone.max_steps=4",
        "backbone.ema_decay=0.5",
        "data.resolution=32",
        "data.batch_size=4",
        "data.train_size=64",
        "data.val_size=4",
        "data.test_size=4",
        "train.max_steps=4",
        "train.val_every=2",
        "train.checkpoint_every=2",
        "train.sample_count=2",
        "train.sample_steps=2",
        "eval.steps=2",
        "eval.latency_repeats=1",
        *overrides,
    ]
