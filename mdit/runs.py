"""The run-folder format: what `mdit train` writes and everything else reads (sweeps, evaluation, tables).

A run folder `<output_dir>/<group>/<name>/` holds `config.yaml` (resolved), `checkpoints/last.ckpt` (trainable
weights, optimizer, step), `samples/step_*.png`, `metrics.json` and the offline W&B run. No Lightning here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mdit import atomic
from mdit.config import ConfigError, load_config

CONFIG_FILE, METRICS_FILE, LAST_CHECKPOINT = "config.yaml", "metrics.json", "checkpoints/last.ckpt"
STEP_CHECKPOINT = "{step:06d}"  # Lightning's filename template of the kept checkpoints: checkpoints/step=001200.ckpt
_STEP_FILE = re.compile(r"^step=(\d+)\.ckpt$")
EVAL_KEY = "eval"  # metrics.json: `mdit eval` results per evaluation (evaluation_key)
CHECKPOINTS_KEY = "eval_checkpoints"  # metrics.json: `mdit eval --checkpoints all`, per evaluation, per step
# The eval.* settings that change the generated images: two evaluations of a run that differ in one are two entries.
SAMPLING_SETTINGS = ("steps", "seed", "guidance_scale", "mask_guidance_scale", "text_guidance_scale", "mask_strength")


def evaluation_key(e: Mapping[str, Any], plain: Mapping[str, Any]) -> str:
    """Where one evaluation of a run is filed (metrics.json's eval.<key>, eval/scores_<key>.csv, eval/<key>.png, the
    W&B summary's eval/<key>/...): its mode, or its set when that is not the test split, then each sampling setting
    that differs from the run's own eval section `plain`: `both`, `text`, `both-steps8`, `conflict-mask_strength2`."""
    head = e["mode"] if e.get("set", "test") == "test" else e["set"]
    changed = [f"{key}{e[key]:g}" for key in SAMPLING_SETTINGS if e[key] != plain[key]]
    return "-".join([head, *changed])


def run_name(cfg: DictConfig) -> str:
    return cfg.name or f"{cfg.model.attention}-s{cfg.seed}"


def run_dir(cfg: DictConfig) -> Path:
    return Path(cfg.output_dir) / cfg.group / run_name(cfg)


def wandb_run_id(cfg: DictConfig) -> str:
    """The W&B id of a run: training, resuming and `mdit eval` all write into this one W&B run."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{cfg.group}-{run_name(cfg)}")


def load_run_config(folder: str | Path, overrides: Sequence[str] = ()) -> DictConfig:
    """The config saved in a run folder (with `overrides` on top), once the folder is known to hold a checkpoint."""
    folder = Path(folder)
    config = folder / CONFIG_FILE
    if not config.is_file():
        raise FileNotFoundError(f"{config} not found: pass a run folder written by `mdit train`")
    cfg = load_config(config, overrides)
    checkpoint = folder / LAST_CHECKPOINT
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint} not found: the run has not saved a checkpoint yet")
    return cfg


def step_checkpoints(folder: str | Path) -> dict[int, Path]:
    """The checkpoints a run kept (train.keep_checkpoints), step -> file, in step order."""
    found = {}
    for path in (Path(folder) / LAST_CHECKPOINT).parent.glob("step=*.ckpt"):
        if match := _STEP_FILE.match(path.name):
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def read_metrics(folder: Path) -> dict[str, Any]:
    """A run folder's metrics.json, or {} when it has none (or a half-written one from an older version)."""
    try:
        return json.loads((folder / METRICS_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def is_trained(metrics: Mapping[str, Any]) -> bool:
    """Training finished: `mdit train` writes metrics.json (with "steps") only at its very end."""
    return "steps" in metrics


def claim_run_folder(folder: Path, cfg: DictConfig) -> None:
    """Write the resolved config, or check that a rerun asks for the same one (then it resumes)."""
    config = folder / CONFIG_FILE
    text = OmegaConf.to_yaml(cfg)
    if config.is_file():
        changed = config_changes(folder, cfg)
        if changed:
            raise ConfigError(
                f"{folder} holds a run with a different config ({', '.join(changed)}); "
                "rerun with the same settings to resume, or pick another name=..."
            )
        return
    atomic.write_text(config, text)


# Where the log goes, not what the run is: a run trained offline may be resumed or reached by a W&B agent online;
# whether faces are read from the render cache (the same bytes) or rendered; which checkpoints stay on disk.
NOT_THE_RUN = ("wandb.mode", "data.render_cache_gib", "train.keep_checkpoints")


def config_changes(folder: Path, cfg: DictConfig) -> list[str]:
    """Keys whose values differ between `cfg` and the config saved in `folder` (read through the schema,
    so keys added to it since the run was saved count as their defaults), `NOT_THE_RUN` aside."""
    new, old = _flat(cfg), _flat(load_config(folder / CONFIG_FILE))
    return sorted(k for k in new.keys() | old.keys() if new.get(k) != old.get(k) and k not in NOT_THE_RUN)


def _flat(cfg: DictConfig) -> dict:
    out: dict = {}

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            out[prefix[:-1]] = node

    walk(OmegaConf.to_container(cfg), "")
    return out


def write_training_metrics(folder: Path, metrics: dict) -> Path:
    """metrics.json's training keys, replaced; the evaluations of this very checkpoint step are kept (a rerun of a
    finished run), those of another step dropped (they scored other weights), those of kept checkpoints kept."""

    def update(current: dict) -> dict:
        kept = {key: r for key, r in current.get(EVAL_KEY, {}).items() if r.get("checkpoint_step") == metrics["steps"]}
        curves = current.get(CHECKPOINTS_KEY)  # a kept checkpoint's weights never change
        return {**metrics, **({EVAL_KEY: kept} if kept else {}), **({CHECKPOINTS_KEY: curves} if curves else {})}

    return atomic.update_json(folder / METRICS_FILE, update)
