"""The local sweep's status drawn while a phase runs: its log followed from its current end by a small thread.

On a terminal one status line is redrawn in place and cleared before each normal log line; elsewhere the status
is a plain log line when it changes, at most every MDIT_PROGRESS_SECONDS (mdit.progress.line_interval). Any
runner works, a subprocess or a test's fake: the thread reads the log file, not the runner's pipes.
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TextIO

from mdit.progress import line_interval, on_terminal
from mdit.sweep.status import Status, render

POLL_SECONDS = 0.5
CLEAR = "\r\033[K"  # back to the line's start, erase it
NEWLINES = re.compile(rb"\r\n|\r|\n")  # tqdm-style redraws (\r) count as lines too


def print_stream(log: Callable[[str], None]) -> TextIO | None:
    """The stream a print-based `log` (print, or a functools.partial of it) writes to; None for anything else."""
    func, keywords = (log.func, log.keywords) if isinstance(log, partial) else (log, {})
    return (keywords.get("file") or sys.stdout) if func is print else None


class LogTail:
    """The complete lines a file gets from where it ended when the tail began (from its start if it is new)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.is_file() else 0
        self.partial = b""

    def lines(self) -> list[str]:
        """The lines completed since the last call (a part line waits for its end; blank lines are dropped)."""
        try:
            with open(self.path, "rb") as log:
                log.seek(0, 2)
                if log.tell() < self.offset:  # rewritten from scratch: read it again
                    self.offset, self.partial = 0, b""
                log.seek(self.offset)
                data = log.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *complete, self.partial = NEWLINES.split(self.partial + data)
        return [line.decode(errors="replace") for line in complete if line.strip()]


class StatusDisplay:
    """Normal log lines through `log`; the status redrawn on `terminal` (a TTY), else as plain `log` lines."""

    def __init__(self, log: Callable[[str], None], terminal: TextIO | None = None) -> None:
        self.plain_log, self.terminal = log, terminal if terminal is not None and on_terminal(terminal) else None
        self.every = line_interval()
        self.lock = threading.Lock()
        self.shown = ""  # the status on the terminal's line now
        self.last_key: tuple | None = None
        self.last_line = 0.0

    def log(self, text: str) -> None:
        """A normal log line, on a line of its own (the status is redrawn at the next poll)."""
        with self.lock:
            self._clear()
            self.plain_log(text)

    def begin(self, status: Status) -> None:
        """A phase starts (just announced by a normal line): its first plain status comes at a change, not before
        MDIT_PROGRESS_SECONDS."""
        with self.lock:
            self.last_key, self.last_line = status.key(), status.started

    def show(self, status: Status, now: float) -> None:
        """Redraw the status if its text changed (terminal), or log it if it changed and the interval passed."""
        with self.lock:
            text = render(status, now)
            if self.terminal is not None:
                width = shutil.get_terminal_size().columns - 1  # a wrapped line would not be redrawn in place
                if text[:width] != self.shown:
                    self.shown = text[:width]
                    self.terminal.write(CLEAR + self.shown)
                    self.terminal.flush()
            elif status.key() != self.last_key and now - self.last_line >= self.every:
                self.last_key, self.last_line = status.key(), now
                self.plain_log(text)

    def clear(self) -> None:
        """Erase the drawn status (the phase is over; its outcome is logged next)."""
        with self.lock:
            self._clear()

    def _clear(self) -> None:
        if self.terminal is not None and self.shown:
            self.terminal.write(CLEAR)
            self.terminal.flush()
            self.shown = ""


@contextmanager
def watching(display: StatusDisplay, status: Status, log_path: Path) -> Iterator[None]:
    """While the block runs (the phase's runner), follow `log_path` into `status` and show it every poll."""
    tail, stop = LogTail(log_path), threading.Event()

    def follow() -> None:
        while not stop.wait(POLL_SECONDS):
            now = time.perf_counter()
            for line in tail.lines():
                status.read(line, now)
            display.show(status, now)

    display.begin(status)
    thread = threading.Thread(target=follow, name="sweep-status", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        display.clear()
