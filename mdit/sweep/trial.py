"""`mdit sweep-run`: one sweep run, train then evaluate, each step skipped once its results exist.

Both backends call it with the sweep's parameters as `key=value`: the local runner in one subprocess per run, a
W&B agent through the sweep's `command`. Training resumes from the run's last checkpoint. Under an agent
(WANDB_SWEEP_ID set) W&B logs online unless wandb.mode is given, and the agent's run gets the summary of
metrics.json, so the sweep sees its metric whatever the run folder already held.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from mdit.config import ConfigError, load_config
from mdit.evaluation import evaluate
from mdit.judges.landmark_training import ensure_landmark_judge
from mdit.judges.training import ensure_judges
from mdit.pretraining import backbone_dir
from mdit.run import train
from mdit.runs import config_changes, run_dir, run_name
from mdit.sweep.params import Trial, parse_args, plan_trial
from mdit.sweep.state import is_trained, missing_evaluations, read_metrics, summary

SWEEP_ID_ENV = "WANDB_SWEEP_ID"  # = wandb.env.SWEEP_ID, set by `wandb agent` for each run it starts
LOCK_FILE = ".sweep-run.lock"

Log = Callable[[str], None]


def under_agent() -> bool:
    return bool(os.environ.get(SWEEP_ID_ENV))


def trial_config(config_files: Sequence[str], fixed: Sequence[str], args: Sequence[str]) -> tuple[Trial, DictConfig]:
    """The trial of `args` and the training config it runs with (the agent's online default included)."""
    if under_agent() and "wandb.mode" not in {**parse_args(fixed), **parse_args(args)}:
        fixed = ["wandb.mode=online", *fixed]
    trial = plan_trial(args, fixed, load_config(config_files, fixed))
    return trial, load_config(config_files, trial.train_overrides)


def run_trial(config_files: Sequence[str], fixed: Sequence[str], args: Sequence[str], log: Log = print) -> Path:
    """Train (or resume, or skip when trained) and evaluate unless evaluated already; returns the run folder."""

    trial, cfg = trial_config(config_files, fixed, args)
    folder = run_dir(cfg)
    rank_zero = rank_zero_only.rank == 0  # from the launcher's environment (torchrun, SLURM, Lightning's own)
    # Two agents on one machine with runs that share a training: one trains, one waits. The other ranks of a
    # multi-GPU run must not wait for rank 0's lock: rank 0 waits for them to start training.
    with _locked(folder) if rank_zero else nullcontext():
        metrics = read_metrics(folder)
        if is_trained(metrics):
            check_same_config(folder, cfg)
            log(f"{folder}: trained already ({metrics['steps']} steps)")
        else:
            log(f"{folder}: training {trial.name}")
            train(cfg)
    if not rank_zero:  # rank 0 evaluates and reports
        return folder
    if missing_evaluations(read_metrics(folder), [trial.evaluation]):
        log(f"{folder}: evaluating {trial.evaluation}")
        evaluate(folder, trial.eval_overrides, log=log)
    else:
        log(f"{folder}: {trial.evaluation} evaluated already")
    if under_agent() and cfg.wandb.mode != "disabled":
        report_to_agent(cfg, folder, summary(read_metrics(folder), [trial.evaluation]))
    return folder


def prepare(config_files: Sequence[str], fixed: Sequence[str] = (), log: Log = print) -> None:
    """Build what every run of this config shares, once, before any run: the embedded backbone and judges."""

    cfg = load_config(config_files, fixed)
    log(f"backbone: {backbone_dir(cfg)}")
    j = cfg.judges
    # The embedded judges fill in whatever has no local file, on SynthFaces only (real data needs real judges).
    if cfg.data.name == "synthfaces" and not (j.parser and j.clip and j.inception):
        log(f"judges: {ensure_judges(cfg)}")
    if cfg.data.name == "synthfaces" and not j.landmarks:
        log(f"landmark judge: {ensure_landmark_judge(cfg)}")


def check_same_config(folder: Path, cfg: DictConfig) -> None:
    """A trained folder counts as this run only if it was trained with this config (e.g. not another profile's)."""
    changed = config_changes(folder, cfg)
    if changed:
        raise ConfigError(
            f"{folder} holds a run trained with another config ({', '.join(changed)}); use another "
            "output_dir (the profiles have their own) or remove the folder"
        )


def report_to_agent(cfg: DictConfig, folder: Path, values: dict[str, float]) -> None:
    """Write `values` into the summary of the agent's W&B run (wandb takes its id and sweep from the environment)."""
    import wandb

    run = wandb.init(
        dir=str(folder),
        group=cfg.group,
        name=run_name(cfg),
        tags=list(cfg.tags),
        mode=cfg.wandb.mode,
        resume="allow",
        settings=wandb.Settings(console="off", silent=True),
    )
    try:
        run.summary.update(values)
    finally:
        run.finish()


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
