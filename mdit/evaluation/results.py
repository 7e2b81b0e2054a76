"""Where `mdit eval` results go: metrics.json (merged under "eval" -> mode), the W&B summary (and the per-sample
scores as a W&B table), a printed table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mdit import atomic
from mdit.runs import CHECKPOINTS_KEY, EVAL_KEY, METRICS_FILE, run_name, wandb_run_id

METRICS = (
    ("mask_accuracy", "mask accuracy (%)"),
    ("miou", "mIoU (%)"),
    ("clip_t", "CLIP-T"),
    ("topiq", "TOPIQ"),
    ("frechet", "Fréchet distance"),
    ("edge_f1", "edge F1 (%)"),
    ("chamfer", "chamfer (px)"),
    ("nme", "NME (%)"),
)


FOLLOWING = (("follows_mask", "follows the mask (%)"), ("follows_caption", "follows the caption (%)"))


def merge_into_metrics(folder: Path, key: str, results: dict[str, Any]) -> Path:
    """metrics.json with `results` at ["eval"][key]; every other key (training's, other evaluations') kept.

    Atomic, and locked: several evaluations running at once each keep the others' results.
    """

    def merge(metrics: dict) -> dict:
        metrics.setdefault(EVAL_KEY, {})[key] = results
        return metrics

    return atomic.update_json(folder / METRICS_FILE, merge)


def merge_checkpoint_into_metrics(folder: Path, key: str, step: int, results: dict[str, Any]) -> Path:
    """metrics.json with the evaluation of the kept checkpoint of `step` at ["eval_checkpoints"][key][step]."""

    def merge(metrics: dict) -> dict:
        metrics.setdefault(CHECKPOINTS_KEY, {}).setdefault(key, {})[str(step)] = results
        return metrics

    return atomic.update_json(folder / METRICS_FILE, merge)


def summary_values(key: str, results: dict[str, Any]) -> dict[str, float | int | None]:
    """The numbers of one evaluation for a W&B summary: eval/<key>/<metric>, real-image references included
    (and, on the conflict sets, who the faces follow)."""
    names = [name for name, _ in METRICS + FOLLOWING if name in results]
    values = {f"{EVAL_KEY}/{key}/{name}": results[name] for name in names}
    real = {name: value for name, value in results["real_images"].items() if not isinstance(value, dict)}
    values.update({f"{EVAL_KEY}/{key}/real_images/{name}": value for name, value in real.items()})
    values[f"{EVAL_KEY}/{key}/count"] = results["count"]
    return values


JUDGE_OF = {"mask_accuracy": "parser", "miou": "parser", "clip_t": "clip", "topiq": "topiq", "frechet": "frechet"}
JUDGE_OF |= {"edge_f1": "sketch", "chamfer": "sketch", "nme": "landmarks"}
JUDGE_OF |= {name: "parser" for name, _ in FOLLOWING}

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
    if "heldout_nme" in info:
        return f"embedded landmark judge, held-out NME {info['heldout_nme']:.2f} % of {info['heldout_size']}"
    if kind == "canny":
        return f"Canny edges (scikit-image) against the sketch, tolerance {info['tolerance_px']} px"
    if kind == "embedded_parser":
        return "embedded parser features"
    return f"{kind} {info.get('model', '')} {info['path']}".replace("  ", " ")


def format_table(folder: Path, key: str, results: dict[str, Any]) -> str:
    """A short table: each metric on the generated and on the real images, and its judge."""
    lines = [
        f"mdit eval {folder}: {key} (mode {results['mode']}, {results['count']} {results['set']} samples, "
        f"{results['sampling_steps']} steps, seed {results['seed']}, checkpoint step {results['checkpoint_step']})",
        f"{'metric':<24}{'generated':>10}{'real':>10}  judge",
    ]
    for name, label in METRICS + FOLLOWING:
        if name not in results:
            continue
        real = results["real_images"].get(name)
        real_cell = "-" if name == "frechet" else _cell(real)
        judge = _judge(results["judges"][JUDGE_OF[name]])
        lines.append(f"{label:<24}{_cell(results[name]):>10}{real_cell:>10}  {judge}")
    latency = results.get("latency")
    if latency:
        lines.append(
            f"{'s/image':<24}{latency['seconds_per_image']:>10.4g}{'':>10}  "
            f"{latency['latency_ratio_vs_plain']:.2f}x the run's own sampling, timed side by side"
        )
    return "\n".join(lines)
