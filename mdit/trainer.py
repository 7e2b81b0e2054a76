"""`fit`: one run under Lightning's Trainer (strategy, precision, logger, callbacks), resumed from its last
checkpoint, its results written into the run folder (mdit.runs)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    DeviceStatsMonitor,
    LearningRateMonitor,
    ModelCheckpoint,
    ThroughputMonitor,
    Timer,
)
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.strategies import ModelParallelStrategy, Strategy
from omegaconf import DictConfig, OmegaConf

from mdit import atomic
from mdit.backbone import Backbone
from mdit.callbacks import CostMeasurement, ProgressLines, SampleGrid, StopOnNonFiniteLoss
from mdit.checkpoint_io import AtomicCheckpointIO
from mdit.cost.measure import measure_cost
from mdit.data.datamodule import FaceDataModule
from mdit.data.registry import build_datamodule
from mdit.devices import eval_device
from mdit.runs import (
    LAST_CHECKPOINT,
    STEP_CHECKPOINT,
    claim_run_folder,
    is_trained,
    read_metrics,
    run_dir,
    run_name,
    wandb_run_id,
    write_training_metrics,
)
from mdit.training import MDiTModule

# Frozen text encoders and autoencoders stay in eval mode on purpose (see conditioning/frozen.py).
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
# Samples per second is what the throughput monitor reports here; it would also count FLOPs, given a formula.
warnings.filterwarnings("ignore", message="When using the `ThroughputMonitor`, you need to define a `flops_per_batch`")


def fit(
    cfg: DictConfig,
    backbone: Backbone,
    callbacks: Sequence[L.Callback] = (),
    data: FaceDataModule | None = None,
    label: str = "train",
) -> MDiTModule:
    """Train (or resume) the run of `cfg` on `backbone` and `data` (default: the config's, built before anything
    else); writes the run folder and metrics.json, whose `data_split` records the split used. `label`: of the
    progress lines."""
    data = data if data is not None else build_datamodule(cfg)
    folder = run_dir(cfg)
    claim_run_folder(folder, cfg)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = MDiTModule(cfg, backbone)
    if not module.trainable_parameters():  # `none` with LoRA: the backbone itself is the text-only baseline
        return _untrained_run(module, folder, data.data_split)
    last = folder / LAST_CHECKPOINT
    finished = read_metrics(folder)
    if last.is_file() and is_trained(finished):  # a rerun of a finished run: nothing to do
        print(f"{folder}: finished already ({finished['steps']} steps, metrics.json); remove the folder to retrain")
        return module.load_trained(last).eval()
    grid = SampleGrid(folder / "samples", cfg.train.sample_count, cfg.train.sample_steps, cfg.seed)
    cost = CostMeasurement(cfg.eval.steps, cfg.eval.latency_repeats, cfg.eval.cost_at_validation)
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
        log_every_n_steps=min(cfg.train.log_every, cfg.train.max_steps),  # a short run logs train/loss too
        logger=_logger(cfg, folder),
        callbacks=[
            _checkpoints(cfg, folder),
            grid,
            timer,
            StopOnNonFiniteLoss(),
            ProgressLines(label),
            *_monitors(cfg),
            *([cost] if cfg.eval.cost else []),
            *callbacks,
        ],
        default_root_dir=folder,
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],
    )
    started = time.perf_counter()
    try:
        trainer.fit(module, datamodule=data, ckpt_path=last if last.is_file() else None)
        trainer.save_checkpoint(last)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()  # what follows (results, `mdit eval`): rank 0 alone
        if not trainer.is_global_zero:
            return module
        late = _measure_whole(cfg, last) if cfg.eval.cost and not cost.results else {}  # see _measure_whole
        cost.results = cost.results or late
        summary = {f"cost/{k}": v for k, v in late.items()} | _split(data)
        if isinstance(trainer.logger, WandbLogger):
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
        **cost.results,
    }
    write_training_metrics(folder, metrics)
    return module


def _untrained_run(module: MDiTModule, folder: Path, split: dict | None) -> MDiTModule:
    """A run with nothing to train: an empty checkpoint, so generation and evaluation work as for any run."""
    atomic.write_with(folder / LAST_CHECKPOINT, lambda tmp: torch.save({"state_dict": {}, "global_step": 0}, tmp))
    cfg = module.cfg
    metrics = {"attention": cfg.model.attention, "steps": 0, "trainable_parameters": 0, "data_split": split}
    if cfg.eval.cost:
        metrics.update(measure_cost(module.to(eval_device(cfg)), cfg.eval.steps, cfg.eval.latency_repeats))
    write_training_metrics(folder, metrics)
    return module


def _measure_whole(cfg: DictConfig, checkpoint: Path) -> dict[str, float]:
    """The cost of a run stopped after its last checkpoint and before its results: resumed, it trains no step and
    the callback never runs. Measured on the whole model from the checkpoint, on the eval device, rank 0 alone."""
    module = MDiTModule.load_from_checkpoint(checkpoint, map_location="cpu")
    return measure_cost(module.to(eval_device(cfg)), cfg.eval.steps, cfg.eval.latency_repeats)


def _checkpoints(cfg: DictConfig, folder: Path) -> ModelCheckpoint:
    """last.ckpt every train.checkpoint_every steps; with train.keep_checkpoints also step=NNNNNN.ckpt, kept."""
    keep = -1 if cfg.train.keep_checkpoints else 0
    every = cfg.train.checkpoint_every
    return ModelCheckpoint(
        folder / "checkpoints", STEP_CHECKPOINT, save_last=True, save_top_k=keep, every_n_train_steps=every
    )


def _monitors(cfg: DictConfig) -> list[L.Callback]:
    """What the logger charts beside the losses: the learning rate, samples per second, on GPU the memory."""
    if cfg.wandb.mode == "disabled":
        return []
    window = max(2, min(50, cfg.train.max_steps))  # batches in its rolling average (a full window before any value)
    monitors = [LearningRateMonitor(), ThroughputMonitor(batch_size_fn=_batch_size, window_size=window)]
    if torch.cuda.is_available() and cfg.train.accelerator in ("auto", "gpu", "cuda"):
        monitors.append(DeviceStatsMonitor(cpu_stats=False))
    return monitors


def _batch_size(batch: dict) -> int:
    return len(batch["caption"])


def _split(data: FaceDataModule) -> dict:
    return {"data_split": data.data_split} if data.data_split else {}


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
