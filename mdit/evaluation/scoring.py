"""Scoring one evaluation: the samples of eval.set generated as eval.* says, every judge's scores over them (and over
their real images, the references), each sample's own row, and the first samples drawn as a grid.

The model is given every spatial condition it reads (`model.conditions`); the sketch's and keypoints' judges score
every sample set that holds sketches or keypoints, whatever the model reads (a mask-only model's edge F1 is the
baseline a sketch-reading one is measured against)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from mdit.conditioning.spatial import render_condition
from mdit.evaluation.judges import Judges
from mdit.evaluation.samples import batches, eval_split, sample_seed
from mdit.metrics.clip_score import ClipTScore
from mdit.metrics.following import ConditionFollowing
from mdit.metrics.keypoint_error import KeypointNME
from mdit.metrics.mask_accuracy import MaskAccuracy
from mdit.metrics.sketch_fidelity import SketchFidelity
from mdit.metrics.topiq import TopiqScore
from mdit.pipeline import spatial_inputs
from mdit.progress import Progress
from mdit.scores import write_scores
from mdit.training import MDiTModule
from mdit.visualize import sample_grid, save_png

GRID_SAMPLES = 8
# The columns of the conditions' own metrics (per sample and overall), by the batch key they score.
CONDITION_METRICS = {"sketch": ("edge_f1", "chamfer"), "keypoints": ("nme",)}
SAMPLING = ("steps", "guidance_scale", "mask_guidance_scale", "text_guidance_scale", "mask_strength")


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


def _numbers(values: torch.Tensor) -> list[float | None]:
    """Per-sample values as plain numbers, None where one is not finite (a skipped sample)."""
    return [value if math.isfinite(value) else None for value in values.tolist()]


def _listed(values: torch.Tensor | Sequence | None, count: int) -> list:
    """A collated batch field as a list of `count` plain values; None each where the data set has no such field."""
    if values is None:
        return [None] * count
    return values.tolist() if isinstance(values, torch.Tensor) else list(values)


def sampling(e: DictConfig) -> dict[str, Any]:
    """The sampling settings of an eval section, as `MDiTModule.generate` takes them."""
    return {key: e[key] for key in SAMPLING}


def _sample_rows(samples: dict[str, list], generated: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per generated sample: who it is (index, dataset id, seed, caption) and its own scores."""
    columns = {**samples, **{key: value.tolist() for key, value in generated["mask_accuracy"].per_sample().items()}}
    columns["clip_t"] = generated["clip_t"].per_sample().tolist()
    if "topiq" in generated:
        columns["topiq"] = generated["topiq"].per_sample().tolist()
    for kind, keys in CONDITION_METRICS.items():
        if kind in generated:
            columns.update({key: _numbers(values) for key, values in generated[kind].per_sample().items()})
        else:  # n/a for every sample: the data set lacks the condition, or no judge knows it
            columns.update({key: [None] * len(samples["sample"]) for key in keys})
    if "following" in generated:
        columns.update({key: value.tolist() for key, value in generated["following"].per_sample().items()})
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
    label: str = "eval",
) -> dict[str, Any]:
    """Generate the first eval.count samples of eval.set in eval.mode and score them and their real counterparts.

    With `grid`, the first samples are drawn there; with `scores`, every sample's own scores are written there;
    `label`: of the progress lines. On the conflict and agree sets, also whom each face follows
    (mdit.metrics.following), overall and per attribute.
    """
    e = cfg.eval
    samples_set = eval_split(cfg, e.count)
    generated = {"mask_accuracy": MaskAccuracy(judges.parser), "clip_t": ClipTScore(judges.clip)}
    real = {"mask_accuracy": MaskAccuracy(judges.parser), "clip_t": ClipTScore(judges.clip)}
    if judges.topiq is not None:
        generated["topiq"], real["topiq"] = judges.topiq, TopiqScore(judges.topiq.model)
    if e.set != "test":
        generated["following"], real["following"] = ConditionFollowing(judges.parser), ConditionFollowing(judges.parser)
    if judges.sketch_tolerance is not None:
        generated["sketch"], real["sketch"] = (
            SketchFidelity(judges.sketch_tolerance),
            SketchFidelity(judges.sketch_tolerance),
        )
    if judges.landmarks is not None:
        generated["keypoints"], real["keypoints"] = KeypointNME(judges.landmarks), KeypointNME(judges.landmarks)
    read = module.model.conditions
    for metric in (*generated.values(), *real.values(), judges.frechet):
        metric.to(device).reset()
    shown: list[tuple] = []
    samples: dict[str, list] = {"sample": [], "sample_id": [], "seed": [], "caption_index": [], "attribute": []}
    with Progress(e.count, label, unit="image") as progress:
        for indices, batch in batches(samples_set, e.count, e.batch_size):
            seeds = [sample_seed(e.seed, i) for i in indices]
            samples["sample"] += indices
            samples["sample_id"] += _listed(batch.get("id"), len(indices))
            samples["seed"] += seeds
            samples["caption_index"] += _listed(batch.get("caption_index"), len(indices))
            samples["attribute"] += _listed(batch.get("attribute"), len(indices))
            spatial = spatial_inputs(batch, read)
            images = module.generate(spatial, batch["caption"], seed=seeds, conditions=e.mode, **sampling(e))
            images, masks, reals = images.to(device), batch["mask"].to(device), batch["image"].to(device)
            for metrics, pictures in ((generated, images), (real, reals)):
                metrics["mask_accuracy"].update(pictures, masks)
                metrics["clip_t"].update(pictures, list(batch["caption"]))
                if "topiq" in metrics:
                    metrics["topiq"].update(pictures)
                if "following" in metrics:
                    versions = batch["caption_mask"].to(device), batch["other_mask"].to(device)
                    metrics["following"].update(pictures, masks, *versions)
                for kind in CONDITION_METRICS:
                    if kind in metrics:
                        metrics[kind].update(pictures, batch[kind].to(device))
            judges.frechet.update(images, real=False)
            judges.frechet.update(reals, real=True)
            if sum(len(s[3]) for s in shown) < GRID_SAMPLES:
                size = tuple(batch["image"].shape[-2:])
                shown.append((condition_images(spatial, size), images.cpu(), batch["image"], list(batch["caption"])))
            progress.update(len(indices))
    if grid is not None:
        _save_grid(shown, e.mode, grid)
    rows = _sample_rows(samples, generated)
    if scores is not None:
        write_scores(scores, rows)
    real_images = {key: _value(real.get(key)) for key in ("mask_accuracy", "clip_t", "topiq")}
    results = {
        "mask_accuracy": _value(generated["mask_accuracy"]),
        "miou": _miou(generated["mask_accuracy"]),
        "clip_t": _value(generated["clip_t"]),
        "topiq": _value(generated.get("topiq")),
        "frechet": _value(judges.frechet),
        "real_images": {**real_images, "miou": _miou(real["mask_accuracy"])},
    }
    for kind in CONDITION_METRICS:
        results.update(condition_results(generated, kind))
        results["real_images"].update(condition_results(real, kind))
    if e.set != "test":
        results.update(following_results(rows, generated["following"]))
        results["real_images"].update(following_results(rows, real["following"]))
    return results


