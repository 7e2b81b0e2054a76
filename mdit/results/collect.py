"""Reading a sweep's runs: the swept parameters of a sweep YAML, and each run's config and metrics.

Local runs are the folders `runs/<group>/<name>/` (config.yaml + metrics.json); W&B runs come from
`wandb.Api().sweep(path).runs`, their summary turned back into the metrics.json layout, so both sources feed
the same row building.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mdit.runs import CONFIG_FILE, METRICS_FILE
from mdit.sweep.params import ALIASES, CONDITIONS, TEXT_ONLY

SEED_KEY = "seed"
DATA_SPLIT = "data_split"  # metrics.json: how the data split was chosen and its id ranges (mdit.data.registry)
NOT_SWEPT = (SEED_KEY, "name", "group", "tags", "output_dir", "cache_dir")  # never a row of a table


@dataclass
class Run:
    """One run: its flat config (dotted keys), its metrics (metrics.json layout) or None, and why it has none."""

    name: str
    config: dict[str, Any]
    metrics: dict[str, Any] | None
    folder: Path | None = None
    problem: str | None = None  # why metrics is None (not finished, unreadable, ...)

    @property
    def seed(self) -> Any:
        return self.config.get(SEED_KEY)


def flatten(tree: Mapping[str, Any], sep: str = ".", prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of `sep`-joined keys; keys that already hold `sep` stay as they are."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, sep, f"{name}{sep}"))
        else:
            flat[name] = value
    return flat


def _walk_parameters(parameters: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(dotted key, spec) of every parameter of a sweep YAML; nested W&B `parameters:` become dotted keys."""
    for key, value in (parameters or {}).items():
        if not isinstance(value, Mapping):
            continue
        if "parameters" in value:
            yield from _walk_parameters(value["parameters"], f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _load_sweep(sweep_file: str | Path) -> dict[str, Any]:
    return yaml.safe_load(Path(sweep_file).read_text()) or {}


def sweep_parameters(sweep_file: str | Path) -> dict[str, list[Any] | None]:
    """The parameters a sweep YAML varies, in file order: key -> its `values` list (None for a distribution).

    The seed and constants (`value:` or a one-element `values:`) are left out: they are not rows of a table.
    """
    swept: dict[str, list[Any] | None] = {}
    for key, spec in _walk_parameters(_load_sweep(sweep_file).get("parameters", {})):
        if key in NOT_SWEPT or "value" in spec:
            continue
        if "values" in spec:
            if len(spec["values"]) > 1:
                swept[key] = list(spec["values"])
        else:
            swept[key] = None  # a distribution (min/max, ...): the rows are the values the runs drew
    return swept


def sweep_constants(sweep_file: str | Path) -> dict[str, Any]:
    """What a sweep YAML fixes: `value:` and one-element `values:` parameters, and `key=value` words of `command`."""
    spec = _load_sweep(sweep_file)
    constants: dict[str, Any] = {}
    for word in spec.get("command") or []:
        key, sep, value = str(word).partition("=")
        if sep and not key.startswith(("$", "-")):
            constants[key.strip()] = yaml.safe_load(value) if value else value
    for key, item in _walk_parameters(spec.get("parameters", {})):
        if "value" in item:
            constants[key] = item["value"]
        elif len(item.get("values") or ()) == 1:
            constants[key] = item["values"][0]
    return constants


def config_value(config: Mapping[str, Any], key: str) -> Any:
    """A run's value of a swept key; an alias of several config keys (`dropout`) reads its first key; the
    `conditions` parameter reads `text` for a text-only run, else its model.conditions joined by `+`."""
    if key in config:
        return config[key]
    if key == CONDITIONS:
        if config.get("model.attention") == "none":
            return TEXT_ONLY
        conditions = config.get("model.conditions")
        return "+".join(conditions) if conditions is not None else None

    targets = ALIASES.get(key, ())
    return config.get(targets[0]) if targets else None


def _read_yaml(path: Path) -> dict[str, Any]:
    return flatten(yaml.safe_load(path.read_text()) or {})


def read_local_run(folder: Path) -> Run:
    """A run folder as a Run; a missing or unreadable metrics.json is a `problem`, not an error."""
    config = _read_yaml(folder / CONFIG_FILE)
    metrics_path = folder / METRICS_FILE
    if not metrics_path.is_file():
        return Run(folder.name, config, None, folder, f"no {METRICS_FILE} (training not finished?)")
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        return Run(folder.name, config, None, folder, f"{METRICS_FILE} unreadable: {err}")
    return Run(folder.name, config, metrics, folder)


def collect_local(group_dir: str | Path) -> list[Run]:
    """Every run folder (one holding config.yaml) directly under `group_dir`, sorted by name."""
    group_dir = Path(group_dir)
    if not group_dir.is_dir():
        return []
    return [read_local_run(d) for d in sorted(group_dir.iterdir()) if (d / CONFIG_FILE).is_file()]


def _unwrap(config: Mapping[str, Any]) -> dict[str, Any]:
    """W&B config entries sometimes come as {"value": v, "desc": ...}: keep v."""
    out = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and "value" in value and set(value) <= {"value", "desc"}:
            value = value["value"]
        out[key] = value
    return out


def metrics_from_summary(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """A W&B run summary in the metrics.json layout: cost/* -> top level, eval/<mode>/... -> eval[mode],
    data_split/... -> data_split.

    The summary holds numbers only: a TOPIQ that was n/a is absent (marked n/a here, reason unknown), and the
    judges' descriptions (parser ceiling, Fréchet features) are not in it.
    """
    flat = flatten(summary, sep="/")
    metrics: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split("/")
        if parts[0] == "cost" and len(parts) == 2:
            metrics[parts[1]] = value
        elif key in ("val/loss", "train/loss"):
            metrics[key.replace("/", "_")] = value
        elif parts[0] == "eval" and len(parts) == 3:
            metrics.setdefault("eval", {}).setdefault(parts[1], {})[parts[2]] = value
        elif parts[0] == "eval" and len(parts) == 4 and parts[2] == "real_images":
            metrics.setdefault("eval", {}).setdefault(parts[1], {}).setdefault("real_images", {})[parts[3]] = value
        elif parts[0] == DATA_SPLIT and len(parts) in (2, 3):  # metrics.json's data_split record, nested again
            node = metrics.setdefault(DATA_SPLIT, {})
            node = node.setdefault(parts[1], {}) if len(parts) == 3 else node
            node[parts[-1]] = value
    for entry in metrics.get("eval", {}).values():
        if entry.get("topiq") is None:
            reason = "TOPIQ absent from the W&B summary (n/a at `mdit eval`: the run's metrics.json says why)"
            entry["topiq"] = None
            entry.setdefault("judges", {})["topiq"] = {"kind": "n/a", "reason": reason}
    return metrics or None


def _summary_dict(run: Any) -> dict[str, Any]:
    """A public-API run's summary as a dict (`summary_metrics`, a JSON string in some W&B versions, or `summary`)."""
    summary = getattr(run, "summary_metrics", None)
    if isinstance(summary, (str, bytes)):
        summary = json.loads(summary or "{}")
    if summary is None:
        summary = getattr(run, "summary", {}) or {}
    return dict(summary.items()) if hasattr(summary, "items") else {}


def runs_from_api(api_runs: Iterable[Any]) -> list[Run]:
    """W&B public-API runs (config + summary) as Runs."""
    runs = []
    for r in api_runs:
        config = json.loads(r.config) if isinstance(r.config, (str, bytes)) else r.config
        config = flatten(_unwrap(dict(config or {})))
        metrics = metrics_from_summary(_summary_dict(r))
        state = getattr(r, "state", None)
        problem = None if metrics else f"empty W&B summary (state {state})"
        runs.append(Run(r.name, config, metrics, None, problem))
    return sorted(runs, key=lambda run: run.name)


def collect_wandb(sweep_path: str, api: Any = None) -> list[Run]:
    """The runs of the W&B sweep `entity/project/sweep_id`, through `wandb.Api()` (network)."""
    if api is None:
        import wandb

        api = wandb.Api()
    return runs_from_api(api.sweep(sweep_path).runs)


def varying_keys(runs: Iterable[Run]) -> list[str]:
    """Config keys whose values differ between runs (not seed, names, W&B): a group's rows without its sweep file."""
    runs = list(runs)
    keys = dict.fromkeys(k for r in runs for k in r.config)
    ignored = lambda k: k in NOT_SWEPT or k.startswith("wandb.")  # noqa: E731
    return [k for k in keys if not ignored(k) and len({repr(r.config.get(k)) for r in runs}) > 1]
