"""`mdit eval RUN_DIR`: the run's test samples generated (fixed seeds and captions), scored by the judges, recorded.

One call is one evaluation: a mode (`eval.mode`: both, text or mask, the conditions the model is given), a set of
samples (`eval.set`: the test split, or the conflict and agree pairs) and the sampling settings; its results are
filed under its key (mdit.runs.evaluation_key: `both`, `conflict`, `both-mask_strength2`). The same judges also
score the real images, whose numbers are the references beside the generated ones (the parser on real images is
the ceiling of mask accuracy). Every generated sample's own scores go to `eval/scores_<key>.csv` (mdit/scores.py).
`--checkpoints all` scores every checkpoint a run kept, for its learning curve.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from mdit.config import ConfigError
from mdit.cost.measure import seconds_per_image
from mdit.devices import eval_device
from mdit.evaluation.judges import load_judges
from mdit.evaluation.results import format_table, merge_into_metrics, summary_values, update_wandb_summary
from mdit.evaluation.samples import eval_split
from mdit.evaluation.scoring import sampling, score
from mdit.pipeline import spatial_inputs
from mdit.run import load_run
from mdit.runs import EVAL_KEY, LAST_CHECKPOINT, evaluation_key, load_run_config
from mdit.scores import EVAL_DIR, evaluation_dir, read_scores, scores_path, scores_table
from mdit.training import MDiTModule

OVERRIDABLE = ("eval", "judges")  # everything else is the trained run's own config
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


def sampling_latency(module: MDiTModule, cfg: DictConfig, plain: DictConfig) -> dict[str, float]:
    """Seconds per image of this evaluation's sampling and of the run's own (`plain`), timed alternately in this
    process on one test sample after a warm-up each, median of eval.latency_repeats: the ratio is what guidance
    (two or three forwards per step) and the mask strength cost, measured side by side."""
    e = cfg.eval
    sample = eval_split(cfg, 1)[0]
    spatial = {kind: raw[None] for kind, raw in spatial_inputs(sample, module.model.conditions).items()}
    captions = [sample["caption"]]
    runs = {
        name: (lambda s=settings: module.generate(spatial, captions, seed=0, conditions=e.mode, **sampling(s)))
        for name, settings in (("this", e), ("plain", plain))
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(e.latency_repeats):
        for name, generate in runs.items():
            times[name].append(seconds_per_image(generate, 1, 1))
    this, plain_time = statistics.median(times["this"]), statistics.median(times["plain"])
    return {
        "seconds_per_image": round(this, 4),
        "seconds_per_image_plain": round(plain_time, 4),
        "latency_ratio_vs_plain": round(this / plain_time, 3),
    }


def prepared(folder: Path, overrides: Sequence[str]) -> tuple[DictConfig, DictConfig, str]:
    """The run's config with `overrides`, its own (plain) one, and the evaluation's key; checked before any weights
    load (overrides, and a count beyond the set)."""
    check_overrides(overrides)
    cfg, plain = load_run_config(folder, overrides), load_run_config(folder)
    eval_split(cfg, cfg.eval.count)  # a count beyond the samples fails before the judges load
    return cfg, plain, evaluation_key(cfg.eval, plain.eval)


def settings_record(cfg: DictConfig) -> dict[str, Any]:
    """What an evaluation record says about how it was made."""
    e = cfg.eval
    return {
        "mode": e.mode,
        "count": e.count,
        "set": e.set,
        "seed": e.seed,
        "sampling_steps": e.steps,
        **{key: value for key, value in sampling(e).items() if key != "steps"},
    }


def evaluate(folder: str | Path, overrides: Sequence[str] = (), log: Callable[[str], None] = print) -> dict[str, Any]:
    """Evaluate the run in `folder` as its config with `overrides` says (eval.mode, eval.set, the sampling); the
    results are filed under the evaluation's key (mdit.runs.evaluation_key) in metrics.json and the W&B summary."""
    folder = Path(folder)
    cfg, plain, key = prepared(folder, overrides)
    device = eval_device(cfg)
    started = time.perf_counter()
    judges = load_judges(cfg, device)
    if judges.topiq is None:
        log(f"TOPIQ: n/a: {judges.info['topiq']['reason']}")
    module = load_run(folder, overrides, for_sampling=True).to(device)
    grid = evaluation_dir(folder) / f"{key}.png"
    scores = scores_path(folder, key)
    results = score(module, cfg, judges, device, grid, scores, f"eval/{key}")
    results.update(
        {
            "key": key,
            **settings_record(cfg),
            "checkpoint_step": checkpoint_step(folder),
            "latency": sampling_latency(module, cfg, plain.eval),
            "judges": judges.info,
            "grid": str(grid),
            "scores": str(scores),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    merge_into_metrics(folder, key, results)
    try:
        table = {f"{EVAL_KEY}/{key}/samples": scores_table(read_scores(folder, key))}
        if update_wandb_summary(cfg, folder, summary_values(key, results), table):
            log(f"W&B summary and samples table of run {cfg.group}/{folder.name} updated ({cfg.wandb.mode})")
    except Exception as err:  # metrics.json is written already; the W&B summary is a copy of it
        log(f"W&B summary not updated: {err}")
    log(format_table(folder, key, results))
    return results
