"""The benchmarks run end to end on tiny models, and the static cache the sampling one measures matches its
formula."""

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
SCRIPT = BENCHMARKS / "bench_sampling.py"


def test_bench_sampling_on_a_tiny_model(tmp_path):
    out = tmp_path / "tiny.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--model", "tiny", "--rounds", "1", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    results = json.loads(out.read_text())
    assert "failed" not in results
    env = results["environment"]
    config, shape = env["config"], env["shape"]
    tokens = results["sampling_tokens/merged"]
    assert set(tokens["timing"]) == {"none", "holistic", "hard_decoupled", "improved_decoupled"}
    assert tokens["timing"]["none"]["ratio_vs_none"] == 1.0
    assert all(v["seconds"] > 0 for v in tokens["timing"].values())
    # blocks x 2 (K, V) x mask tokens x hidden x bytes (bf16): only the mask tokens' K/V are cached
    blocks = config["num_layers"] + config["num_single_layers"]
    hidden = config["attention_head_dim"] * config["num_attention_heads"]
    expected = blocks * 2 * shape["image_tokens"] * hidden * 2
    assert tokens["static_cache_bytes"] == {"hard_decoupled": expected, "improved_decoupled": expected}
    assert 0 < tokens["attention"]["improved_decoupled"]["share"] < 1
    assert results["sampling_concat/eager"]["timing"]["concat"]["seconds"] > 0
    assert set(results["composition"]) == {"forward", "forward_backward"}
    assert set(results["composition"]["forward"]["ms"]) == {"diffusers", "holistic_no_adapters", "holistic_adapters"}
    assert results["training_tokens"]["trainable_parameters"] > 0


def test_bench_sampling_measures_compact_mask_tokens(tmp_path):
    out = tmp_path / "tiny_s2.json"
    subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--model",
            "tiny",
            "--rounds",
            "1",
            "--out",
            str(out),
            "--stride",
            "2",
            "--readers",
            "image",
            "--sections",
            "sampling",
            "--modes",
            "merged",
        ],
        check=True,
        capture_output=True,
    )
    results = json.loads(out.read_text())
    assert "failed" not in results and results["mask_tokens"] == {"mask_token_stride": 2, "mask_readers": "image"}
    config, shape = results["environment"]["config"], results["environment"]["shape"]
    blocks = config["num_layers"] + config["num_single_layers"]
    hidden = config["attention_head_dim"] * config["num_attention_heads"]
    expected = blocks * 2 * shape["image_tokens"] // 4 * hidden * 2  # a quarter of the tokens at stride 2
    assert results["sampling_tokens/merged"]["static_cache_bytes"]["improved_decoupled"] == expected


def test_bench_training_compares_each_variant_with_diffusers_on_its_tokens(tmp_path):
    out = tmp_path / "training.json"
    tiny = [
        "backbone.hidden=48",
        "backbone.heads=3",
        "backbone.double_blocks=1",
        "backbone.single_blocks=1",
        "backbone.text_dim=32",
        "data.batch_size=2",
        "data.train_size=8",
    ]
    command = [
        sys.executable,
        str(BENCHMARKS / "bench_training.py"),
        "--steps",
        "1",
        "--warmup",
        "0",
        "--out",
        str(out),
        "--variants",
        "diffusers_lora_t_2n",
        "holistic",
        *(f"--set={o}" for o in tiny),
    ]
    subprocess.run(command, check=True, capture_output=True)
    results = json.loads(out.read_text())
    assert results["diffusers_lora_t_2n"]["samples_per_s"] > 0
    assert results["holistic"]["same_tokens_baseline"] == "diffusers_lora_t_2n"
    assert results["holistic"]["step_ratio_vs_same_tokens"] > 0
