"""Runs: `mdit train` and `mdit pretrain-base` end to end (Lightning's Trainer), resuming, loading a run back.

The run folder's format is in runs.py. Re-running the same command resumes from `last.ckpt`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, Timer
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.strategies import ModelParallelStrategy, Strategy
from omegaconf import DictConfig, OmegaConf

from mdit import atomic
from mdit.backbone import Backbone, load_backbone, new_embedded_backbone, save_backbone
from mdit.callbacks import SampleGrid
from mdit.callbacks.cost import measure_cost
from mdit.checkpoint_io import AtomicCheckpointIO
from mdit.data.datamodule import FaceDataModule
from mdit.data.registry import build_datamodule as datamodule
from mdit.embeddings.text import CachedTextConditioner
from mdit.paths import embedded_backbone_dir, embeddings_dir
from mdit.runs import (
    LAST_CHECKPOINT,
    claim_run_folder,
    is_trained,
    load_run_config,
    read_metrics,
    run_dir,
    run_name,
    wandb_run_id,
    write_training_metrics,
)
from mdit.training import MDiTModule

# Frozen text encoders and autoencoders stay in eval mode on purpose (see conditioning/frozen.py).
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")


def with_values(cfg: DictConfig, values: dict) -> DictConfig:
    """A read-only copy of `cfg` with `values` merged in (schema-checked)."""
    merged = OmegaConf.merge(cfg, values)
    OmegaConf.set_readonly(merged, True)
    return merged


def backbone_dir(cfg: DictConfig) -> Path:
    """The backbone folder this config uses; the embedded one is pretrained first if missing."""
    if cfg.model.pretrained:
        return Path(cfg.model.pretrained).expanduser()
    folder = embedded_backbone_dir(cfg)
    return folder if (folder / "transformer").is_dir() else pretrain_backbone(cfg)


def pretrain_backbone(cfg: DictConfig) -> Path:
    """Train the embedded backbone text-to-image (strategy `none`, all weights) and save it like a FLUX folder."""
    target = embedded_backbone_dir(cfg)
    if (target / "transformer").is_dir():
        return target
    b = cfg.backbone
    pretrain_cfg = with_values(
        cfg,
        {
            "group": "backbone",
            "name": target.name,
            "tags": ["backbone"],
            "seed": b.seed,
            "model": {"attention": "none", "finetune": "full", "pretrained": None},
            "train": {
                "max_steps": b.max_steps,
                "lr": b.lr,
                "ema_decay": b.ema_decay,
                "mask_dropout": 0.0,
                "strategy": "auto",
                "devices": 1,
                "num_nodes": 1,
                "accumulate": 1,
            },  # tiny: one device
            "eval": {"cost": False},
        },
    )
    backbone = new_embedded_backbone(b, b.seed)
    module = fit(pretrain_cfg, backbone)
    with module.ema_weights():
        save_backbone(backbone, target)
    return target


def fit(
    cfg: DictConfig, backbone: Backbone, callbacks: Sequence[L.Callback] = (), data: FaceDataModule | None = None
) -> MDiTModule:
    """Train (or resume) the run of `cfg` on `backbone` and `data` (default: the config's, built before anything
    else); writes the run folder and metrics.json, whose `data_split` records the split used."""
    data = data if data is not None else datamodule(cfg)
    folder = run_dir(cfg)
    claim_run_folder(folder, cfg)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = MDiTModule(cfg, backbone)
    if not module.trainable_parameters():  # `none` with LoRA: the backbone itself is the text-only baseline
        return _untrained_run(module, folder, data.data_split)
    last = folder / LAST_CHECKPOINT
    if last.is_file() and is_trained(read_metrics(folder)):  # a rerun of a finished run: nothing to do
        return _load_trained(module, last).eval()
    grid = SampleGrid(folder / "samples", cfg.train.sample_count, cfg.train.sample_steps, cfg.seed)
    checkpoints = ModelCheckpoint(
        dirpath=folder / "checkpoints", save_last=True, save_top_k=0, every_n_train_steps=cfg.train.checkpoint_every
    )
    timer = Timer()
    trainer = L.Trainer(
        max_steps=cfg.train.max_steps,
        accelerator=cfg.train.accelerator,
        devices=cfg.train.devices,
        num_nodes=cfg.train.num_nodes,
        strategy=_strategy(cfg),
        accumulate_grad_batches=cfg.train.accumulate,
        use_distributed_sampler=False,  # the datamodule shards the training stream itself (StepSampler)
        precision=_precision(cfg),
        gradient_clip_val=cfg.train.grad_clip or None,
        val_check_interval=cfg.train.val_every * cfg.train.accumulate,  # Lightning counts it in batches
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=cfg.train.log_every,
        logger=_logger(cfg, folder),
        callbacks=[checkpoints, grid, timer, *callbacks],
        default_root_dir=folder,
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],
    )
    started = time.perf_counter()
    try:
        trainer.fit(module, datamodule=data, ckpt_path=last if last.is_file() else None)
        trainer.save_checkpoint(last)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()  # what follows (cost, results, `mdit eval`): rank 0 alone
        if not trainer.is_global_zero:
            return module
        if module.model.sharded:  # rank 0 alone from here: the whole trained model, from the last checkpoint
            module = _load_trained(MDiTModule(cfg, backbone_for(cfg)), last)
        # After fit, on the eval device (Lightning's teardown has moved the module back to the CPU).
        cost = (
            measure_cost(module.to(eval_device(cfg)), cfg.eval.steps, cfg.eval.latency_repeats) if cfg.eval.cost else {}
        )
        split = {"data_split": data.data_split} if data.data_split else {}
        summary = {f"cost/{k}": v for k, v in cost.items()} | split
        if summary and isinstance(trainer.logger, WandbLogger):
            trainer.logger.experiment.summary.update(summary)
    finally:
        if isinstance(trainer.logger, WandbLogger):
            trainer.logger.experiment.finish()
    metrics = {
        "world_size": trainer.world_size,
        "attention": cfg.model.attention,
        "finetune": cfg.model.finetune,
        "steps": trainer.global_step,
        "val_loss": _scalar(trainer.callback_metrics.get("val/loss")),
        "val_loss_without_mask": _scalar(trainer.callback_metrics.get("val/loss_without_mask")),
        "train_loss": _scalar(trainer.callback_metrics.get("train/loss")),
        "train_seconds_total": round(timer.time_elapsed("train"), 1),
        "train_seconds_this_process": round(time.perf_counter() - started, 1),
        "trainable_parameters": sum(p.numel() for _, p in module.trainable_parameters()),
        "samples": str(grid.last_path) if grid.last_path else None,
        "data_split": data.data_split,
        **cost,
    }
    write_training_metrics(folder, metrics)
    return module


def _untrained_run(module: MDiTModule, folder: Path, split: dict | None) -> MDiTModule:
    """A run with nothing to train: an empty checkpoint, so generation and evaluation work as for any run."""
    atomic.write_with(folder / LAST_CHECKPOINT, lambda tmp: torch.save({"state_dict": {}, "global_step": 0}, tmp))
    metrics = {"attention": module.cfg.model.attention, "steps": 0, "trainable_parameters": 0, "data_split": split}
    if module.cfg.eval.cost:
        metrics.update(
            measure_cost(module.to(eval_device(module.cfg)), module.cfg.eval.steps, module.cfg.eval.latency_repeats)
        )
    write_training_metrics(folder, metrics)
    return module


def eval_device(cfg: DictConfig) -> torch.device:
    """`eval.device`, where auto = cuda when available, else cpu (sampling, cost, `mdit eval`, cache-embeddings)."""
    if cfg.eval.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.eval.device)


def backbone_for(cfg: DictConfig) -> Backbone:
    """The backbone of a config: its folder, weights dtype and text length; with data.embeddings the cached text
    embeddings stand in for the text encoders, which are then never loaded."""
    text = CachedTextConditioner(embeddings_dir(cfg)) if cfg.data.embeddings else None
    return load_backbone(backbone_dir(cfg), cfg.model.dtype, cfg.model.text_max_length or None, text)


def train(cfg: DictConfig) -> Path:
    """`mdit train`: the data (split chosen, every file checked), the backbone (built once if missing), then this
    variant's run. Returns the run folder."""
    data = datamodule(cfg)  # a bad split or a missing file stops the run before any weights load
    fit(cfg, backbone_for(cfg), data=data)
    return run_dir(cfg)


