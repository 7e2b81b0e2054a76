"""The local sweep's status: read from a run's log (mdit.sweep.status), followed and drawn (mdit.sweep.watch).

The sweep itself showing it, with a fake runner that writes progress lines, is in test_sweep_local.py.
"""

from __future__ import annotations

import io
import sys
from functools import partial
from pathlib import Path

from mdit import atomic
from mdit.progress import clock, progress_line
from mdit.runs import METRICS_FILE, run_dir
from mdit.sweep import trial as trial_module
from mdit.sweep.status import Stage, Status, render, seconds, stage_of
from mdit.sweep.trial import run_trial, trial_config
from mdit.sweep.watch import CLEAR, LogTail, StatusDisplay, print_stream

ROOT = Path(__file__).resolve().parents[1]
BASE = str(ROOT / "experiments" / "synthfaces.yaml")


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_seconds_reads_the_progress_clock_back():
    for value in (0, 59, 62, 3599, 3725, 36000):
        assert seconds(clock(value)) == value


def test_a_progress_line_is_a_stage_with_its_own_estimate():
    line = progress_line("train", 120, 1200, 62.0, "loss 0.1234")  # ~9:18 left
    assert stage_of(line, now=5.0) == Stage("train", 120, 1200, left=558, read_at=5.0)
    assert stage_of(progress_line("eval/both", 0, 64, 3.0), now=1.0) == Stage("eval/both", 0, 64, None, 1.0)
    assert stage_of("runs/x/holistic-s0: evaluating text", now=2.0) == Stage("eval/text", read_at=2.0)
    assert stage_of("Epoch 0: 100%|####| 4/4", now=0.0) is None
    assert stage_of("[prepare] backbone and judges", now=0.0) is None


def test_render_shows_the_stage_its_estimate_less_the_time_since_and_the_phase_elapsed():
    status = Status("[2/5] holistic-s0:", started=100.0)
    assert render(status, 103.0) == "[2/5] holistic-s0: starting · 0:03 elapsed"
    assert status.read(progress_line("train", 120, 1200, 62.0), now=170.0)
    assert not status.read("some other line", now=171.0)
    assert render(status, 170.0) == "[2/5] holistic-s0: train 120/1200 (10%), ~9:18 left · 1:10 elapsed"
    assert render(status, 180.0) == "[2/5] holistic-s0: train 120/1200 (10%), ~9:08 left · 1:20 elapsed"
    assert render(status, 2000.0).startswith("[2/5] holistic-s0: train 120/1200 (10%), ~0:00 left · 31:40")
    status.read("runs/g/holistic-s0: evaluating both", now=800.0)
    assert render(status, 800.0) == "[2/5] holistic-s0: eval/both · 11:40 elapsed"
    prepare = Status("[prepare]", started=0.0)
    prepare.read(progress_line("judges/parser", 5, 20, 10.0), now=10.0)
    assert render(prepare, 10.0) == "[prepare] judges/parser 5/20 (25%), ~0:30 left · 0:10 elapsed"


def test_the_sweeps_time_left_needs_a_finished_run_and_a_run_count():
    assert Status("[2/5] a:", 0.0, runs_after=3).sweep_left(10.0) is None  # no run finished yet: no guess
    assert Status("[2/?] a:", 0.0, mean_run=100.0).sweep_left(10.0) is None  # unknown run count
    status = Status("[2/5] a:", started=0.0, mean_run=100.0, runs_after=3)
    assert status.sweep_left(40.0) == 60.0 + 300.0  # this run at the mean, then 3 more
    assert status.sweep_left(250.0) is None  # longer than the mean: this run's rest unknown, no guess
    status.read(progress_line("train", 10, 20, 100.0), now=250.0)  # this run says ~1:40 left
    # This run will take 250 + 100 = 350 s, longer than the mean of 100: the runs after it are taken at 350 each.
    assert status.sweep_left(250.0) == 100.0 + 3 * 350.0
    assert render(status, 250.0).endswith(" · 4:10 elapsed · sweep ~19:10 left")


def test_trainings_and_evaluations_are_priced_apart_and_an_unpriced_kind_is_counted():
    status = Status("[2/18] a:", started=0.0, mean_run=600.0, runs_after=1, others_after=15, others_mean=60.0)
    assert status.sweep_left(100.0) == 500.0 + 600.0 + 15 * 60.0  # this training, one more, 15 evaluations
    status = Status("[2/18] a:", started=0.0, mean_run=600.0, runs_after=1, others_after=15)
    assert render(status, 100.0).endswith(" · sweep ~18:20 left + 15 evaluations")  # none evaluated yet
    evaluating = Status("[5/18] a:", 0.0, mean_run=60.0, runs_after=13, others_kind="trainings")
    assert evaluating.sweep_left(30.0) == 30.0 + 13 * 60.0 and evaluating.unpriced() == ""


