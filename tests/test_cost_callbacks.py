"""The cost measurements of a run: FLOPs against `none` and latency, written into metrics.json."""

import json
import time
from pathlib import Path

import pytest
from train_helpers import tiny_config

from mdit.backbone import load_backbone
from mdit.callbacks.cost import COST_KEYS, generation_shape, seconds_per_image, variant_flops
from mdit.cost.flops import generation_flops
from mdit.model import MDiTTransformer
from mdit.run import backbone_dir, fit
from mdit.runs import run_dir
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
