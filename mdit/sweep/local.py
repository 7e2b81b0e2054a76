"""The local sweep backend: W&B's own engine (`sweeps.next_run`) picks each parameter set, and each run is one
`mdit sweep-run` subprocess (the sweep's own `command`, macros filled as W&B's agent fills them), W&B offline.

Rerunning the sweep skips complete runs (their metrics.json has every eval mode), resumes interrupted ones
(training restarts from last.ckpt) and retries failed ones; a failing run is recorded and the others go on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mdit.config import ConfigError, load_config
from mdit.runs import LAST_CHECKPOINT, run_dir
from mdit.sweep.engine import grid_points, in_sweep, next_params, run_count
from mdit.sweep.errors import SweepError
from mdit.sweep.params import format_args, plan_trial
from mdit.sweep.spec import ARGS_MACRO, LIMITED, SweepSpec
from mdit.sweep.state import STATE_FILE, SweepState, is_complete, is_trained, now, read_metrics, summary
from mdit.sweep.status import Status
from mdit.sweep.trial import check_same_config
from mdit.sweep.watch import StatusDisplay, print_stream, watching

# (argv, env, log file) -> exit code. Tests inject a fake one; the default runs a subprocess.
Runner = Callable[[Sequence[str], Mapping[str, str], Path], int]
AGENT_ENV = ("WANDB_SWEEP_ID", "WANDB_RUN_ID", "WANDB_SWEEP_PARAM_PATH", "WANDB_AGENT_ID")
LOG_DIR = "logs"
TAIL_LINES = 15
HEADLINE = ("mask_accuracy", "clip_t")  # shown in the progress line of a finished run


def subprocess_runner(argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> int:
    """Run `argv` with its output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as out:
        out.write(f"\n=== {now()} $ {' '.join(argv)}\n")
        out.flush()
        return subprocess.run(list(argv), env=dict(env), stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def command_for(spec: SweepSpec, args: Sequence[str]) -> list[str]:
    """The sweep's command for one parameter set, as W&B's agent builds it, with this interpreter."""
    macros = {
        "${env}": [],
        "${interpreter}": [sys.executable],
        "${program}": [spec.config.get("program", "")],
        ARGS_MACRO: list(args),
    }
    return [item for part in spec.config["command"] for item in macros.get(str(part), [str(part)])]


def run_env() -> dict[str, str]:
    """This environment without a W&B agent's variables (a local run is no agent's run), W&B offline."""
    env = {key: value for key, value in os.environ.items() if key not in AGENT_ENV}
    env["WANDB_MODE"] = "offline"
    return env


@dataclass
class LocalSweep:
    """The outcome of one invocation: the state file and the labels per outcome."""

    state_path: Path
    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def run_local(
    spec: SweepSpec,
    runner: Runner | None = None,
    log: Callable[[str], None] = print,
    prepare: bool = True,
    terminal: TextIO | None = None,
) -> LocalSweep:
    """Run every parameter set the engine proposes (grid: all of them; random/bayes: up to run_cap), each with
    `runner` (default: a subprocess), showing where each is (mdit.sweep.watch): redrawn on `terminal` if it is
    a TTY (default: the stream of a print-based `log`), else as plain `log` lines."""
    cap = spec.config.get("run_cap")
    if spec.method in LIMITED and not cap:
        raise SweepError(f"{spec.path}: method {spec.method} has no end of its own; set run_cap for a local sweep")
    display = StatusDisplay(log, terminal if terminal is not None else print_stream(log))
    sweep = _Invocation(spec, runner or subprocess_runner, display)
    log = display.log
    log(
        f"sweep {spec.group} ({spec.method}, {sweep.total or '?'} runs): "
        f"{' '.join(['-c ' + f for f in spec.config_files] + spec.fixed_overrides)}"
    )
    if prepare:
        sweep.prepare()
    # First what is known: a grid's every point in the engine's order, or the runs recorded before. Complete
    # ones are checked and skipped, the others retried or resumed. Then the engine's new proposals.
    recorded = [entry["params"] for entry in sweep.state.runs.values() if in_sweep(spec, entry["params"])]
    queue = grid_points(spec) if spec.method == "grid" else recorded
    sweep.pending = queue  # what is known to come, for the estimate of the time left
    duplicates = 0
    while not (cap and len(sweep.attempted) >= cap):
        params = queue.pop(0) if queue else next_params(spec, sweep.done())
        if params is None:
            break
        if not sweep.run(params):
            duplicates += 1  # random search drew a parameter set it has run in this invocation already
            if duplicates > (cap or 0):
                log(f"sweep {spec.group}: the engine keeps proposing runs done already; stopping")
                break
    outcome = sweep.outcome
    log(
        f"sweep {spec.group}: {len(outcome.finished)} finished ({len(outcome.skipped)} complete already), "
        f"{len(outcome.failed)} failed{': ' + ', '.join(outcome.failed) if outcome.failed else ''}; "
        f"state: {outcome.state_path}"
    )
    return outcome


class _Invocation:
    """One `mdit sweep --backend local`: the sweep, its base config, its state file, what it has tried."""

    def __init__(self, spec: SweepSpec, runner: Runner, display: StatusDisplay) -> None:
        self.spec, self.runner, self.display, self.log = spec, runner, display, display.log
        self.files, self.fixed = spec.config_files, spec.fixed_overrides
        self.base = load_config(self.files, self.fixed)
        self.root = Path(self.base.output_dir) / spec.group
        header = {"sweep": str(spec.path), "method": spec.method, "config_files": self.files, "overrides": self.fixed}
        self.state = SweepState.load(self.root / STATE_FILE, header)
        self.outcome = LocalSweep(self.state.path)
        self.total = run_count(spec)
        self.attempted: set[str] = set()
        self.pending: list[dict[str, Any]] = []  # parameter sets known to come after the current run
        self.run_seconds: dict[bool, list[float]] = {True: [], False: []}  # finished here (not skipped), by trains

    def done(self) -> list[dict[str, Any]]:
        """The records the engine counts: finished before, or tried in this invocation, and still in the sweep
        (a record from before its YAML gained a parameter lacks that parameter, which the engine warns about)."""
        return [
            e
            for label, e in self.state.runs.items()
            if (e["status"] == "finished" or label in self.attempted) and in_sweep(self.spec, e["params"])
        ]

    def mean_run(self, trains: bool) -> float | None:
        """Seconds per run that trains (or only evaluates), of those finished in this invocation (None before one)."""
        times = self.run_seconds[trains]
        return sum(times) / len(times) if times else None

    def runs_after(self, training: str, trains: bool) -> dict[bool, int] | None:
        """How many runs after the current one (of `training`; `trains`: it trains) will train, and how many only
        evaluate; None when the count of runs is not known."""
        if not self.total:
            return None
        after = max(0, self.total - len(self.attempted))
        known, trainings, evaluations = self.pending[:after], {training}, 0
        for params in known:
            trial = plan_trial(format_args(params), self.fixed, self.base)
            folder = self.root / trial.name
            if trial.name not in trainings and not is_trained(read_metrics(folder)):
                trainings.add(trial.name)
            elif not is_complete(folder, [trial.evaluation]):  # a complete one is skipped at no cost
                evaluations += 1
        counts = {True: len(trainings) - 1, False: evaluations}
        counts[trains] += after - len(known)  # the engine's proposals to come: taken to be like the current run
        return counts

    def prepare(self) -> None:
        """The backbone and judges, built once in a subprocess of their own before the runs (which reuse them)."""
        log_path = self.root / LOG_DIR / "prepare.log"
        argv = command_for(self.spec, [])
        argv.insert(argv.index("sweep-run") + 1, "--prepare")
        self.log(f"[prepare] backbone and judges, built once if missing (log: {log_path})")
        started = time.perf_counter()
        with watching(self.display, Status("[prepare]", started), log_path):
            code = self.runner(argv, run_env(), log_path)
        if code != 0:
            self.log(_tail(log_path))
            raise SweepError(f"preparing the backbone and judges failed ({_failure(code)}); see {log_path}")
        self.log(f"[prepare] ready in {time.perf_counter() - started:.1f} s")

    def run(self, params: dict[str, Any]) -> bool:
        """Run (or skip) one parameter set and record it; False if it was tried in this invocation already."""
        args = format_args(params)
        trial = plan_trial(args, self.fixed, self.base)
        if trial.label in self.attempted:
            return False
        self.attempted.add(trial.label)
        label, modes = trial.label, [trial.evaluation]
        position = f"[{len(self.attempted)}/{self.total or '?'}] {label}"
        log_path = self.root / LOG_DIR / f"{label}.log"
        record = {
            "name": trial.name,
            "params": params,
            "args": args,
            "evaluation": trial.evaluation,
            "log": str(log_path),
            "folder": None,
        }
        try:
            cfg = load_config(self.files, trial.train_overrides)
            folder = run_dir(cfg)
            record["folder"] = str(folder)
            if is_complete(folder, modes):
                check_same_config(folder, cfg)
        except (ConfigError, FileNotFoundError) as err:
            self.state.update(label, **record, status="failed", error=str(err))
            self.outcome.failed.append(label)
            self.log(f"{position}: failed: {err}")
            return True
        if is_complete(folder, modes):
            metrics = summary(read_metrics(folder), modes)
            self.state.update(label, **record, status="finished", skipped=True, error=None, summary=metrics)
            self.outcome.finished.append(label)
            self.outcome.skipped.append(label)
            self.log(f"{position}: complete already, skipped{_headline(metrics)}")
            return True
        trains = not is_trained(read_metrics(folder))
        if not trains:
            doing = "evaluating (trained already)"
        else:
            doing = "resuming from its checkpoint" if (folder / LAST_CHECKPOINT).is_file() else "running"
        attempts = self.state.runs.get(label, {}).get("attempts", 0) + 1
        self.state.update(
            label, **record, status="running", skipped=False, started=now(), ended=None, attempts=attempts
        )
        self.log(f"{position}: {doing} (log: {log_path})")
        started = time.perf_counter()
        after = self.runs_after(trial.name, trains)
        status = Status(
            f"{position}:",
            started,
            mean_run=self.mean_run(trains),
            runs_after=None if after is None else after[trains],
            others_after=0 if after is None else after[not trains],
            others_mean=self.mean_run(not trains),
            others_kind="evaluations" if trains else "trainings",
        )
        try:
            with watching(self.display, status, log_path):
                code = self.runner(command_for(self.spec, args), run_env(), log_path)
        except KeyboardInterrupt:
            self.state.update(label, status="interrupted", ended=now(), seconds=round(time.perf_counter() - started, 1))
            raise
        seconds = round(time.perf_counter() - started, 1)
        complete = code == 0 and is_complete(folder, modes)
        metrics = summary(read_metrics(folder), modes)
        self.state.update(
            label,
            status="finished" if complete else "failed",
            returncode=code,
            seconds=seconds,
            ended=now(),
            summary=metrics,
            error=None if complete else _failure(code),
        )
        if complete:
            self.run_seconds[trains].append(seconds)
            self.outcome.finished.append(label)
            self.log(f"{position}: finished in {seconds:.1f} s{_headline(metrics)}")
        else:
            self.outcome.failed.append(label)
            self.log(f"{position}: failed ({_failure(code)}) after {seconds:.1f} s; last lines of {log_path}:")
            self.log(_tail(log_path))
        return True


def _failure(code: int) -> str:
    return f"exit code {code}" if code else "exit code 0 but results missing from metrics.json"


def _headline(metrics: Mapping[str, float]) -> str:
    parts = [
        f"{key.removeprefix('eval/')} {value:.2f}"
        for key, value in metrics.items()
        if key.startswith("eval/") and key.rsplit("/", 1)[-1] in HEADLINE and key.count("/") == 2
    ]
    return f" ({', '.join(parts)})" if parts else ""


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").replace("\r", "\n").splitlines()
    except FileNotFoundError:
        return "  (no log)"
    return "\n".join(f"  | {line}" for line in lines[-TAIL_LINES:])
