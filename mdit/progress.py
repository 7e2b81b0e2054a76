"""Progress of long work, on stderr: tqdm's bar on a terminal (as Lightning's), plain lines when it goes to a log.

A plain line reads `[train] 120/1200 (10%) · 1:02 elapsed · ~9:18 left · loss 0.1234`: one every
`MDIT_PROGRESS_SECONDS` (default 15) and one at the end, so a log shows where a run is, and the sweep runner,
which reads its runs' logs, shows it on its own terminal (`parse_progress`).
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from tqdm.auto import tqdm

EVERY_ENV = "MDIT_PROGRESS_SECONDS"
LINE = re.compile(r"^\[(?P<label>[^\]]+)\] (?P<done>\d+)/(?P<total>\d+) \(\d+%\)(?P<rest>.*)$")


def clock(seconds: float) -> str:
    """h:mm:ss or m:ss."""
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02d}:{s:02d}" if hours else f"{m}:{s:02d}"


def remaining(done: int, total: int, elapsed: float, start: int = 0) -> float | None:
    """Seconds left at the rate so far; `start` units were done before `elapsed` began (None before the first unit)."""
    return elapsed / (done - start) * (total - done) if done > start else None


def progress_line(label: str, done: int, total: int, elapsed: float, note: str = "", start: int = 0) -> str:
    """The plain progress line (see the module docstring); `start`: units done before this process began."""
    left = remaining(done, total, elapsed, start)
    parts = [f"[{label}] {done}/{total} ({100 * done // max(total, 1)}%)", f"{clock(elapsed)} elapsed"]
    parts += [f"~{clock(left)} left"] if left is not None else []
    return " · ".join(parts + ([note] if note else []))


@dataclass(frozen=True)
class ProgressLine:
    label: str
    done: int
    total: int
    text: str  # the line as written


def parse_progress(line: str) -> ProgressLine | None:
    """A plain progress line back (None for any other line)."""
    match = LINE.match(line.strip())
    if match is None:
        return None
    return ProgressLine(match["label"], int(match["done"]), int(match["total"]), line.strip())


def on_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()


def line_interval() -> float:
    """Seconds between plain lines: MDIT_PROGRESS_SECONDS, default 15."""
    try:
        return max(0.0, float(os.environ.get(EVERY_ENV, 15)))
    except ValueError:
        return 15.0


class Progress:
    """`total` units of `label`: a tqdm bar on a terminal, else a plain line every few seconds and at the end.

    with Progress(steps, "judges/parser") as progress:
        for step in range(steps):
            ...
            progress.update(note=f"loss {loss:.4f}")
    """

    def __init__(self, total: int, label: str, unit: str = "step", done: int = 0, stream: TextIO | None = None):
        self.total, self.label, self.done, self.start, self.note = total, label, done, done, ""
        self.written: int | None = None  # the count of the last plain line
        self.stream = stream or sys.stderr
        self.started = self.last_line = time.perf_counter()
        self.every = line_interval()
        bar = stream is None and on_terminal()  # a stream given is where the plain lines go
        self.bar = tqdm(total=total, initial=done, desc=label, unit=unit, dynamic_ncols=True) if bar else None

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        self.note = note or self.note
        if self.bar is not None:
            self.bar.update(n)
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            return
        now = time.perf_counter()
        if now - self.last_line >= self.every or self.done >= self.total:
            self.last_line = now
            self.write_line()

    def write_line(self) -> None:
        elapsed = time.perf_counter() - self.started
        line = progress_line(self.label, self.done, self.total, elapsed, self.note, self.start)
        print(line, file=self.stream, flush=True)
        self.written = self.done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.done < self.total and self.done != self.written:
            self.write_line()  # where it stopped, unless the last line says so already

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
