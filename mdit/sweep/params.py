"""A sweep run's parameters -> the overrides it trains with, the modes it evaluates, and its name.

Parameters arrive as `key=value` strings, what W&B's agent writes for `${args_no_hyphens}`. The local runner
and `mdit sweep-run` both read them here, so one parameter set gives one run folder on either backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from mdit.config import ConfigError

# One sweep value for several config keys: a W&B grid cannot tie two parameters together.
ALIASES: dict[str, tuple[str, ...]] = {"dropout": ("train.text_dropout", "train.mask_dropout")}
EVAL_MODE = "eval.mode"  # evaluated, not trained: runs that differ only in the mode share one training
NOT_IN_NAME = ("group", "name", "tags", "model.attention", "seed", EVAL_MODE)


def format_args(params: Mapping[str, Any]) -> list[str]:
    """`key=value` strings as W&B's agent writes `${args_no_hyphens}` (wandb.sdk.launch.sweeps.utils)."""
    return [f"{key}={value}" for key, value in params.items()]


def parse_args(args: Sequence[str]) -> dict[str, str]:
    """`key=value` strings -> {key: value text}, in order; a missing `=` or a repeated key is an error."""
    params: dict[str, str] = {}
    for item in args:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"sweep parameter {item!r} is not of the form key=value")
        if key in params:
            raise ConfigError(f"sweep parameter {key!r} given twice")
        params[key] = value
    return params


@dataclass(frozen=True)
class Trial:
    """One sweep run: the overrides `mdit train` gets, the `mdit eval` modes that follow, its names."""

    name: str  # the run's name (its folder): `<attention>[-<key><value>...]-s<seed>`
    label: str  # the sweep run: the name, plus `@<mode>` when the mode is a sweep parameter
    train_overrides: tuple[str, ...]
    modes: tuple[str, ...]


def plan_trial(args: Sequence[str], fixed: Sequence[str], defaults: DictConfig) -> Trial:
    """The trial of sweep parameters `args` on top of `fixed` overrides; `defaults` = the config without `args`.

    `eval.mode` is left out of the training config (one training serves every mode); aliases expand to their
    keys; the name comes from the parameters, and the tags are the group unless given.
    """
    params, fixed_params = parse_args(args), parse_args(fixed)
    merged = {**fixed_params, **params}
    attention = merged.get("model.attention", defaults.model.attention)
    seed = merged.get("seed", defaults.seed)
    name = merged.get("name") or "-".join([attention, *_name_parts(params), f"s{seed}"])
    overrides: list[str] = []
    for key, value in merged.items():
        if key == EVAL_MODE:
            continue
        overrides += [f"{target}={value}" for target in ALIASES.get(key, (key,))]
    overrides = [item for item in overrides if not item.startswith("name=")] + [f"name={name}"]
    if "tags" not in merged and "group" in merged:
        overrides.append(f"tags=[{merged['group']}]")
    mode = merged.get(EVAL_MODE)
    label = f"{name}@{mode}" if EVAL_MODE in params else name
    return Trial(name, label, tuple(overrides), (mode or defaults.eval.mode,))


def _name_parts(params: Mapping[str, str]) -> list[str]:
    """`<key><value>` for each named parameter: its alias or the last part of its key (whole if ambiguous)."""
    keys = [key for key in params if key not in NOT_IN_NAME]
    leaves = [key.rsplit(".", 1)[-1] for key in keys]
    return [
        f"{leaf if leaves.count(leaf) == 1 else key.replace('.', '_')}{params[key]}"
        for key, leaf in sorted(zip(keys, leaves))
    ]
