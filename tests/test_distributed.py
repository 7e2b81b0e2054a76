"""Several ranks: the training stream is split between them without overlap, `mdit train` under torchrun (two CPU
ranks, gloo) trains with the parameters of its command line on every rank, and FSDP trains what DDP trains."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_helpers import ROOT, tiny_config, tiny_overrides

from mdit.backbone import load_backbone
from mdit.data.datamodule import StepSampler
from mdit.pretraining import backbone_dir
from mdit.runs import LAST_CHECKPOINT, read_metrics, run_dir
from mdit.sweep.trial import prepare
from mdit.trainer import fit
from mdit.training import sample_dropout, step_generator


def test_ranks_split_each_step_of_the_one_stream():
    whole = list(StepSampler(10, seed=3, start=8, stop=32))
    ranks = [list(StepSampler(10, seed=3, start=8, stop=32, rank=r, world=2)) for r in range(2)]
    assert sorted(ranks[0] + ranks[1]) == sorted(whole)  # every position once, on one rank
    assert ranks[0] == whole[0::2] and ranks[1] == whole[1::2]


def test_every_micro_batch_draws_its_own_noise():
    one_device = step_generator(0, 5).initial_seed()
    assert one_device == step_generator(0, 5, shard=0).initial_seed()  # one device: as before ranks existed
    shards = {step_generator(0, 5, shard=s).initial_seed() for s in range(4)}
    assert len(shards) == 4


def test_a_sweep_run_under_torchrun_trains_on_two_ranks_and_evaluates_once(tmp_path):
    files = [str(ROOT / "experiments" / "synthfaces.yaml"), str(ROOT / "experiments" / "profiles" / "smoke.yaml")]
    fixed = [
        f"output_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
        "wandb.mode=disabled",
        "eval.cost=false",
        "train.strategy=ddp",
        "train.devices=2",
        "train.accelerator=cpu",
        "train.threads=1",
    ]
    prepare(files, fixed, log=lambda line: None)  # the backbone and judges once, before the ranks start
    params = ["group=ablation_attention", "model.attention=holistic", "seed=0"]  # what an agent passes
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "mdit.cli",
        "sweep-run",
        *[f"-c={f}" for f in files],
        *[f"--set={kv}" for kv in fixed],
        *params,
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path / "runs" / "ablation_attention" / "holistic-s0"
    metrics = read_metrics(folder)
    assert metrics["world_size"] == 2 and metrics["steps"] == 4 and metrics["attention"] == "holistic"
    assert "both" in metrics["eval"] and done.stdout.count("evaluating both") == 1  # rank 0 only


def test_a_step_where_every_mask_is_dropped_trains_under_ddp(tmp_path):
    """DDP expects a gradient for every trainable weight; a step without any mask gives the mask path none."""
    cfg = tiny_config(
        tmp_path,
        "train.strategy=ddp",
        "train.devices=1",
        "train.accelerator=cpu",
        "train.mask_dropout=1.0",
        "train.max_steps=3",
        "eval.cost=false",
    )
    fit(cfg, load_backbone(backbone_dir(cfg)))
    assert read_metrics(run_dir(cfg))["steps"] == 3


def _torchrun_train(tmp: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "mdit.cli",
        "train",
        "-c",
        str(ROOT / "experiments" / "synthfaces.yaml"),
        *tiny_overrides(tmp, *overrides),
    ]


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(c) for c in children.read_text().split()] if children.exists() else []
    return [d for c in found for d in (c, *_descendants(c))]


def _kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process and every process under it, and wait until all are gone."""
    pids = [process.pid, *_descendants(process.pid)]
    assert len(pids) >= 3, pids  # torchrun and its two ranks
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in pids[1:]):
        assert time.monotonic() < deadline, "a killed rank is still running"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (its state, in /proc/PID/stat, follows the name's closing paren)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_fsdp_trains_what_ddp_trains_and_a_killed_fsdp_run_resumes(tmp_path):
    """Two CPU ranks: the FSDP-sharded transformer ends with the weights, EMA and validation loss of DDP, through
    steps where only one rank keeps a mask (the ranks run each other's forwards) and a SIGKILL mid-run; its cost
    is measured with the ranks generating in lockstep."""
    run = [
        "model.attention=improved_decoupled",
        "train.mask_dropout=0.5",
        "train.ema_decay=0.5",
        "train.max_steps=60",
        "train.checkpoint_every=4",
        "train.val_every=60",
        "train.accelerator=cpu",
        "train.devices=2",
        "train.threads=1",
    ]
    cfg = tiny_config(tmp_path, *run)
    dropped_all = [
        [
            bool(
                sample_dropout(
                    cfg.data.batch_size, cfg.train.text_dropout, 0.5, step_generator(cfg.seed, step, shard=rank)
                )[1].all()
            )
            for rank in range(2)
        ]
        for step in range(60)
    ]
    assert any(a != b for a, b in dropped_all)  # steps where one rank has no mask to train on
    load_backbone(backbone_dir(cfg))  # once, before the ranks start
    ddp = subprocess.run(
        _torchrun_train(tmp_path, *run, "train.strategy=ddp", "name=ddp"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]

    fsdp = _torchrun_train(tmp_path, *run, "train.strategy=fsdp", "name=fsdp")
    folder = run_dir(tiny_config(tmp_path, *run, "train.strategy=fsdp", "name=fsdp"))
    process = subprocess.Popen(fsdp, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (folder / LAST_CHECKPOINT).is_file():
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.05)
    _kill_tree(process)  # torchrun and both ranks (torchrun starts each rank in a session of its own)
    step = torch.load(folder / LAST_CHECKPOINT, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < step < 60 and not read_metrics(folder)
    resumed = subprocess.run(fsdp, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a, b = (
        torch.load(
            run_dir(tiny_config(tmp_path, *run, f"name={n}")) / LAST_CHECKPOINT, map_location="cpu", weights_only=False
        )
        for n in ("ddp", "fsdp")
    )
    assert a["global_step"] == b["global_step"] == 60 and a["state_dict"].keys() == b["state_dict"].keys()
    for name in a["state_dict"]:  # whole tensors in the file, as DDP writes them
        torch.testing.assert_close(b["state_dict"][name], a["state_dict"][name], rtol=1e-5, atol=1e-7, msg=name)
        torch.testing.assert_close(b["ema"][name], a["ema"][name], rtol=1e-5, atol=1e-7, msg=name)
    assert read_metrics(folder)["val_loss"] == pytest.approx(read_metrics(folder.parent / "ddp")["val_loss"], rel=1e-5)
    fsdp_cost, ddp_cost = read_metrics(folder), read_metrics(folder.parent / "ddp")  # measured by every rank at once
    assert fsdp_cost["tflops"] == ddp_cost["tflops"] and fsdp_cost["seconds_per_image"] > 0