def load_run(folder: str | Path, overrides: Sequence[str] = (), for_sampling: bool = False) -> MDiTModule:
    """A trained run back from its folder: its config (`overrides` on top), its backbone, its checkpoint's weights;
    `for_sampling`: made sampling-only (`MDiTModule.for_sampling`: EMA weights, image adapter merged)."""
    folder = Path(folder)
    cfg = load_run_config(folder, overrides)
    checkpoint = folder / LAST_CHECKPOINT
    module = _load_trained(MDiTModule(cfg, backbone_for(cfg)), checkpoint)
    return module.for_sampling() if for_sampling else module.eval()


def _load_trained(module: MDiTModule, checkpoint: Path) -> MDiTModule:
    """`module` with a checkpoint's trainable weights (and EMA)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    module.on_load_checkpoint(state)
    module.load_state_dict(state["state_dict"], strict=False)
    return module


def _strategy(cfg: DictConfig) -> str | Strategy:
    """Lightning's strategy for train.strategy; fsdp = FSDP2 data parallel over every rank, checkpoints gathered
    into one file on rank 0 (what `mdit generate` and `mdit eval` read, as for the other strategies)."""
    if cfg.train.strategy != "fsdp":
        return cfg.train.strategy
    ranks = cfg.train.devices * cfg.train.num_nodes
    return ModelParallelStrategy(data_parallel_size=ranks, tensor_parallel_size=1, save_distributed_checkpoint=False)


def _precision(cfg: DictConfig) -> str:
    """train.precision; auto = bf16-mixed on GPU or over a half-precision base, else 32-true."""
    if cfg.train.precision != "auto":
        return cfg.train.precision
    if cfg.model.dtype == "float16":
        return "16-mixed"
    gpu = torch.cuda.is_available() and cfg.train.accelerator in ("auto", "gpu", "cuda")
    return "bf16-mixed" if gpu or cfg.model.dtype == "bfloat16" else "32-true"


def _logger(cfg: DictConfig, folder: Path) -> WandbLogger | bool:
    if cfg.wandb.mode == "disabled":
        return False
    logger = WandbLogger(
        name=run_name(cfg),
        project=cfg.wandb.project,
        entity=cfg.wandb.entity,
        group=cfg.group,
        tags=list(cfg.tags),
        save_dir=str(folder),
        offline=cfg.wandb.mode == "offline",
        id=wandb_run_id(cfg),
        resume="allow",
    )
    logger.log_hyperparams(OmegaConf.to_container(cfg))
    return logger


def _scalar(value: torch.Tensor | None) -> float | None:
    return None if value is None else round(float(value), 6)