def condition_results(metrics: dict[str, Any], kind: str) -> dict[str, Any]:
    """A condition's numbers (None = n/a: Judges.info says why): edge_f1 and chamfer; nme and nme_skipped."""
    metric = metrics.get(kind)
    if metric is None:
        return dict.fromkeys(CONDITION_METRICS[kind])
    if kind == "keypoints":
        return {"nme": _value(metric), "nme_skipped": metric.skipped()}
    return {key: _number(value) for key, value in metric.compute().items()}


def following_results(rows: list[dict[str, Any]], metric: ConditionFollowing) -> dict[str, Any]:
    """Percent following the mask and the caption, over all samples and per contested attribute."""
    per_sample = {key: values.tolist() for key, values in metric.per_sample().items()}
    out: dict[str, Any] = {key: _number(value) for key, value in metric.compute().items()}
    by_attribute: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        entry = by_attribute.setdefault(row["attribute"], {"count": 0, **{key: 0.0 for key in per_sample}})
        entry["count"] += 1
        for key, values in per_sample.items():
            entry[key] += values[i]
    for entry in by_attribute.values():
        for key in per_sample:
            entry[key] = round(100 * entry[key] / entry["count"], 4)
    out["by_attribute"] = by_attribute
    return out


def condition_images(spatial: dict[str, torch.Tensor], size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """The raw conditions of a batch as the images their renderers draw, [B, 3, H, W] in [-1, 1], on the CPU."""
    return {kind: render_condition(kind, raw.cpu(), size) for kind, raw in spatial.items()}


def _save_grid(shown: list[tuple], mode: str, path: Path) -> Path:
    """conditions | generated | real rows of the first samples (a column per condition the model reads); in mask
    mode the caption is marked as not given."""
    conditions = {kind: torch.cat([s[0][kind] for s in shown])[:GRID_SAMPLES] for kind in shown[0][0]}
    images = torch.cat([s[1] for s in shown])[:GRID_SAMPLES]
    reals = torch.cat([s[2] for s in shown])[:GRID_SAMPLES]
    captions = [c for s in shown for c in s[3]][:GRID_SAMPLES]
    if mode == "mask":
        captions = [f"(not given) {c}" for c in captions]
    return save_png(sample_grid(None, images, reals, captions, conditions=conditions), path)