def test_the_key_of_a_status_changes_with_its_stage_and_count_not_its_clock():
    status = Status("[1/2] a:", 0.0)
    keys = [status.key()]
    status.read(progress_line("train", 1, 4, 1.0), 1.0)
    keys.append(status.key())
    status.read(progress_line("train", 1, 4, 9.0), 9.0)
    keys.append(status.key())
    status.read(progress_line("train", 2, 4, 12.0), 12.0)
    keys.append(status.key())
    assert keys[0] != keys[1] == keys[2] != keys[3]


def test_the_eval_announcement_is_the_line_run_trial_writes(tmp_path, monkeypatch):
    fixed = [f"output_dir={tmp_path}", "wandb.mode=disabled"]
    args = ["group=g", "model.attention=concat", "seed=0", "eval.mode=mask"]
    folder = run_dir(trial_config([BASE], fixed, args)[1])
    monkeypatch.setattr(trial_module, "train", lambda cfg: atomic.write_json(folder / METRICS_FILE, {"steps": 1}))
    monkeypatch.setattr(trial_module, "evaluate", lambda *args, **kwargs: None)
    lines: list[str] = []
    run_trial([BASE], fixed, args, log=lines.append)
    status = Status("[1/1] concat-s0@mask:", 0.0)
    assert [line for line in lines if status.read(line, 1.0)] == [f"{folder}: evaluating mask"]
    assert status.stage == Stage("eval/mask", read_at=1.0)


def test_the_tail_reads_complete_new_lines_from_where_the_file_ended(tmp_path):
    path = tmp_path / "run.log"
    assert LogTail(path).lines() == []  # no file yet
    path.write_text("old line\n")
    tail = LogTail(path)
    assert tail.lines() == []  # what was there before is not this phase's
    with open(path, "a") as log:
        log.write("[train] 1/4 (25%)\nhalf a li")
    assert tail.lines() == ["[train] 1/4 (25%)"]
    with open(path, "a") as log:
        log.write("ne\r\nbar 10%\rbar 20%\r")
    assert tail.lines() == ["half a line", "bar 10%", "bar 20%"]
    path.write_text("new\n")  # rewritten from scratch
    assert tail.lines() == ["new"]
    new = tmp_path / "new.log"
    tail = LogTail(new)
    new.write_text("first\n")  # a file created after the tail began: all of it
    assert tail.lines() == ["first"]


def test_plain_status_lines_come_at_a_change_at_most_every_interval(monkeypatch):
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "15")
    lines: list[str] = []
    display = StatusDisplay(lines.append)
    status = Status("[1/1] a:", started=0.0)
    display.begin(status)
    display.show(status, 20.0)
    assert lines == []  # nothing new since the phase's own line
    status.read(progress_line("train", 1, 10, 5.0), 5.0)
    display.show(status, 10.0)
    assert lines == []  # a change, but sooner than 15 s after the last line
    display.show(status, 16.0)
    status.read(progress_line("train", 1, 10, 20.0), 20.0)
    display.show(status, 40.0)  # no change since
    status.read(progress_line("train", 2, 10, 25.0), 25.0)
    display.show(status, 25.0)  # a change, too soon
    display.show(status, 31.0)
    assert lines == [
        "[1/1] a: train 1/10 (10%), ~0:34 left · 0:16 elapsed",
        "[1/1] a: train 2/10 (20%), ~1:34 left · 0:31 elapsed",
    ]


def test_on_a_terminal_the_status_is_redrawn_in_place_and_cleared_before_a_log_line():
    out = Terminal()
    display = StatusDisplay(partial(print, file=out), out)
    status = Status("[1/1] a:", started=0.0)
    display.show(status, 1.0)
    display.show(status, 1.2)  # same text: not drawn again
    status.read(progress_line("train", 1, 10, 1.0), 1.5)
    display.show(status, 2.0)
    display.log("[1/1] a: finished")
    display.show(status, 3.0)
    display.clear()
    assert out.getvalue() == (
        f"{CLEAR}[1/1] a: starting · 0:01 elapsed"
        f"{CLEAR}[1/1] a: train 1/10 (10%), ~0:08 left · 0:02 elapsed"
        f"{CLEAR}[1/1] a: finished\n"
        f"{CLEAR}[1/1] a: train 1/10 (10%), ~0:08 left · 0:03 elapsed"
        f"{CLEAR}"
    )
    assert StatusDisplay(print, io.StringIO()).terminal is None  # not a terminal: plain lines


def test_the_log_stream_of_print_is_where_the_status_is_drawn():
    out = io.StringIO()
    assert print_stream(print) is sys.stdout
    assert print_stream(partial(print, flush=True)) is sys.stdout
    assert print_stream(partial(print, file=out)) is out
    assert print_stream([].append) is None
