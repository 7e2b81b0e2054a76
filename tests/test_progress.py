"""mdit/progress.py: the plain lines (when, what they say, read back) and the long commands that write them."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from flux_folder import write_tiny_flux_folder
from train_helpers import ROOT, TINY_JUDGES, tiny_config

from mdit import progress as progress_module
from mdit.config import load_config
from mdit.data.registry import embeddings_dir
from mdit.embeddings.build import cache_embeddings
from mdit.embeddings.store import MANIFEST, latents_path
from mdit.judges.training import ensure_judges
from mdit.progress import Progress, ProgressLine, clock, line_interval, parse_progress, progress_line, remaining


class FakeClock:
    """`time` for mdit.progress whose perf_counter reads `now` (seconds), moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def fake_time(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(progress_module, "time", SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def _reported(out: str) -> list[tuple[str, int, int]]:
    """(label, done, total) of each progress line in `out`."""
    return [(line.label, line.done, line.total) for line in map(parse_progress, out.splitlines()) if line]


def test_clock_is_m_ss_or_h_mm_ss():
    assert clock(0) == "0:00"
    assert clock(62) == "1:02"
    assert clock(59.6) == "1:00"
    assert clock(3599) == "59:59"
    assert clock(3725) == "1:02:05"
    assert clock(36000) == "10:00:00"


def test_remaining_is_the_rate_so_far_times_what_is_left():
    assert remaining(0, 100, 5.0) is None  # no rate before the first unit
    assert remaining(25, 100, 10.0) == 30.0
    assert remaining(100, 100, 10.0) == 0.0
    # Resumed at 50: the 10 units of this process took 10 s, so the 40 left take 40 s.
    assert remaining(60, 100, 10.0, start=50) == 40.0
    assert remaining(50, 100, 10.0, start=50) is None


def test_progress_line_reads_back():
    line = progress_line("judges/parser", 120, 1500, 62.0, "loss 0.1234")
    assert line == "[judges/parser] 120/1500 (8%) · 1:02 elapsed · ~11:53 left · loss 0.1234"
    assert parse_progress(line) == ProgressLine("judges/parser", 120, 1500, line)
    assert parse_progress(line + "\n") == ProgressLine("judges/parser", 120, 1500, line)
    first = progress_line("eval/both", 0, 256, 3.0)
    assert first == "[eval/both] 0/256 (0%) · 0:03 elapsed"
    assert parse_progress(first) == ProgressLine("eval/both", 0, 256, first)
    assert parse_progress("Epoch 0: 100%|██████████| 4/4 [00:01<00:00]") is None
    assert parse_progress("[judges/parser] twelve steps") is None


def test_line_interval_reads_the_environment(monkeypatch):
    monkeypatch.delenv("MDIT_PROGRESS_SECONDS", raising=False)
    assert line_interval() == 15.0
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "2.5")
    assert line_interval() == 2.5
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "-1")
    assert line_interval() == 0.0
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "soon")
    assert line_interval() == 15.0


def test_every_update_writes_a_line_at_interval_zero(monkeypatch, fake_time):
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "0")
    out = io.StringIO()
    with Progress(3, "judges/clip", stream=out) as progress:
        for loss in ("loss 2.0000", "", "loss 1.5000"):
            fake_time.now += 10
            progress.update(note=loss)
    assert _lines(out) == [
        "[judges/clip] 1/3 (33%) · 0:10 elapsed · ~0:20 left · loss 2.0000",
        "[judges/clip] 2/3 (66%) · 0:20 elapsed · ~0:10 left · loss 2.0000",  # the last note stays
        "[judges/clip] 3/3 (100%) · 0:30 elapsed · ~0:00 left · loss 1.5000",
    ]


def test_a_line_every_interval_and_one_at_the_end(monkeypatch, fake_time):
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "15")
    out = io.StringIO()
    with Progress(10, "render/train", unit="face", stream=out) as progress:
        for now in (5, 16, 20, 24, 31, 32, 40, 44, 45, 50):
            fake_time.now = now
            progress.update()
    assert _lines(out) == [
        "[render/train] 2/10 (20%) · 0:16 elapsed · ~1:04 left",
        "[render/train] 5/10 (50%) · 0:31 elapsed · ~0:31 left",
        "[render/train] 10/10 (100%) · 0:50 elapsed · ~0:00 left",
    ]


