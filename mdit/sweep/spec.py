"""A sweep YAML of `sweeps/`: loaded, checked against W&B's sweep schema and this repository's conventions.

Conventions: the `command` runs `mdit sweep-run` (as `${env} ${interpreter} -m mdit.cli sweep-run`, with `program`
naming the same module's file for W&B) with optional `-c FILE` / `--set KEY=VALUE` pairs and the parameters
last (`${args_no_hyphens}`); a constant `group` parameter equals the file's stem; every parameter value is a
valid config override. `with_launch` swaps in the config files and fixed overrides a backend was given.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mdit.config import ConfigError, load_config
from mdit.sweep.params import is_evaluated, parameter_overrides

ENTRY = ("${env}", "${interpreter}", "-m", "mdit.cli", "sweep-run")
ARGS_MACRO = "${args_no_hyphens}"
PROGRAM = "mdit/cli/__main__.py"  # the file of the module ENTRY runs: what `${program}` would name
OPTIONS = ("-c", "--set")  # sweep-run's options a command may carry between ENTRY and ARGS_MACRO
LIMITED = ("random", "bayes")  # methods with no end of their own: a local run needs `run_cap`


class SweepSpecError(ValueError):
    """A sweep YAML that cannot run: schema violations or a broken convention, all listed."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep YAML: its path, its W&B config (a plain dict) and its group (the file's stem)."""

    path: Path
    config: dict[str, Any]

    @property
    def group(self) -> str:
        return self.path.stem

    @property
    def method(self) -> str:
        return self.config["method"]

    @property
    def config_files(self) -> list[str]:
        """The `-c FILE` layers of the command, in order."""
        return [value for option, value in _options(self.config["command"]) if option == "-c"]

    @property
    def fixed_overrides(self) -> list[str]:
        """The `--set KEY=VALUE` overrides of the command, in order."""
        return [value for option, value in _options(self.config["command"]) if option == "--set"]


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep YAML; a SweepSpecError lists every problem found."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file not found: {path}")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SweepSpecError(yaml_problem(path, err)) from None
    problems = check_sweep(config, path.stem)
    if problems:
        raise SweepSpecError(f"{path}: " + "; ".join(problems))
    return SweepSpec(path, config)


def yaml_problem(path: Path, err: yaml.YAMLError) -> str:
    """A YAML syntax error in one line, `FILE line N: problem`, rather than yaml's traceback."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"{path} line {mark.line + 1}: {problem}" if mark is not None else f"{path}: {problem}"


def check_sweep(config: Any, stem: str) -> list[str]:
    """Every problem of a sweep config: W&B's schema (the `sweeps` package), then this repository's conventions."""
    if not isinstance(config, dict):
        held = "nothing" if config is None else f"a {type(config).__name__}"
        return [f"a sweep YAML must be a mapping of W&B sweep keys (method, parameters, ...), it holds {held}"]
    import jsonschema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sweeps 0.3 warns about its own pydantic config on import
        from sweeps import SweepConfig, schema_violations_from_proposed_config
    try:
        problems = list(schema_violations_from_proposed_config(config))
        if not problems:
            SweepConfig(config)  # the engine's own filling and checks of each parameter
    except (ValueError, jsonschema.ValidationError) as err:
        problems = [str(err).splitlines()[0]]
    if problems:
        return problems
    return [*_check_command(config), *_check_parameters(config, stem)]


def _check_command(config: dict) -> list[str]:
    command = [str(c) for c in config.get("command", [])]
    problems = []
    if tuple(command[: len(ENTRY)]) != ENTRY or not command or command[-1] != ARGS_MACRO:
        problems.append(f"command must be [{', '.join(ENTRY)}, (-c FILE | --set KEY=VALUE)..., {ARGS_MACRO}]")
    else:
        middle = command[len(ENTRY) : -1]
        if len(middle) % 2 or any(option not in OPTIONS for option in middle[::2]):
            problems.append(
                f"between sweep-run and {ARGS_MACRO} the command may only hold -c FILE and --set "
                f"KEY=VALUE pairs, got {middle}"
            )
    if config.get("program") != PROGRAM:
        problems.append(f"program must be {PROGRAM!r} (the file of the module the command runs, {ENTRY[3]})")
    return problems


def _check_parameters(config: dict, stem: str) -> list[str]:

    parameters = config["parameters"]
    problems = []
    if parameters.get("group", {}).get("value") != stem:
        problems.append(f"parameters must hold group: {{value: {stem}}} (runs go to <output_dir>/{stem}/)")
    for key, parameter in parameters.items():
        if key in ("group", "name", "tags"):
            continue
        bounds = [parameter[key] for key in ("min", "max") if key in parameter]
        for value in _grid_values(parameter) or bounds:
            try:
                load_config(None, parameter_overrides(key, value))
            except ConfigError as err:
                problems.append(f"parameter {key}={value}: {err}")
        if is_evaluated(key) and "values" not in parameter and "value" not in parameter:
            problems.append(f"{key} is evaluated, not trained: it takes a value or values, not a distribution")
    return problems


def _grid_values(parameter: dict) -> list:
    """The listed values of a parameter (empty for a distribution, whose bounds are checked instead)."""
    if "values" in parameter:
        return list(parameter["values"])
    return [parameter["value"]] if "value" in parameter else []


def _options(command: Sequence[Any]) -> list[tuple[str, str]]:
    middle = [str(c) for c in command[len(ENTRY) : -1]]
    return list(zip(middle[::2], middle[1::2]))


def with_launch(
    spec: SweepSpec,
    config_files: Sequence[str] | None = None,
    fixed: Sequence[str] = (),
    seeds: Sequence[int] | None = None,
) -> SweepSpec:
    """The sweep a backend runs: the `-c` layers replaced when `config_files` is given, `fixed` overrides added
    as `--set` pairs, the `seed` values replaced when `seeds` is given. Same file, same group."""
    config = copy.deepcopy(spec.config)
    files = spec.config_files if config_files is None else list(config_files)
    options = [item for path in files for item in ("-c", str(path))]
    options += [item for override in (*spec.fixed_overrides, *fixed) for item in ("--set", override)]
    config["command"] = [*ENTRY, *options, ARGS_MACRO]
    if seeds is not None:
        config["parameters"]["seed"] = {"values": [int(seed) for seed in seeds]}
    return SweepSpec(spec.path, config)
