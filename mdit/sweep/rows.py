"""Rows of a table: runs grouped by the swept parameters other than the seed, mean ± std over seeds.

A row is one setting (a variant, or a combination of swept values); n counts its finished runs (those with
metrics). Rows follow the order of the values in the sweep file, the order of the paper's tables.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from mdit.config import EvalConfig
from mdit.sweep.collect import Run, config_value
from mdit.sweep.columns import MEASURED, Value

ATTENTION_KEY, MODE_KEY, DEFAULT_MODE = "model.attention", "eval.mode", EvalConfig().mode


@dataclass(frozen=True)
class Stat:
    """A cell's number: mean and sample std over `n` runs (std only when n >= 2); n None = one fixed number."""

    mean: float | None
    std: float | None = None
    n: int | None = None
    na: tuple[str, ...] = ()  # reasons, when some runs' values are not applicable


def summarise(values: list[Value]) -> Stat:
    """Mean ± sample std of the runs that have a number; the n/a reasons of those that cannot have one."""
    numbers = [v.number for v in values if v.number is not None]
    na = tuple(dict.fromkeys(v.na for v in values if v.na))
    if not numbers:
        return Stat(None, None, 0, na)
    std = statistics.stdev(numbers) if len(numbers) >= 2 else None
    return Stat(statistics.fmean(numbers), std, len(numbers), na)


@dataclass
class Row:
    """One setting: its swept values, its runs (the seeds), the eval mode read, and a Stat per measured column."""

    label: str
    params: dict[str, Any]
    runs: list[Run]
    attention: str | None
    mode: str
    stats: dict[str, Stat] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)  # column -> finished runs without a value

    @property
    def finished(self) -> list[Run]:
        return [r for r in self.runs if r.metrics is not None]

    def values(self, key: str) -> list[float]:
        """The per-run numbers of a measured column (for plots of the seeds)."""
        column = next(c for c in MEASURED if c.key == key)
        return [v.number for r in self.finished if (v := column.value(r.metrics, self.mode)).number is not None]


def setting_label(params: dict[str, Any], group: str) -> str:
    """`holistic`, or `holistic, lr=0.003` for several swept keys; the group name when only seeds vary."""
    if not params:
        return group
    if len(params) == 1:
        return str(next(iter(params.values())))
    return ", ".join(str(v) if k == ATTENTION_KEY else f"{k.rsplit('.', 1)[-1]}={v}" for k, v in params.items())


def _order(swept: dict[str, list[Any] | None], params: tuple[Any, ...]) -> tuple:
    """Sort key: each value's position in the sweep file's list, then its text."""
    key = []
    for (_, declared), value in zip(swept.items(), params):
        position = declared.index(value) if declared and value in declared else len(declared or ())
        key.append((position, str(value)))
    return tuple(key)


def make_row(params: dict[str, Any], runs: list[Run], mode: str, group: str) -> Row:
    """A Row with its per-column Stats, read from eval[mode] of each run's metrics."""
    attention = params.get(ATTENTION_KEY, runs[0].config.get(ATTENTION_KEY))
    row = Row(setting_label(params, group), params, runs, attention, mode)
    for column in MEASURED:
        values = [column.value(r.metrics, mode) for r in row.finished]
        row.stats[column.key] = summarise(values)
        row.missing[column.key] = [r.name for r, v in zip(row.finished, values) if v.number is None and not v.na]
    return row


def _hashable(value: Any) -> Any:
    """Lists (a swept list-valued key) as tuples, so that settings can be grouped."""
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def _modes(run: Run, swept: dict[str, list[Any] | None], default_mode: str | None) -> list[str]:
    """The eval modes a run stands for: every swept mode (one training serves them all), else the fixed one."""
    if MODE_KEY in swept:
        return [str(m) for m in swept[MODE_KEY] or sorted((run.metrics or {}).get("eval", {}))]
    return [str(default_mode or run.config.get(MODE_KEY, DEFAULT_MODE))]


def group_rows(runs: list[Run], swept: dict[str, list[Any] | None], group: str,
               default_mode: str | None = None) -> tuple[list[Row], list[Run]]:  # fmt: skip
    """Rows of the runs whose swept values are among the sweep's, in sweep order; and the runs left out.

    A swept `eval.mode` is not part of a run's training config (the runner trains once and evaluates every
    mode): each run then appears in one row per mode. `default_mode`: the sweep's fixed eval mode, if any.
    """
    declared = {k: None if values is None else [_hashable(v) for v in values] for k, values in swept.items()}
    groups: dict[tuple, list[Run]] = {}
    skipped = []
    for run in runs:
        for mode in _modes(run, swept, default_mode):
            params = tuple(mode if k == MODE_KEY else _hashable(config_value(run.config, k)) for k in swept)
            if any(d is not None and v not in d for v, d in zip(params, declared.values())):
                skipped.append(run)
                break
            groups.setdefault(params, []).append(run)
    ordered = sorted(groups, key=lambda p: _order(declared, p))
    rows = []
    for p in ordered:
        params = dict(zip(swept, p))
        mode = str(params[MODE_KEY]) if MODE_KEY in params else _modes(groups[p][0], swept, default_mode)[0]
        rows.append(make_row(params, groups[p], mode, group))
    return rows, skipped
