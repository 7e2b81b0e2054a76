"""`mdit eval RUN_DIR`: the run's test samples generated (fixed seeds and captions), scored by the judges, recorded.

One call evaluates one mode (`eval.mode`: both, text or mask, the conditions the model is given). The same
judges also score the real test images, whose numbers are the references beside the generated ones (the
parser on real images is the ceiling of mask accuracy). Every generated sample's own scores go to
`eval/scores_<mode>.csv` (mdit/scores.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from mdit.config import ConfigError
from mdit.devices import eval_device
from mdit.evaluation.judges import Judges, load_judges
from mdit.evaluation.results import format_table, merge_into_metrics, summary_values, update_wandb_summary
from mdit.evaluation.samples import batches, eval_split, sample_seed
from mdit.metrics.clip_score import ClipTScore
from mdit.metrics.mask_accuracy import MaskAccuracy
from mdit.metrics.topiq import TopiqScore
from mdit.progress import Progress
from mdit.run import load_run
from mdit.runs import EVAL_KEY, LAST_CHECKPOINT, load_run_config
from mdit.scores import EVAL_DIR, read_scores, scores_path, scores_table, write_scores
from mdit.training import MDiTModule
from mdit.visualize import sample_grid, save_png

OVERRIDABLE = ("eval", "judges")  # everything else is the trained run's own config
GRID_SAMPLES = 8
GRID_DIR = EVAL_DIR


def check_overrides(overrides: Sequence[str]) -> None:
    """Only eval.* and judges.* may change: any other key would describe a run other than the one trained."""
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if key.split(".", 1)[0] not in OVERRIDABLE or "." not in key:
            raise ConfigError(
                f"mdit eval overrides only eval.* and judges.* keys; {key!r} belongs to the trained "
                "run's config (train a new run to change it)"
            )


def checkpoint_step(folder: Path) -> int:
    """The training step of the run's last checkpoint (memory-mapped: the weights are not read)."""
    state = torch.load(folder / LAST_CHECKPOINT, map_location="cpu", weights_only=False, mmap=True)
    return int(state.get("global_step", 0))


def _number(value: torch.Tensor | None) -> float | None:
    """A metric's value as a JSON number; None when absent or not finite (NaN is not JSON)."""
    if value is None:
        return None
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


def _value(metric: torch.nn.Module | None) -> float | None:
    """A computed metric as a JSON number; None when absent or not finite."""
    return None if metric is None else _number(metric.compute())


def _miou(metric: MaskAccuracy | None) -> float | None:
    """The mean over samples of each sample's mean IoU, as a JSON number; None when absent or not finite."""
    return None if metric is None else _number(metric.mean_iou())


def _listed(values: torch.Tensor | Sequence | None, count: int) -> list:
    """A collated batch field as a list of `count` plain values; None each where the data set has no such field."""
    if values is None:
        return [None] * count
    return values.tolist() if isinstance(values, torch.Tensor) else list(values)


