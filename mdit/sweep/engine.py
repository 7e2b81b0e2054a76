"""W&B's own sweep engine (the `sweeps` package) on the local runner's records: which parameter set comes next.

A record is a state-file entry ({"params", "status", "summary"}); finished ones become finished runs, anything
else a failed one, so grid search moves past it and bayes search sees it as a failure.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from mdit.sweep.spec import SweepSpec

Params = dict[str, Any]


def next_params(spec: SweepSpec, records: Iterable[Mapping[str, Any]]) -> Params | None:
    """`sweeps.next_run` given the runs of `records`; None when a grid has no point left."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sweeps 0.3 warns about its own pydantic config on import
        from sweeps import SweepRun, next_run

    runs = [
        SweepRun(
            config={key: {"value": value} for key, value in record["params"].items()},
            state="finished" if record["status"] == "finished" else "failed",
            summaryMetrics=record.get("summary") or {},
        )
        for record in records
    ]
    proposal = next_run(spec.config, runs, validate=True)
    return None if proposal is None else {key: value["value"] for key, value in proposal.config.items()}


def grid_points(spec: SweepSpec) -> list[Params]:
    """Every point of a grid sweep, in the order the engine proposes them."""
    points: list[Params] = []
    while (params := next_params(spec, [{"params": p, "status": "finished"} for p in points])) is not None:
        points.append(params)
    return points


def in_sweep(spec: SweepSpec, params: Mapping[str, Any]) -> bool:
    """Whether a recorded parameter set still belongs to the sweep (its YAML may have changed since)."""
    parameters = spec.config["parameters"]
    if set(params) != set(parameters):
        return False
    for key, parameter in parameters.items():
        values = parameter.get("values", [parameter["value"]] if "value" in parameter else None)
        if values is not None and params[key] not in values:
            return False
    return True


def run_count(spec: SweepSpec) -> int | None:
    """How many runs the sweep has: its grid's size (at most run_cap), else run_cap (None: unbounded)."""
    cap = spec.config.get("run_cap")
    if spec.method != "grid":
        return cap
    points = len(grid_points(spec))
    return min(points, cap) if cap else points
