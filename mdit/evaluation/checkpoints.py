"""`mdit eval RUN --checkpoints all`: every checkpoint a run kept scored like its last, for learning curves."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mdit.devices import eval_device
from mdit.evaluation.command import checkpoint_step, prepared, settings_record
from mdit.evaluation.judges import load_judges
from mdit.evaluation.results import METRICS, merge_checkpoint_into_metrics, update_wandb_summary
from mdit.evaluation.scoring import score
from mdit.run import load_run
from mdit.runs import CHECKPOINTS_KEY, EVAL_KEY, LAST_CHECKPOINT, read_metrics, step_checkpoints
from mdit.scores import evaluation_dir, scores_path


def evaluate_checkpoints(
    folder: str | Path, overrides: Sequence[str] = (), log: Callable[[str], None] = print
) -> dict[int, dict[str, Any]]:
    """`mdit eval RUN --checkpoints all`: every checkpoint the run kept (train.keep_checkpoints) and its last one,
    each scored like `evaluate` (a smaller eval.count is fine), into metrics.json's eval_checkpoints.<key>.<step>
    and eval/step=NNNNNN/; the learning curves of `mdit table`. A checkpoint scored already with the same settings
    (its record and scores file there) is kept, so an interrupted or repeated call resumes. Step -> results."""
    folder = Path(folder)
    cfg, _, key = prepared(folder, overrides)
    checkpoints = {**step_checkpoints(folder), checkpoint_step(folder): folder / LAST_CHECKPOINT}
    device = eval_device(cfg)
    judges = load_judges(cfg, device)
    log(f"{folder}: {len(checkpoints)} checkpoints (steps {', '.join(map(str, checkpoints))}), evaluation {key}")
    scored = read_metrics(folder).get(CHECKPOINTS_KEY, {}).get(key, {})
    curve = {}
    for step, checkpoint in checkpoints.items():
        before = scored.get(str(step))
        if before and scores_path(folder, key, step).is_file() and _same_settings(before, cfg, step, judges.info):
            curve[step] = before
            log(f"step {step}: scored already (mask accuracy {before['mask_accuracy']})")
            continue
        started = time.perf_counter()
        module = load_run(folder, overrides, for_sampling=True, checkpoint=checkpoint).to(device)
        where = evaluation_dir(folder, step)
        results = score(
            module, cfg, judges, device, where / f"{key}.png", scores_path(folder, key, step), f"eval/{key}@{step}"
        )
        results.update({"key": key, **settings_record(cfg), "checkpoint_step": step, "judges": judges.info})
        results["seconds"] = round(time.perf_counter() - started, 1)
        merge_checkpoint_into_metrics(folder, key, step, results)
        curve[step] = results
        log(f"step {step}: mask accuracy {results['mask_accuracy']}, CLIP-T {results['clip_t']}")
    try:
        columns = ["step", *(name for name, _ in METRICS)]
        rows = [[step, *(r.get(name) for name, _ in METRICS)] for step, r in curve.items()]
        if update_wandb_summary(cfg, folder, {}, {f"{EVAL_KEY}/{key}/checkpoints": (columns, rows)}):
            log(f"W&B table {EVAL_KEY}/{key}/checkpoints of run {cfg.group}/{folder.name} logged ({cfg.wandb.mode})")
    except Exception as err:
        log(f"W&B table not logged: {err}")
    return curve


def _same_settings(record: dict[str, Any], cfg: DictConfig, step: int, judges: dict[str, Any]) -> bool:
    """Whether a stored checkpoint evaluation was made as `cfg` and these judges would make it now."""
    expected = {**settings_record(cfg), "checkpoint_step": step, "judges": judges}
    return all(record.get(name) == value for name, value in expected.items())
