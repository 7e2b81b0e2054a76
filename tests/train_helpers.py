"""A tiny embedded config for the training tests: seconds per run on a CPU, nothing downloaded."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger
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


# Embedded judges small enough to train in seconds.
TINY_JUDGES = [
    "judges.parser_width=8",
    "judges.parser_steps=3",
    "judges.batch_size=4",
    "judges.heldout_size=4",
    "judges.clip_width=32",
    "judges.clip_steps=2",
    "judges.clip_batch_size=4",
    "judges.landmark_width=8",
    "judges.landmark_steps=3",
    "data.train_size=16",
]


def logged_fit(module, data, folder: Path, max_steps: int, val_every: int, callbacks=(), **trainer_args) -> list[dict]:
    """Fit `module` under a bare Trainer that logs to a CSV file in `folder`; the rows it logged."""
    trainer = L.Trainer(
        max_steps=max_steps,
        val_check_interval=val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        logger=CSVLogger(folder),
        callbacks=list(callbacks),
        enable_progress_bar=False,
        enable_checkpointing=False,
        **trainer_args,
    )
    trainer.fit(module, datamodule=data)
    with open(Path(trainer.logger.log_dir) / "metrics.csv") as rows:
        return list(csv.DictReader(rows))
