"""The local sweep's status: where the prepare step or a run is, read from the progress lines of its log.

Pure (lines and times in, text out) so it is tested without a subprocess; mdit.sweep.watch follows the log and
draws the text. A status reads `[2/5] holistic-s0: train 120/1200 (10%), ~9:18 left · 2:03 elapsed · sweep
~41:00 left`: the phase, its stage (the label of the latest progress line: backbone, judges/parser, train,
eval/<evaluation key>) with that line's own estimate, the phase's elapsed time, and the sweep's time left once runs of
this invocation have finished: trainings and evaluations of a trained run are priced apart, each at the mean of its
kind; a kind with none finished yet is counted, not priced (`sweep ~25:00 left + 15 evaluations`), rather than
guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mdit.progress import clock, parse_progress

LEFT = re.compile(r" · ~(?P<clock>\d+(?::\d\d)+) left")  # mdit.progress.progress_line's estimate
EVALUATING = re.compile(r": evaluating (?P<key>\S+)$")  # mdit.sweep.trial.run_trial, before eval's lines


def seconds(text: str) -> int:
    """The seconds of a clock text m:ss or h:mm:ss (mdit.progress.clock back)."""
    total = 0
    for part in text.split(":"):
        total = total * 60 + int(part)
    return total


@dataclass(frozen=True)
class Stage:
    """The latest progress of a phase: a progress line's label and count, or an announced stage without one."""

    label: str
    done: int | None = None
    total: int | None = None
    left: float | None = None  # the line's own estimate of the seconds left, as of `read_at`
    read_at: float = 0.0


def stage_of(line: str, now: float) -> Stage | None:
    """The stage a log line reports (None for any other line)."""
    progress = parse_progress(line)
    if progress is not None:
        left = LEFT.search(progress.text)
        estimate = seconds(left["clock"]) if left else None
        return Stage(progress.label, progress.done, progress.total, estimate, now)
    evaluating = EVALUATING.search(line.strip())
    return Stage(f"eval/{evaluating['key']}", read_at=now) if evaluating else None


@dataclass
class Status:
    """One phase since `started` (`phase`: the words before its stage, `[prepare]` or `[i/N] label:`), its
    latest stage, and what the sweep has left."""

    phase: str
    started: float
    stage: Stage | None = None
    mean_run: float | None = None  # seconds per run of this one's kind (training or evaluation), finished here
    runs_after: int | None = None  # runs of this kind still to start after this phase
    others_after: int = 0  # runs of the other kind still to start
    others_mean: float | None = None  # their seconds per run, of those finished in this invocation
    others_kind: str = "evaluations"  # what they are, for the text when they cannot be priced yet

    def read(self, line: str, now: float) -> bool:
        """Take one line of the phase's log; True when it reports a stage."""
        stage = stage_of(line, now)
        if stage is not None:
            self.stage = stage
        return stage is not None

    def key(self) -> tuple[str, str | None, int | None]:
        """What a change of status is (a new phase, stage or count), for plain lines: not the clock."""
        return self.phase, self.stage and self.stage.label, self.stage and self.stage.done

    def stage_left(self, now: float) -> float | None:
        """The latest line's estimate, less the time since it was read."""
        if self.stage is None or self.stage.left is None:
            return None
        return max(0.0, self.stage.left - (now - self.stage.read_at))

    def sweep_left(self, now: float) -> float | None:
        """This run's rest (the mean run less its elapsed time, or its stage's estimate when longer), the runs of its
        kind after it at the mean, or at this run's projected length when longer (a short first run, e.g. `none`
        with nothing to train, would make the mean far too small), and the other kind's at their mean. None
        without a finished run of this kind, with an unknown run count, or with this run past the mean and no
        estimate of its own (its rest unknown)."""
        if self.mean_run is None or self.runs_after is None:
            return None
        elapsed, left = now - self.started, self.stage_left(now) or 0.0
        this_run = max(self.mean_run - elapsed, left)
        per_run = max(self.mean_run, elapsed + left)
        others = self.others_after * self.others_mean if self.others_mean is not None else 0.0
        return this_run + self.runs_after * per_run + others if this_run > 0 else None

    def unpriced(self) -> str:
        """The runs after this one that the estimate leaves out (their kind has none finished yet), as text."""
        return f" + {self.others_after} {self.others_kind}" if self.others_after and self.others_mean is None else ""


def render(status: Status, now: float) -> str:
    """The status as one line (see the module docstring)."""
    stage = status.stage
    if stage is None:
        what = "starting"
    elif stage.done is None or stage.total is None:
        what = stage.label
    else:
        what = f"{stage.label} {stage.done}/{stage.total} ({100 * stage.done // max(stage.total, 1)}%)"
        left = status.stage_left(now)
        what += f", ~{clock(left)} left" if left is not None else ""
    parts = [f"{status.phase} {what}", f"{clock(now - status.started)} elapsed"]
    sweep_left = status.sweep_left(now)
    parts += [f"sweep ~{clock(sweep_left)} left{status.unpriced()}"] if sweep_left is not None else []
    return " · ".join(parts)
