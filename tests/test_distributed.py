"""Several ranks: the training stream is split between them without overlap, and `mdit train` under torchrun
(two CPU ranks, gloo) trains with the parameters of its command line on every rank."""

from __future__ import annotations

import subprocess
import sys

from train_helpers import ROOT, tiny_config

from mdit.backbone import load_backbone
from mdit.data.datamodule import StepSampler
from mdit.run import backbone_dir, fit, read_metrics, run_dir
from mdit.sweep.trial import prepare
from mdit.training import step_generator


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
    assert "both" in metrics["eval"] and done.stdout.count("evaluating mode both") == 1  # rank 0 only


def test_a_step_where_every_mask_is_dropped_trains_under_ddp(tmp_path):
    """DDP expects a gradient for every trainable weight; a step without any mask gives the mask path none."""
    cfg = tiny_config(tmp_path, "train.strategy=ddp", "train.devices=1", "train.accelerator=cpu",
                      "train.mask_dropout=1.0", "train.max_steps=3", "eval.cost=false")  # fmt: skip
    fit(cfg, load_backbone(backbone_dir(cfg)))
    assert read_metrics(run_dir(cfg))["steps"] == 3
