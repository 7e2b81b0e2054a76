"""A sweep run's parameters -> the overrides it trains with, the evaluation that follows, and its name.

Parameters arrive as `key=value` strings, what W&B's agent writes for `${args_no_hyphens}`. The local runner
and `mdit sweep-run` both read them here, so one parameter set gives one run folder on either backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mdit.conditions import UnknownConditionError, check_conditions
from mdit.config import ConfigError
from mdit.runs import evaluation_key

# One sweep value for several config keys: a W&B grid cannot tie two parameters together.
ALIASES: dict[str, tuple[str, ...]] = {"dropout": ("train.text_dropout", "train.mask_dropout")}
# `conditions=mask+sketch`: one sweep value for model.conditions; `conditions=text` is the text-only row
# (model.attention=none), so one grid holds every condition set and its reference.
CONDITIONS, TEXT_ONLY = "conditions", "text"
# eval.* parameters are evaluated, not trained: runs that differ only there (the mode, the set, the sampling) share
# one training, and each is one evaluation of it.
EVALUATED = "eval."
EVAL_MODE = "eval.mode"
NOT_IN_NAME = ("group", "name", "tags", "model.attention", "seed")


def is_evaluated(key: str) -> bool:
    """A sweep parameter that `mdit eval` takes, not `mdit train`."""
    return key.startswith(EVALUATED)


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
    """One sweep run: the overrides `mdit train` gets, the `mdit eval` that follows, its names."""

    name: str  # the run's name (its folder): `<attention>[-<key><value>...]-s<seed>`
    label: str  # the sweep run: the name, plus `@<evaluation key>` when eval.* keys are sweep parameters
    train_overrides: tuple[str, ...]
    eval_overrides: tuple[str, ...]  # the swept eval.* parameters, for `mdit eval`
    evaluation: str  # the key its evaluation is filed under (mdit.runs.evaluation_key)


def plan_trial(args: Sequence[str], fixed: Sequence[str], defaults: DictConfig) -> Trial:
    """The trial of sweep parameters `args` on top of `fixed` overrides; `defaults` = the config without `args`.

    Swept eval.* parameters are left out of the training config and of the name (one training serves every
    evaluation); aliases expand to their keys; the tags are the group unless given.
    """
    params, fixed_params = expand_conditions(parse_args(args)), expand_conditions(parse_args(fixed))
    merged = {**fixed_params, **params}
    attention = merged.get("model.attention", defaults.model.attention)
    seed = merged.get("seed", defaults.seed)
    trained = {key: value for key, value in params.items() if not is_evaluated(key)}
    name = merged.get("name") or "-".join([attention, *_name_parts(trained), f"s{seed}"])
    evaluated = [f"{key}={value}" for key, value in params.items() if is_evaluated(key)]
    overrides: list[str] = []
    for key, value in merged.items():
        if key in params and is_evaluated(key):
            continue
        overrides += [f"{target}={value}" for target in ALIASES.get(key, (key,))]
    overrides = [item for item in overrides if not item.startswith("name=")] + [f"name={name}"]
    if "tags" not in merged and "group" in merged:
        overrides.append(f"tags=[{merged['group']}]")
    run_eval = defaults.eval
    try:
        key = evaluation_key(OmegaConf.merge(run_eval, OmegaConf.from_dotlist(_leaves(evaluated))), run_eval)
    except Exception as err:
        raise ConfigError(f"sweep parameters {evaluated}: {err}") from None
    label = f"{name}@{key}" if evaluated else name
    return Trial(name, label, tuple(overrides), tuple(evaluated), key)


def parameter_overrides(key: str, value: object) -> list[str]:
    """The config overrides one sweep parameter stands for: an alias's keys, a condition set's, or itself."""
    expanded = expand_conditions({key: str(value)})
    return [f"{target}={v}" for k, v in expanded.items() for target in ALIASES.get(k, (k,))]


def expand_conditions(params: Mapping[str, str]) -> dict[str, str]:
    """A `conditions` parameter (`mask+sketch`, or `text`) as the config keys it stands for, in its place."""
    expanded: dict[str, str] = {}
    for key, value in params.items():
        if key != CONDITIONS:
            expanded[key] = "none" if key == "model.attention" and params.get(CONDITIONS) == TEXT_ONLY else value
        elif value == TEXT_ONLY:  # whatever strategy the grid pairs it with
            expanded["model.attention"] = "none"
        else:
            try:
                names = check_conditions(value.split("+"))
            except UnknownConditionError as err:
                raise ConfigError(f"sweep parameter conditions={value}: {err} (or {TEXT_ONLY!r}: text only)") from None
            expanded["model.conditions"] = f"[{','.join(names)}]"
    return expanded


def _leaves(overrides: Sequence[str]) -> list[str]:
    """`eval.x=v` -> `x=v`: the overrides of the eval section itself."""
    return [item.removeprefix(EVALUATED) for item in overrides]


def _name_parts(params: Mapping[str, str]) -> list[str]:
    """`<key><value>` for each named parameter: its alias or the last part of its key (whole if ambiguous)."""
    keys = [key for key in params if key not in NOT_IN_NAME]
    leaves = [key.rsplit(".", 1)[-1] for key in keys]
    return [
        f"{leaf if leaves.count(leaf) == 1 else key.replace('.', '_')}{_name_value(params[key])}"
        for key, leaf in sorted(zip(keys, leaves))
    ]


def _name_value(value: str) -> str:
    """A value as a run name shows it: a list `[mask,sketch]` as `mask+sketch`."""
    return "+".join(v.strip() for v in value[1:-1].split(",")) if value.startswith("[") else value
