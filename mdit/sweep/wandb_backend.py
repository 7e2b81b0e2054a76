"""The W&B sweep backend: the sweep registered on the W&B server (`wandb.sweep`), then an agent here
(`wandb.agent`) or only the `wandb agent` command to start agents elsewhere (one per GPU or machine).

Every agent run executes the sweep's `command`, i.e. `mdit sweep-run key=value ...`, the local runner's entry
point too; under an agent it logs online and puts metrics.json's numbers into the agent's run summary.

Without a login or without the network it fails in one line (a SweepError), not in wandb's prompt or traceback:
the API key is looked up before anything reaches the server, and wandb's errors name the server.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from mdit.sweep.errors import SweepError
from mdit.sweep.spec import SweepSpec

NOT_LOGGED_IN = "W&B: not logged in (run `wandb login` or set WANDB_API_KEY); or run the sweep with --backend local"


def sweep_path(sweep_id: str, project: str, entity: str | None) -> str:
    """`ENTITY/PROJECT/ID` (or `PROJECT/ID` when the entity is W&B's default one), what `wandb agent` takes."""
    return "/".join(part for part in (entity, project, sweep_id) if part)


def wandb_host() -> str:
    """The W&B server wandb would talk to (WANDB_BASE_URL, else its settings' base_url)."""
    import wandb

    return wandb.setup().settings.base_url


def has_api_key(host: str) -> bool:
    """Whether wandb holds credentials for `host` (WANDB_API_KEY, the ~/.netrc `wandb login` writes, its settings),
    looked up as wandb itself does before a request, without prompting or reaching the server."""
    from wandb.sdk.lib import wbauth

    return wbauth.authenticate_session(host=host, source="mdit sweep", prompt=False, update_session=False) is not None


def server_failure(host: str, err: BaseException) -> SweepError:
    """A failed exchange with the W&B server as one line naming the server."""
    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return SweepError(
        f"W&B at {host}: {detail} (check the network and the login; or run the sweep with --backend local)"
    )


def run_wandb(
    spec: SweepSpec,
    project: str,
    entity: str | None = None,
    count: int | None = None,
    print_only: bool = False,
    log: Callable[[str], None] = print,
) -> str:
    """Create the W&B sweep of `spec`; unless `print_only`, run an agent in this process. Returns the sweep path."""
    import requests
    import wandb

    failures = (wandb.errors.Error, requests.RequestException, ConnectionError, TimeoutError)
    host = wandb_host()
    try:
        logged_in = has_api_key(host)
    except wandb.errors.Error as err:  # e.g. a malformed WANDB_API_KEY
        raise SweepError(f"W&B: {err}") from None
    if not logged_in:
        raise SweepError(NOT_LOGGED_IN)
    config = {**spec.config, "project": project, **({"entity": entity} if entity else {})}
    try:
        sweep_id = wandb.sweep(config, entity=entity, project=project)
    except failures as err:
        raise server_failure(host, err) from None
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
    try:
        wandb.agent(sweep_id, entity=entity, project=project, count=count)
    except failures as err:
        raise server_failure(host, err) from None
    return path
