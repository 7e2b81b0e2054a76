"""Rows of a table: runs grouped by the swept parameters other than the seed, mean ± std over seeds.

A row is one setting (a variant, or a combination of swept values); n counts its finished runs (those with
metrics). Rows follow the order of the values in the sweep file, the order of the paper's tables. Runs whose
metrics.json record different data splits (`data_split`) never share a row: each split is then a row parameter,
"[split 1]", "[split 2]", ..., which the table's notes describe.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mdit.conditions import DEFAULT_CONDITIONS
from mdit.config import EvalConfig
from mdit.results.collect import DATA_SPLIT, Run, config_value
from mdit.results.columns import CONDITIONS, MEASURED, SAMPLING_COSTS, Value
from mdit.runs import evaluation_key
from mdit.sweep.params import EVALUATED, is_evaluated

if TYPE_CHECKING:
    from mdit.results.intervals import CellInterval

ATTENTION_KEY, MODE_KEY, DEFAULT_MODE = "model.attention", "eval.mode", EvalConfig().mode
STRIDE_KEY, READERS_KEY, STEPS_KEY = "model.mask_token_stride", "model.mask_readers", "eval.steps"
CONDITIONS_KEY = "model.conditions"
PAPER_STRIDE, PAPER_READERS = 1, "image_text"  # the paper's mask tokens (runs saved before the options had these)
EVAL_DEFAULTS = dataclasses.asdict(EvalConfig())  # for runs saved before a key joined the eval section
SPLIT_KEY, UNRECORDED = DATA_SPLIT, "?"  # the row parameter of the split, when the runs used several


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
    """One setting: its swept values, its runs (the seeds), the evaluation read (its key in metrics.json's eval, and
    its mode), and a Stat per measured column."""

    label: str
    params: dict[str, Any]
    runs: list[Run]
    attention: str | None
    mode: str
    evaluation: str  # mdit.runs.evaluation_key: `both`, `conflict`, `both-mask_strength2`
    eval_args: tuple[str, ...] = ()  # what `mdit eval` is given for it (the swept eval.* values)
    stats: dict[str, Stat] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)  # column -> finished runs without a value
    intervals: dict[str, CellInterval] = field(default_factory=dict)  # column -> its 95 % interval, if it has one
    no_interval: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> {run: why it has no interval}
    stride: int = PAPER_STRIDE  # model.mask_token_stride
    readers: str = PAPER_READERS  # model.mask_readers
    steps: int | None = None  # the sampling steps, where the sweep varies them (else the cost's default)
    conditions: tuple[str, ...] = DEFAULT_CONDITIONS  # model.conditions

    @property
    def cost_setting(self) -> tuple[str | None, int, str, int | None, tuple[str, ...]]:
        """What a row's extra cost depends on: (attention, stride, readers, steps, conditions)."""
        return self.attention, self.stride, self.readers, self.steps, self.conditions

    @property
    def paper_attention(self) -> str | None:
        """The strategy whose published numbers this row may stand beside: only the paper's mask tokens."""
        paper = (self.stride, self.readers, self.conditions) == (PAPER_STRIDE, PAPER_READERS, DEFAULT_CONDITIONS)
        return self.attention if paper else None

    @property
    def finished(self) -> list[Run]:
        return [r for r in self.runs if r.metrics is not None]

    @property
    def plain(self) -> bool:
        """Evaluated as its runs sample by themselves (the key is the bare mode: no sampling setting of its own)."""
        return self.evaluation == self.mode

    def values(self, key: str) -> list[float]:
        """The per-run numbers of a measured column (for plots of the seeds)."""
        column = next(c for c in MEASURED if c.key == key)
        return [v.number for r in self.finished if (v := column.value(r.metrics, self.mode)).number is not None]


def setting_label(params: dict[str, Any], group: str) -> str:
    """`holistic`, or `holistic, lr=0.003` for several swept keys; the group name when only seeds vary; a
    ` [split 2]` suffix when the runs of the table used several data splits."""
    swept = {k: v for k, v in params.items() if k != SPLIT_KEY}
    suffix = f" [split {params[SPLIT_KEY]}]" if SPLIT_KEY in params else ""
    if not swept:
        return group + suffix
    if len(swept) == 1:
        return str(next(iter(swept.values()))) + suffix
    return ", ".join(str(v) if k == ATTENTION_KEY else f"{k.rsplit('.', 1)[-1]}={v}" for k, v in swept.items()) + suffix


def split_identity(run: Run) -> str | None:
    """The data split a run recorded in metrics.json (`data_split`), as comparable text; None when it has none."""
    record = (run.metrics or {}).get(DATA_SPLIT)
    return json.dumps(record, sort_keys=True) if record else None


def _ids_text(name: str, ids: dict[str, Any]) -> str:
    return f"{name} {ids['count']} ids {ids['min']}..{ids['max']}"


def describe_split(record: Any) -> str:
    """A `data_split` record in words: "pickles (swapped back): train 23744 ids 0..23743, val ..., test ..."."""
    try:
        ranges = ", ".join(_ids_text(name, record[name]) for name in ("train", "val", "test") if name in record)
        return f"{record['source']}: {ranges}"
    except (KeyError, TypeError):
        return "not recorded" if not record else json.dumps(record, sort_keys=True)


