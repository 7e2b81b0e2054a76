"""Faults with a defined outcome (docs/RELIABILITY.md): a training run killed with SIGKILL, a killed sweep, a NaN
loss, a half-written output, and determinism across processes."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from train_helpers import ROOT, tiny_config, tiny_overrides

from mdit import atomic
from mdit.backbone import load_backbone
from mdit.checkpoint_io import AtomicCheckpointIO
from mdit.data.datamodule import FaceDataModule
from mdit.data.synthfaces.dataset import SynthFacesDataset
from mdit.judges import training as judge_training
from mdit.judges.training import ensure_judges
from mdit.pretraining import backbone_dir
from mdit.runs import LAST_CHECKPOINT, read_metrics, run_dir
from mdit.sweep.state import STATE_FILE
from mdit.trainer import fit

SYNTHFACES = str(ROOT / "experiments" / "synthfaces.yaml")
MDIT = [sys.executable, "-m", "mdit.cli"]


def _train_command(tmp: Path, *overrides: str) -> list[str]:
    return [*MDIT, "train", "-c", SYNTHFACES, *tiny_overrides(tmp, *overrides)]


def _wait_for(condition, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended (code {process.returncode}) before the condition held")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _trained_state(folder: Path) -> dict:
    return torch.load(folder / LAST_CHECKPOINT, map_location="cpu", weights_only=False)


def test_sigkill_mid_training_then_the_same_command_equals_an_uninterrupted_run(tmp_path):
    run = [
        "model.attention=improved_decoupled",
        "train.max_steps=160",
        "train.checkpoint_every=20",
        "train.val_every=160",
        "train.threads=1",
        "eval.cost=false",
        "train.ema_decay=0.5",
    ]
    load_backbone(backbone_dir(tiny_config(tmp_path)))  # the embedded backbone once, shared by both runs
    straight = subprocess.run(_train_command(tmp_path, *run, "name=straight"), capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr[-2000:]

    killed_cmd = _train_command(tmp_path, *run, "name=killed")
    folder = run_dir(tiny_config(tmp_path, *run, "name=killed"))
    process = subprocess.Popen(killed_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: (folder / LAST_CHECKPOINT).is_file(), timeout=120, process=process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _trained_state(folder)["global_step"] < 160 and not read_metrics(folder)  # killed mid-run, no results
    resumed = subprocess.run(killed_cmd, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    a, b = _trained_state(folder.parent / "straight"), _trained_state(folder)
    assert a["global_step"] == b["global_step"] == 160
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for name in a["state_dict"]:  # bit-identical on CPU: per-step randomness comes from (seed, step) only
        assert torch.equal(a["state_dict"][name], b["state_dict"][name]), name
        assert torch.equal(a["ema"][name], b["ema"][name]), name
    for x, y in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values()):
        assert torch.equal(x["exp_avg_sq"], y["exp_avg_sq"])
    assert read_metrics(folder)["val_loss"] == read_metrics(folder.parent / "straight")["val_loss"]


class _PoisonWeights(L.Callback):
    """Turns one trainable weight into NaN before step 3: the loss becomes NaN there."""

    def on_train_batch_start(self, trainer, module, *args) -> None:
        if trainer.global_step == 3:
            name, param = module.trainable_parameters()[0]
            with torch.no_grad():
                param.fill_(math.nan)


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, "model.attention=hard_decoupled", "train.max_steps=6", "eval.cost=false")
    with pytest.raises(FloatingPointError, match="loss is nan at step 3: stopping; the last checkpoint"):
        fit(cfg, load_backbone(backbone_dir(cfg)), callbacks=[_PoisonWeights()])
    state = _trained_state(run_dir(cfg))
    assert state["global_step"] == 2 and all(torch.isfinite(v).all() for v in state["state_dict"].values())
    assert not read_metrics(run_dir(cfg))  # no results were written for a failed run


def test_a_checkpoint_write_that_dies_leaves_the_previous_one_whole(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        io.save_checkpoint({"global_step": 2, "junk": Unpicklable()}, path)
    assert torch.load(path, weights_only=False) == {"global_step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def test_a_half_written_metrics_file_is_never_read_as_results(tmp_path):
    atomic.write_json(tmp_path / "metrics.json", {"steps": 4, "val_loss": 0.1})
    assert read_metrics(tmp_path)["steps"] == 4
    (tmp_path / "metrics.json").write_text('{"steps": 4, "val_lo')  # a writer that did not use the atomic rename
    assert read_metrics(tmp_path) == {}  # not results: the run is retrained or resumed, never taken as finished


def _sweep(tmp: Path, out: str) -> list[str]:
    return [
        *MDIT,
        "sweep",
        str(ROOT / "sweeps" / "ablation_tokenization.yaml"),
        "-c",
        SYNTHFACES,
        "--profile",
        "smoke",
        f"output_dir={tmp / out}",
        f"cache_dir={tmp / 'cache'}",
        "eval.cost=false",
    ]


def _table(tmp: Path, out: str) -> list[dict]:
    done = subprocess.run(
        [
            *MDIT,
            "table",
            str(ROOT / "sweeps" / "ablation_tokenization.yaml"),
            "--runs",
            str(tmp / out),
            "--out",
            str(tmp / f"{out}-table"),
            "--no-flux-dev",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with open(tmp / f"{out}-table" / "ablation_tokenization_runs.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.timeout(600)
def test_a_killed_sweep_rerun_gives_the_table_of_an_uninterrupted_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight = subprocess.run(_sweep(tmp_path, "straight"), capture_output=True, text=True, env=env)
    assert straight.returncode == 0, straight.stdout[-2000:] + straight.stderr[-2000:]

    state = tmp_path / "killed" / "ablation_tokenization" / STATE_FILE

    def second_run_started() -> bool:
        runs = json.loads(state.read_text())["runs"] if state.is_file() else {}
        return sum(r["status"] == "finished" for r in runs.values()) == 1 and len(runs) == 2

    process = subprocess.Popen(
        _sweep(tmp_path, "killed"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    _wait_for(second_run_started, timeout=300, process=process)
    os.killpg(process.pid, signal.SIGKILL)  # the runner and its run's subprocess
    process.wait()
    again = subprocess.run(_sweep(tmp_path, "killed"), capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "(1 complete already)" in again.stdout  # the finished run is kept, the killed one resumed

    timing = {"seconds", "train_seconds", "latency", "run"}
    expected, got = _table(tmp_path, "straight"), _table(tmp_path, "killed")
    assert len(expected) == len(got) == 2
    for a, b in zip(expected, got):
        assert {k: v for k, v in a.items() if not any(t in k for t in timing)} == {
            k: v for k, v in b.items() if not any(t in k for t in timing)
        }


def test_generate_is_identical_across_processes(tmp_path):
    cfg = tiny_config(tmp_path, "model.attention=hard_decoupled", "train.max_steps=2", "eval.cost=false")
    fit(cfg, load_backbone(backbone_dir(cfg)))
    outputs = []
    for attempt in range(2):
        out = tmp_path / f"grid{attempt}.png"
        done = subprocess.run(
            [*MDIT, "generate", str(run_dir(cfg)), "--from-dataset", "2", "--out", str(out), "--steps", "2"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_an_empty_split_is_an_error_naming_it():
    faces = SynthFacesDataset(0, 4, 32)
    with pytest.raises(ValueError, match="the val split is empty"):
        FaceDataModule(faces, torch.utils.data.Subset(faces, []), faces)


def test_a_cache_folder_whose_build_dies_never_appears(tmp_path):
    target = tmp_path / "backbone-32px-0123456789"
    with pytest.raises(RuntimeError, match="killed"), atomic.folder(target) as tmp:
        (tmp / "transformer").mkdir()
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary sibling


def test_a_judge_cache_without_its_card_is_rebuilt(tmp_path, monkeypatch):
    cfg = tiny_config(
        tmp_path,
        "judges.parser_width=8",
        "judges.parser_steps=2",
        "judges.batch_size=4",
        "judges.heldout_size=4",
        "judges.clip_width=32",
        "judges.clip_steps=2",
        "judges.clip_batch_size=4",
    )
    folder = ensure_judges(cfg)
    (folder / judge_training.PARSER_CARD).unlink()  # a build killed after the weights, before the card
    trained = []
    real = judge_training.train_parser
    monkeypatch.setattr(judge_training, "train_parser", lambda c: trained.append("parser") or real(c))
    monkeypatch.setattr(judge_training, "train_clip", lambda *a: trained.append("clip"))
    assert ensure_judges(cfg) == folder and trained == ["parser"] and (folder / judge_training.PARSER_CARD).is_file()


class _Crash(L.Callback):
    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == 3:
            raise RuntimeError("simulated crash")


def test_a_run_with_gradient_accumulation_resumed_early_equals_an_uninterrupted_one(tmp_path):
    # 16 faces in batches of 4, 2 batches per step: the 10 steps cross 5 passes over the data; the crash comes
    # before the middle, where a resumed stream that restarted from its first position would show.
    base = [
        "model.attention=hard_decoupled",
        "train.accumulate=2",
        "train.max_steps=10",
        "train.checkpoint_every=2",
        "train.val_every=10",
        "data.train_size=16",
        "eval.cost=false",
    ]
    crashed = tiny_config(tmp_path, *base, "name=crashed")
    straight = fit(tiny_config(tmp_path, *base, "name=straight"), load_backbone(backbone_dir(crashed)))
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(crashed, load_backbone(backbone_dir(crashed)), callbacks=[_Crash()])
    assert _trained_state(run_dir(crashed))["global_step"] == 2
    resumed = fit(crashed, load_backbone(backbone_dir(crashed)))
    assert _trained_state(run_dir(crashed))["global_step"] == 10
    for (name, a), (_, b) in zip(straight.trainable_parameters(), resumed.trainable_parameters()):
        assert torch.equal(a, b), name
