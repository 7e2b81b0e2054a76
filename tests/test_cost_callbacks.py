"""The cost measurements of a run: FLOPs against `none` and latency, written into metrics.json."""

import json
import time
from pathlib import Path

import pytest
from train_helpers import logged_fit, tiny_config

from mdit.backbone import load_backbone
from mdit.callbacks import CostMeasurement
from mdit.cost.flops import generation_flops
from mdit.cost.measure import COST_KEYS, generation_shape, seconds_per_image, variant_flops
from mdit.data.registry import build_datamodule
from mdit.model import MDiTTransformer
from mdit.pretraining import backbone_dir
from mdit.runs import read_metrics, run_dir
from mdit.trainer import fit
from mdit.training import MDiTModule


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("cost"))
    backbone_dir(cfg)
    return cfg


def _cfg(cfg, *overrides):
    return tiny_config(Path(cfg.output_dir).parent, *overrides)


@pytest.mark.parametrize("attention", ["none", "concat", "holistic", "improved_decoupled"])
def test_variant_flops_match_counting_the_live_model(cfg, attention):
    run_cfg = _cfg(cfg, f"model.attention={attention}")
    module = MDiTModule(run_cfg, load_backbone(backbone_dir(run_cfg)))
    flops = variant_flops(module, steps=3)
    shape = generation_shape(module, 3)
    assert flops["tflops"] * 1e12 == pytest.approx(generation_flops(module.model, shape))
    baseline = MDiTTransformer(load_backbone(backbone_dir(run_cfg)).transformer, "none", None)
    assert flops["tflops_delta"] * 1e12 == pytest.approx(
        generation_flops(module.model, shape) - generation_flops(baseline, shape)
    )
    if attention == "none":
        assert flops["tflops_delta"] == flops["tflops_delta_paper"] == 0
    else:
        assert flops["tflops_delta"] > 0 and flops["tflops_delta_paper"] > 0


def test_seconds_per_image_excludes_the_warm_up():
    calls = []

    def generate():
        calls.append(1)
        if len(calls) == 1:  # a slow first call (compilation, allocation) must not count
            time.sleep(0.2)

    assert seconds_per_image(generate, batch=2, repeats=3) < 0.05
    assert len(calls) == 4


def test_train_writes_cost_metrics(cfg):
    run_cfg = _cfg(cfg, "model.attention=hard_decoupled", "name=costed")
    fit(run_cfg, load_backbone(backbone_dir(run_cfg)))
    metrics = json.loads((run_dir(run_cfg) / "metrics.json").read_text())
    assert set(COST_KEYS) == {
        "tflops",
        "tflops_delta",
        "tflops_delta_paper",
        "seconds_per_image",
        "seconds_per_image_none",
        "latency_ratio_vs_none",
    }
    for key in COST_KEYS:  # every key the sweep summaries rename to cost/<key> is written
        assert metrics[key] > 0, key


def test_the_callback_logs_the_cost_at_each_validation_when_asked(cfg, tmp_path):
    run_cfg = _cfg(cfg, "model.attention=improved_decoupled", "train.val_every=1")
    module = MDiTModule(run_cfg, load_backbone(backbone_dir(run_cfg)))
    callback = CostMeasurement(steps=2, repeats=1, at_validation=True)
    rows = logged_fit(module, build_datamodule(run_cfg), tmp_path, 2, 1, [callback], limit_val_batches=1)
    costed = [r for r in rows if r.get("cost/tflops")]
    assert [int(r["step"]) for r in costed] == [1, 2]  # one point per validation, at its step
    assert all(float(r["cost/seconds_per_image"]) > 0 for r in costed)
    assert set(callback.results) == set(COST_KEYS)  # and the end of training, for metrics.json


def test_a_run_stopped_after_its_last_checkpoint_is_measured_when_resumed(cfg, capsys, monkeypatch):
    """Killed after its final checkpoint, before its results: resumed, it trains no step (the callback never
    runs), and the cost is measured on the whole model from the checkpoint."""
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "0")
    run_cfg = _cfg(cfg, "model.attention=hard_decoupled", "name=late")
    fit(run_cfg, load_backbone(backbone_dir(run_cfg)))
    assert "[train] 4/4 (100%)" in capsys.readouterr().err  # plain progress lines: output is not a terminal
    measured = read_metrics(run_dir(run_cfg))
    (run_dir(run_cfg) / "metrics.json").unlink()
    fit(run_cfg, load_backbone(backbone_dir(run_cfg)))
    again = read_metrics(run_dir(run_cfg))
    assert again["steps"] == 4 and all(again[key] > 0 for key in COST_KEYS)
    assert again["tflops"] == measured["tflops"]