def _sample_rows(samples: dict[str, list], generated: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per generated sample: who it is (index, dataset id, seed, caption) and its own scores."""
    columns = {**samples, **{key: value.tolist() for key, value in generated["mask_accuracy"].per_sample().items()}}
    columns["clip_t"] = generated["clip_t"].per_sample().tolist()
    if "topiq" in generated:
        columns["topiq"] = generated["topiq"].per_sample().tolist()
    count = len(samples["sample"])
    uneven = {key: len(values) for key, values in columns.items() if len(values) != count}
    if uneven:
        raise RuntimeError(f"per-sample scores of {count} samples have other lengths: {uneven}")
    return [{key: values[i] for key, values in columns.items()} for i in range(count)]


@torch.no_grad()
def score(
    module: MDiTModule,
    cfg: DictConfig,
    judges: Judges,
    device: torch.device,
    grid: Path | None = None,
    scores: Path | None = None,
) -> dict[str, Any]:
    """Generate the first eval.count test samples in eval.mode and score them and their real counterparts.

    With `grid`, the first samples are drawn there; with `scores`, every sample's own scores are written there.
    """
    e = cfg.eval
    test_set = eval_split(cfg, e.count)
    generated = {"mask_accuracy": MaskAccuracy(judges.parser), "clip_t": ClipTScore(judges.clip)}
    real = {"mask_accuracy": MaskAccuracy(judges.parser), "clip_t": ClipTScore(judges.clip)}
    if judges.topiq is not None:
        generated["topiq"], real["topiq"] = judges.topiq, TopiqScore(judges.topiq.model)
    for metric in (*generated.values(), *real.values(), judges.frechet):
        metric.to(device).reset()
    shown: list[tuple] = []
    samples: dict[str, list] = {"sample": [], "sample_id": [], "seed": [], "caption_index": []}
    with Progress(e.count, f"eval/{e.mode}", unit="image") as progress:
        for indices, batch in batches(test_set, e.count, e.batch_size):
            seeds = [sample_seed(e.seed, i) for i in indices]
            samples["sample"] += indices
            samples["sample_id"] += _listed(batch.get("id"), len(indices))
            samples["seed"] += seeds
            samples["caption_index"] += _listed(batch.get("caption_index"), len(indices))
            images = module.generate(
                batch["mask"],
                batch["caption"],
                e.steps,
                seeds,
                e.mode,
                e.guidance_scale,
                mask_guidance_scale=e.mask_guidance_scale,
                text_guidance_scale=e.text_guidance_scale,
                mask_strength=e.mask_strength,
            )
            images, masks, reals = images.to(device), batch["mask"].to(device), batch["image"].to(device)
            for metrics, pictures in ((generated, images), (real, reals)):
                metrics["mask_accuracy"].update(pictures, masks)
                metrics["clip_t"].update(pictures, list(batch["caption"]))
                if "topiq" in metrics:
                    metrics["topiq"].update(pictures)
            judges.frechet.update(images, real=False)
            judges.frechet.update(reals, real=True)
            if sum(len(s[3]) for s in shown) < GRID_SAMPLES:
                shown.append((batch["mask"], images.cpu(), batch["image"], list(batch["caption"])))
            progress.update(len(indices))
    if grid is not None:
        _save_grid(shown, e.mode, grid)
    if scores is not None:
        write_scores(scores, _sample_rows(samples, generated))
    real_images = {key: _value(real.get(key)) for key in ("mask_accuracy", "clip_t", "topiq")}
    return {
        "mask_accuracy": _value(generated["mask_accuracy"]),
        "miou": _miou(generated["mask_accuracy"]),
        "clip_t": _value(generated["clip_t"]),
        "topiq": _value(generated.get("topiq")),
        "frechet": _value(judges.frechet),
        "real_images": {**real_images, "miou": _miou(real["mask_accuracy"])},
    }


def _save_grid(shown: list[tuple], mode: str, path: Path) -> Path:
    """mask | generated | real rows of the first samples; in mask mode the caption is marked as not given."""
    masks = torch.cat([s[0] for s in shown])[:GRID_SAMPLES]
    images = torch.cat([s[1] for s in shown])[:GRID_SAMPLES]
    reals = torch.cat([s[2] for s in shown])[:GRID_SAMPLES]
    captions = [c for s in shown for c in s[3]][:GRID_SAMPLES]
    if mode == "mask":
        captions = [f"(not given) {c}" for c in captions]
    return save_png(sample_grid(masks, images, reals, captions), path)


def evaluate(folder: str | Path, overrides: Sequence[str] = (), log: Callable[[str], None] = print) -> dict[str, Any]:
    """Evaluate the run in `folder` in eval.mode; results merged into its metrics.json and W&B summary."""
    folder = Path(folder)
    check_overrides(overrides)
    cfg = load_run_config(folder, overrides)
    e = cfg.eval
    eval_split(cfg, e.count)  # a count beyond the test split fails before the judges load
    device = eval_device(cfg)
    started = time.perf_counter()
    judges = load_judges(cfg, device)
    if judges.topiq is None:
        log(f"TOPIQ: n/a: {judges.info['topiq']['reason']}")
    module = load_run(folder, overrides, for_sampling=True).to(device)
    grid = folder / GRID_DIR / f"{e.mode}.png"
    scores = scores_path(folder, e.mode)
    results = score(module, cfg, judges, device, grid, scores)
    results.update(
        {
            "count": e.count,
            "seed": e.seed,
            "sampling_steps": e.steps,
            "guidance_scale": e.guidance_scale,
            "mask_guidance_scale": e.mask_guidance_scale,
            "text_guidance_scale": e.text_guidance_scale,
            "mask_strength": e.mask_strength,
            "checkpoint_step": checkpoint_step(folder),
            "judges": judges.info,
            "grid": str(grid),
            "scores": str(scores),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    merge_into_metrics(folder, e.mode, results)
    try:
        table = {f"{EVAL_KEY}/{e.mode}/samples": scores_table(read_scores(folder, e.mode))}
        if update_wandb_summary(cfg, folder, summary_values(e.mode, results), table):
            log(f"W&B summary and samples table of run {cfg.group}/{folder.name} updated ({cfg.wandb.mode})")
    except Exception as err:  # metrics.json is written already; the W&B summary is a copy of it
        log(f"W&B summary not updated: {err}")
    log(format_table(folder, e.mode, results))
    return results
