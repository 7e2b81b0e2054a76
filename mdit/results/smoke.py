"""Smoke runs, told from their own saved config, so that every table, figure and report of them says so.

The smoke profile (experiments/profiles/smoke.yaml) checks that the pipeline runs; its numbers mean nothing. A run
is a smoke run when its config (config.yaml, or the W&B run config) has the profile's output_dir, or every other
setting of the profile (a smoke run sent elsewhere with output_dir=...). A table built without `--profile smoke`
still knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mdit.results.collect import Run, flatten
from mdit.sweep.profiles import PROFILES_DIR

SMOKE = "smoke"
TITLE_SUFFIX = " (smoke profile: numbers not meaningful)"
OUTPUT_DIR = "output_dir"
REPOSITORY = Path(__file__).resolve().parents[2]  # where the profiles are when the cwd is not the repository root


def smoke_settings(folder: Path = PROFILES_DIR) -> dict[str, Any]:
    """The smoke profile's settings as dotted keys, from `folder` or the repository's; {} when neither has it."""
    for path in (folder / f"{SMOKE}.yaml", REPOSITORY / PROFILES_DIR / f"{SMOKE}.yaml"):
        if path.is_file():
            return flatten(yaml.safe_load(path.read_text()) or {})
    return {}


def _same_folder(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and Path(a).as_posix() == Path(b).as_posix()


def is_smoke_run(config: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
    """Whether a run's flat config is the smoke profile's: its output_dir, or all of its other settings."""
    if _same_folder(config.get(OUTPUT_DIR), settings.get(OUTPUT_DIR)):
        return True
    rest = {key: value for key, value in settings.items() if key != OUTPUT_DIR}
    return bool(rest) and all(key in config and config[key] == value for key, value in rest.items())


def smoke_line(settings: Mapping[str, Any]) -> str:
    """The one line every smoke output carries: its numbers are not meaningful, and why."""
    steps, count = settings.get("train.max_steps"), settings.get("eval.count")
    scale = f"{steps} training steps, {count} test samples" if steps and count else "a few training steps and samples"
    return (
        "Smoke profile: these numbers are not meaningful. The smoke profile only checks that the pipeline runs "
        f"({scale})."
    )


def smoke_note(runs: Iterable[Run], profile: str | None = None, folder: Path = PROFILES_DIR) -> str | None:
    """The smoke line when `profile` is smoke or any run is a smoke run; None for any other table."""
    settings = smoke_settings(folder)
    if profile == SMOKE or any(is_smoke_run(run.config, settings) for run in runs):
        return smoke_line(settings)
    return None