def test_a_stop_before_the_end_writes_where_it_stopped(monkeypatch, fake_time):
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "3600")
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt), Progress(8, "eval/mask", unit="image", stream=out) as progress:
        fake_time.now = 12
        progress.update(2)
        raise KeyboardInterrupt
    assert _lines(out) == ["[eval/mask] 2/8 (25%) · 0:12 elapsed · ~0:36 left"]


def test_a_resumed_count_estimates_from_its_own_rate(monkeypatch, fake_time):
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "0")
    out = io.StringIO()
    with Progress(100, "cache-embeddings/train", unit="face", done=50, stream=out) as progress:
        fake_time.now = 10
        progress.update()
    assert _lines(out) == ["[cache-embeddings/train] 51/100 (51%) · 0:10 elapsed · ~8:10 left"]
    done = io.StringIO()
    with Progress(4, "cache-embeddings/text", done=4, stream=done):
        pass
    assert done.getvalue() == ""  # nothing left to do: nothing to say


def test_a_given_stream_gets_plain_lines_even_with_a_terminal(monkeypatch, fake_time):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "0")
    monkeypatch.setattr("sys.stderr", Terminal())
    out = io.StringIO()
    with Progress(1, "judges/parser", stream=out) as progress:
        assert progress.bar is None
        progress.update()
    assert _lines(out) == ["[judges/parser] 1/1 (100%) · 0:00 elapsed · ~0:00 left"]
    with Progress(1, "judges/parser") as progress:  # on the terminal: tqdm's bar, no plain line
        assert progress.bar is not None
        progress.update()


def test_judge_training_reports_its_steps(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "0")
    cfg = tiny_config(tmp_path, *TINY_JUDGES)
    ensure_judges(cfg)
    out = capsys.readouterr().err
    assert _reported(out) == [
        ("judges/parser", 1, 3),
        ("judges/parser", 2, 3),
        ("judges/parser", 3, 3),
        ("judges/clip", 1, 2),
        ("judges/clip", 2, 2),
    ]
    assert all(" · loss " in line for line in out.splitlines() if parse_progress(line))
    ensure_judges(cfg)  # cached: nothing trains, nothing reported
    assert _reported(capsys.readouterr().err) == []


def test_cache_embeddings_reports_captions_text_and_faces(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "0")
    flux = write_tiny_flux_folder(tmp_path / "FLUX.1-dev")
    tiny = ["data.train_size=6", "data.val_size=2", "data.test_size=2", "data.resolution=32"]
    paths = [f"model.pretrained={flux}", f"cache_dir={tmp_path / 'cache'}", f"output_dir={tmp_path / 'runs'}"]
    synthfaces = ["data.name=synthfaces", "data.root=null", "data.captions=null", "model.text_max_length=16"]
    cfg = load_config(ROOT / "experiments" / "mm_celeba_flux.yaml", [*paths, *synthfaces, *tiny, "wandb.mode=disabled"])
    cache_embeddings(cfg, batch_size=4)
    reported = _reported(capsys.readouterr().err)
    captions = [("cache-embeddings/captions", done, 10) for done in range(1, 11)]  # 6 + 2 + 2 faces
    faces = [("cache-embeddings/train", 4, 6), ("cache-embeddings/train", 6, 6)]  # a line a batch of 4
    assert reported[:10] == captions and reported[-2:] == faces
    text = reported[10:-2]
    assert {label for label, _, _ in text} == {"cache-embeddings/text"}
    assert [done for _, done, _ in text[:-1]] == [4 * n for n in range(1, len(text))]  # a line a batch of 4
    assert text[-1][1] == text[-1][2] > 4 * (len(text) - 1)
    # Resumed: the cached captions and faces count as done; one face left to encode.
    latents_path(embeddings_dir(cfg), 3).unlink()
    (embeddings_dir(cfg) / MANIFEST).unlink()
    cache_embeddings(cfg, batch_size=4)
    assert _reported(capsys.readouterr().err) == [*captions, ("cache-embeddings/train", 6, 6)]
