"""What a sweep has done: its runs' results (read from their metrics.json) and the local runner's state file.

A run folder's metrics.json is the truth: training wrote its keys ("steps" among them) and `mdit eval` added
"eval" -> mode. The state file `<output_dir>/<group>/sweep_state.json` is the runner's log of what it tried:
one entry per sweep run with its parameters, status, attempts, exit code, times and summary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mdit import atomic
from mdit.cost.measure import COST_KEYS
from mdit.runs import EVAL_KEY, is_trained, read_metrics

STATE_FILE = "sweep_state.json"
# The names metrics.json's training keys have in the run's W&B summary: Lightning's logged losses, and the
# cost/<key> the cost callback writes (mdit.cost.measure.COST_KEYS).
RENAMED = {"val_loss": "val/loss", "train_loss": "train/loss"}


def missing_evaluations(metrics: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """The evaluations (their keys, mdit.runs.evaluation_key) whose results are not in metrics.json yet."""
    done = metrics.get(EVAL_KEY, {})
    return [key for key in keys if key not in done]


def is_complete(folder: Path, keys: Iterable[str]) -> bool:
    """Trained and evaluated as each key says: nothing left to do for this sweep run."""
    metrics = read_metrics(folder)
    return is_trained(metrics) and not missing_evaluations(metrics, keys)


def summary(metrics: Mapping[str, Any], keys: Iterable[str]) -> dict[str, float]:
    """The numbers of metrics.json under the names the run's W&B summary gives them (cost/<key>, val/loss,
    eval/<key>/<metric>, nested keys joined by "/"), the eval part for `keys` only: one sweep run, its evaluation.

    A run of one evaluation also gets its own metrics as eval/<metric>: the name a sweep over eval.* keys
    (unimodal, dropout, guidance) compares its runs on, since every run has it whatever its evaluation."""
    modes = list(keys)
    out: dict[str, float] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{prefix}{key}/")
        elif _number(node):
            out[prefix[:-1]] = node

    for key, value in metrics.items():
        if key != EVAL_KEY:
            walk(value, f"{RENAMED.get(key) or ('cost/' + key if key in COST_KEYS else key)}/")
    for mode in modes:
        walk(metrics.get(EVAL_KEY, {}).get(mode, {}), f"{EVAL_KEY}/{mode}/")
    if len(modes) == 1:
        results = metrics.get(EVAL_KEY, {}).get(modes[0], {})
        out.update({f"{EVAL_KEY}/{key}": value for key, value in results.items() if _number(value)})
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class SweepState:
    """The state file: {"sweep", "method", "config_files", "overrides", "updated", "runs": {label: entry}}.

    An entry: {"name", "params", "args", "folder", "evaluation", "status" (running | finished | failed | interrupted),
    "attempts", "returncode", "seconds", "started", "ended", "log", "skipped", "summary"}. Written atomically
    after every change, so a killed sweep leaves its last run as "running", which the next invocation retries.
    """

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    @classmethod
    def load(cls, path: Path, header: Mapping[str, Any]) -> SweepState:
        data = json.loads(path.read_text()) if path.is_file() else {}
        data.update(header)
        data.setdefault("runs", {})
        return cls(path, data)

    @property
    def runs(self) -> dict[str, dict[str, Any]]:
        return self.data["runs"]

    def update(self, label: str, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into the entry of `label` and write the file."""
        entry = self.runs.setdefault(label, {"attempts": 0})
        entry.update(fields)
        self.save()
        return entry

    def save(self) -> None:
        self.data["updated"] = now()
        atomic.write_json(self.path, self.data)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
