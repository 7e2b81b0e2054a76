"""Where `mdit eval` results go: metrics.json (merged under "eval" -> mode), the W&B summary (and the per-sample
scores as a W&B table), a printed table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mdit import atomic
from mdit.runs import EVAL_KEY, METRICS_FILE, run_name, wandb_run_id

METRICS = (
    ("mask_accuracy", "mask accuracy (%)"),
    ("miou", "mIoU (%)"),
    ("clip_t", "CLIP-T"),
    ("topiq", "TOPIQ"),
    ("frechet", "Fréchet distance"),
)


def merge_into_metrics(folder: Path, mode: str, results: dict[str, Any]) -> Path:
    """metrics.json with `results` at ["eval"][mode]; every other key (training's, other modes') kept.

    Atomic, and locked: evaluations of several modes running at once each keep the others' results.
    """

    def merge(metrics: dict) -> dict:
        metrics.setdefault(EVAL_KEY, {})[mode] = results
        return metrics

    return atomic.update_json(folder / METRICS_FILE, merge)


def summary_values(mode: str, results: dict[str, Any]) -> dict[str, float | int | None]:
    """The numbers of one mode for a W&B summary: eval/<mode>/<metric>, real-image references included."""
    values = {f"{EVAL_KEY}/{mode}/{key}": results[key] for key, _ in METRICS}
    values.update({f"{EVAL_KEY}/{mode}/real_images/{key}": value for key, value in results["real_images"].items()})
    values[f"{EVAL_KEY}/{mode}/count"] = results["count"]
    return values


JUDGE_OF = {"mask_accuracy": "parser", "miou": "parser", "clip_t": "clip", "topiq": "topiq", "frechet": "frechet"}

Table = tuple[list[str], list[list[Any]]]  # (columns, rows)


def update_wandb_summary(
    cfg: DictConfig, folder: Path, values: dict[str, Any], tables: dict[str, Table] | None = None
) -> bool:
    """Write `values` into the summary of the run's own W&B run (same id, resumed; offline unless the run was online),
    and log each of `tables` (name -> (columns, rows)) as a wandb.Table in the same run.

    Returns False when the run has W&B disabled. An offline eval lands in a new offline-run folder with the
    run's id; `wandb sync` merges it into the training run.
    """
    if cfg.wandb.mode == "disabled":
        return False
    import wandb

    run = wandb.init(
        id=wandb_run_id(cfg),
        resume="allow",
        dir=str(folder),
        project=cfg.wandb.project,
        entity=cfg.wandb.entity,
        group=cfg.group,
        name=run_name(cfg),
        tags=list(cfg.tags),
        mode=cfg.wandb.mode,
        settings=wandb.Settings(console="off", silent=True),
    )
    try:
        if tables:
            run.log({name: wandb.Table(columns=columns, data=rows) for name, (columns, rows) in tables.items()})
        run.summary.update({k: v for k, v in values.items() if v is not None})
    finally:
        run.finish()
    return True


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _judge(info: dict[str, Any]) -> str:
    """One line on what a judge is (its ceiling where it has one)."""
    kind = info["kind"]
    if kind == "n/a":
        return info["reason"]
    if "heldout_pixel_accuracy" in info:
        return f"embedded parser, held-out pixel accuracy {info['heldout_pixel_accuracy']:.2f} %"
    if "heldout_retrieval_top1" in info:
        return (
            f"embedded open_clip, held-out retrieval top-1 {info['heldout_retrieval_top1']:.2f} % "
            f"of {info['heldout_size']}"
        )
    if kind == "embedded_parser":
        return "embedded parser features"
    return f"{kind} {info.get('model', '')} {info['path']}".replace("  ", " ")


def format_table(folder: Path, mode: str, results: dict[str, Any]) -> str:
    """A short table: each metric on the generated and on the real test images, and its judge."""
    lines = [
        f"mdit eval {folder}: mode {mode}, {results['count']} test samples, {results['sampling_steps']} steps, "
        f"seed {results['seed']}, checkpoint step {results['checkpoint_step']}",
        f"{'metric':<20}{'generated':>10}{'real':>10}  judge",
    ]
    for key, label in METRICS:
        real = results["real_images"].get(key)
        real_cell = "-" if key == "frechet" else _cell(real)
        lines.append(f"{label:<20}{_cell(results[key]):>10}{real_cell:>10}  {_judge(results['judges'][JUDGE_OF[key]])}")
    return "\n".join(lines)
