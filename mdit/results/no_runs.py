"""A sweep with no results yet: one line saying where none were found and the exact command that makes them.

`mdit table` reads runs that `mdit sweep` (or its `make ablation-*` target) wrote; when there are none, or none has
a metrics.json, the next step is that command, with the config and profile the table was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mdit.results.collect import Run
from mdit.sweep.profiles import DEFAULT

# The Makefile's ablation targets (`$(call ablation,<sweep stem>)`) and the config they pass (its CONFIG ?=).
MAKE_TARGETS = {
    "ablation_attention": "ablation-attention",
    "ablation_efficiency": "ablation-efficiency",
    "conditions": "ablation-conditions",
    "ablation_tokenization": "ablation-tokenization",
    "unimodal": "ablation-unimodal",
    "dropout": "ablation-dropout",
    "guidance": "ablation-guidance",
}
MAKE_CONFIG = "experiments/synthfaces.yaml"


class NoResults(FileNotFoundError):
    """A sweep without a single run holding results: a user's next step, not a failure of the table."""


def nothing_found(group: str, where: str, runs: Sequence[Run]) -> str:
    """`no runs of G under W yet` (`where` with its preposition), or how many runs there are when none finished."""
    if not runs:
        return f"no runs of {group} {where} yet"
    return f"no finished runs of {group} {where} yet ({len(runs)} runs, none with results)"


def _words(config: Sequence[str] | None, profile: str, overrides: Sequence[str]) -> list[str]:
    """The config arguments as typed: -c files, --profile (unless default), key=value overrides."""
    words = [word for file in config or () for word in ("-c", file)]
    return words + (["--profile", profile] if profile != DEFAULT else []) + list(overrides)


def make_command(
    sweep_file: str | Path, config: Sequence[str] | None, profile: str, overrides: Sequence[str]
) -> str | None:
    """The `make ablation-*` line for the same runs; None for a sweep without a target or a config make cannot pass."""
    path = Path(sweep_file)
    target = MAKE_TARGETS.get(path.stem)
    at_home = path.resolve() == (Path("sweeps") / f"{path.stem}.yaml").resolve()  # make runs sweeps/<stem>.yaml
    if target is None or not at_home or (config and len(config) > 1):
        return None
    words = [f"make {target}"]
    words += [f"PROFILE={profile}"] if profile != DEFAULT else []
    words += [f"CONFIG={config[0]}"] if config and config[0] != MAKE_CONFIG else []
    words += [f"ARGS='{' '.join(overrides)}'"] if overrides else []
    return " ".join(words)


def local_remedy(
    sweep_file: str | Path,
    config: Sequence[str] | None = None,
    profile: str = DEFAULT,
    overrides: Sequence[str] = (),
) -> str:
    """`run \\`mdit sweep FILE --backend local ...\\`` (and its make target, if it has one), with the table's config."""
    sweep = " ".join(["mdit sweep", str(sweep_file), "--backend local", *_words(config, profile, overrides)])
    make = make_command(sweep_file, config, profile, overrides)
    return f"run `{sweep}`" + (f" (or `{make}`)" if make else "")


def wandb_remedy(sweep_path: str | None) -> str:
    """Start an agent of the W&B sweep: its runs are what the table reads."""
    return f"start an agent: `wandb agent {sweep_path}` (or `make sweep-agent SWEEP_ID={sweep_path}`)"
