"""The W&B sweep backend: the sweep registered on the W&B server (`wandb.sweep`), then an agent here
(`wandb.agent`) or only the `wandb agent` command to start agents elsewhere (one per GPU or machine).

Every agent run executes the sweep's `command`, i.e. `mdit sweep-run key=value ...`, the local runner's entry
point too; under an agent it logs online and puts metrics.json's numbers into the agent's run summary.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from mdit.sweep.spec import SweepSpec


def sweep_path(sweep_id: str, project: str, entity: str | None) -> str:
    """`ENTITY/PROJECT/ID` (or `PROJECT/ID` when the entity is W&B's default one), what `wandb agent` takes."""
    return "/".join(part for part in (entity, project, sweep_id) if part)


def run_wandb(
    spec: SweepSpec,
    project: str,
    entity: str | None = None,
    count: int | None = None,
    print_only: bool = False,
    log: Callable[[str], None] = print,
) -> str:
    """Create the W&B sweep of `spec`; unless `print_only`, run an agent in this process. Returns the sweep path."""
    import wandb

    config = {**spec.config, "project": project, **({"entity": entity} if entity else {})}
    sweep_id = wandb.sweep(config, entity=entity, project=project)
    path = sweep_path(sweep_id, project, entity)
    log(f"sweep {spec.group}: W&B sweep {path}")
    log(
        f"start agents (one per GPU or machine, from the repository root): wandb agent {path}   "
        f"(or: make sweep-agent SWEEP_ID={path})"
    )
    if print_only:
        return path
    # The agent runs the command's `${interpreter}` as `python` from PATH: make that this interpreter.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    wandb.agent(sweep_id, entity=entity, project=project, count=count)
    return path