def split_numbers(runs: list[Run]) -> dict[str | None, str]:
    """A number per distinct data split the runs recorded, in run order, when there are several (else {});
    runs without a record (unfinished, or from before the record existed) get UNRECORDED."""
    identities = list(dict.fromkeys(i for run in runs if (i := split_identity(run)) is not None))
    if len(identities) < 2:
        return {}
    return {identity: str(number) for number, identity in enumerate(identities, start=1)} | {None: UNRECORDED}


def _order(swept: dict[str, list[Any] | None], params: tuple[Any, ...]) -> tuple:
    """Sort key: each value's position in the sweep file's list, then its text."""
    key = []
    for (_, declared), value in zip(swept.items(), params):
        position = declared.index(value) if declared and value in declared else len(declared or ())
        key.append((position, str(value)))
    return tuple(key)


@dataclass(frozen=True)
class Evaluation:
    """One evaluation a run stands for in a table: the swept eval.* values behind it, its key and its mode."""

    values: dict[str, Any]
    key: str
    mode: str

    @property
    def args(self) -> tuple[str, ...]:
        return tuple(f"{key}={value}" for key, value in self.values.items())


def run_evaluations(run: Run, evaluated: dict[str, list[Any] | None]) -> list[Evaluation]:
    """The evaluations a run stands for: one per combination of the sweep's eval.* values (swept or fixed: one
    training serves them all), keyed as `mdit eval` filed them; the run's own (plain) one when there are none."""
    plain = {key: run.config.get(f"{EVALUATED}{key}", default) for key, default in EVAL_DEFAULTS.items()}
    values = [declared or [plain[key.removeprefix(EVALUATED)]] for key, declared in evaluated.items()]
    out = []
    for combination in itertools.product(*values):
        chosen = dict(zip(evaluated, combination))
        e = {**plain, **{key.removeprefix(EVALUATED): value for key, value in chosen.items()}}
        out.append(Evaluation(chosen, evaluation_key(e, plain), str(e["mode"])))
    return out


def make_row(params: dict[str, Any], runs: list[Run], evaluation: Evaluation, group: str) -> Row:
    """A Row with its per-column Stats, read from eval[key] of each run's metrics."""
    config = runs[0].config
    attention = params.get(ATTENTION_KEY, config.get(ATTENTION_KEY))
    label = setting_label(params, group)
    row = Row(label, params, runs, attention, evaluation.mode, evaluation.key, evaluation.args)
    row.stride = params.get(STRIDE_KEY, config.get(STRIDE_KEY, PAPER_STRIDE))
    row.readers = params.get(READERS_KEY, config.get(READERS_KEY, PAPER_READERS))
    row.steps = evaluation.values.get(STEPS_KEY)
    row.conditions = tuple(config.get(CONDITIONS_KEY) or DEFAULT_CONDITIONS)
    for column in MEASURED + SAMPLING_COSTS + CONDITIONS:
        values = [column.value(r.metrics, evaluation.key) for r in row.finished]
        row.stats[column.key] = summarise(values)
        row.missing[column.key] = [r.name for r, v in zip(row.finished, values) if v.number is None and not v.na]
    return row


def _hashable(value: Any) -> Any:
    """Lists (a swept list-valued key) as tuples, so that settings can be grouped."""
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def group_rows(
    runs: list[Run], swept: dict[str, list[Any] | None], group: str, fixed: dict[str, Any] | None = None
) -> tuple[list[Row], list[Run]]:
    """Rows of the runs whose swept values are among the sweep's, in sweep order; and the runs left out.

    Swept eval.* keys are not part of a run's training config (the runner trains once and evaluates each
    setting): each run then appears in one row per combination of their values. `fixed`: the eval.* values the
    sweep fixes (`value:`), which every row is evaluated with. Runs that recorded different data splits go to
    different rows (`split_numbers`).
    """
    declared = {k: None if values is None else [_hashable(v) for v in values] for k, values in swept.items()}
    evaluated = {k: v for k, v in swept.items() if is_evaluated(k)}
    evaluated |= {k: [v] for k, v in (fixed or {}).items() if is_evaluated(k) and k not in evaluated}
    kept: list[tuple[tuple, Run, Evaluation]] = []
    skipped = []
    for run in runs:
        for evaluation in run_evaluations(run, evaluated):
            params = tuple(
                evaluation.values[k] if is_evaluated(k) else _hashable(config_value(run.config, k)) for k in swept
            )
            if any(d is not None and v not in d for v, d in zip(params, declared.values())):
                skipped.append(run)
                break
            kept.append((params, run, evaluation))
    numbers = split_numbers([run for _, run, _ in kept])
    groups: dict[tuple, list[Run]] = {}
    evaluations: dict[tuple, Evaluation] = {}
    for params, run, evaluation in kept:
        key = (params, numbers.get(split_identity(run)))
        groups.setdefault(key, []).append(run)
        evaluations.setdefault(key, evaluation)
    rank = {split: position for position, split in enumerate(numbers.values())}
    ordered = sorted(groups, key=lambda key: (_order(declared, key[0]), rank.get(key[1], 0)))
    rows = []
    for p, split in ordered:
        params = dict(zip(swept, p)) | ({SPLIT_KEY: split} if split else {})
        rows.append(make_row(params, groups[p, split], evaluations[p, split], group))
    return rows, skipped
