"""Intervals in the tables: runs with per-sample scores (eval/scores_<mode>.csv) get mean [95 % CI] cells, over the
test samples of one run or over the seeds of several, and notes that say which; runs without keep mean ± std.

The run folders are built by hand (config.yaml, metrics.json, and the scores through `write_scores`, as `mdit
eval` writes them); the expected means by hand, the expected bounds from mdit.results.stats on the same data."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from test_results_table import build, md_headers, md_row, write_sweep

from mdit.results import table as table_module
from mdit.results.collect import CONFIG_FILE, METRICS_FILE
from mdit.results.samples import BEFORE_SCORES, PER_SAMPLE
from mdit.results.stats import format_interval, mean_interval, over_seeds
from mdit.scores import FLOAT_COLUMNS, QUALITY_SCORES, scores_path, write_scores

GROUP = "ablation_attention"
N = 64  # test samples per run
GENERATION_SEED = 1000  # the `seed` column: mdit eval's sample_seed(eval.seed, i) = 1000 + i, the same in every run


def sample_values(shift: float = 0.0, data_seed: int = 0, noise: float = 0.0, noise_seed: int = 99) -> dict:
    """Per-sample mask accuracy, mIoU and CLIP-T of N samples: a fixed base (data_seed) plus `shift`, plus optional
    noise of its own; TOPIQ n/a (None) as without its weights."""
    base = np.random.default_rng(data_seed)
    extra = np.random.default_rng(noise_seed).normal(0.0, noise, N) if noise else np.zeros(N)
    mask = base.normal(80.0, 4.0, N) + shift + extra
    return {"mask_accuracy": mask, "miou": mask - 20.0, "clip_t": base.normal(25.0, 2.0, N), "topiq": None}


def scored_run(
    group_dir: Path,
    attention: str,
    seed: int,
    values: dict[str, Any],
    scores: bool = True,
    generation_seed: int = GENERATION_SEED,
    mode: str = "both",
) -> Path:
    """A run folder as `mdit train` + `mdit eval` leave it: metrics.json holds the per-sample means (rounded as
    mdit eval rounds them), eval/scores_<mode>.csv the samples (unless `scores` is False: a run from before)."""
    folder = group_dir / f"{attention}-s{seed}"
    folder.mkdir(parents=True)
    config = {"seed": seed, "group": group_dir.name, "model": {"attention": attention}, "eval": {"mode": mode}}
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(config))
    means = {key: None if v is None else round(float(np.mean(v)), 4) for key, v in values.items()}
    entry = {**means, "frechet": 1.0, "real_images": {"mask_accuracy": 97.5, "miou": 90.0}, "count": N}
    (folder / METRICS_FILE).write_text(json.dumps({"attention": attention, "eval": {mode: entry}}))
    if scores:
        rows = [
            {
                "sample": i,
                "sample_id": 5000 + i,
                "seed": generation_seed + i,
                "caption_index": i % 3,
                **{key: None if v is None else float(v[i]) for key, v in values.items()},
            }
            for i in range(N)
        ]
        write_scores(scores_path(folder, mode), rows)
    return folder


@pytest.fixture(autouse=True)
def no_flux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "flux_dev_costs", lambda: None)


def csv_rows(paths: dict[str, Path]) -> dict[str, dict[str, str]]:
    with paths["csv"].open() as handle:
        return {row["setting"]: row for row in csv.DictReader(handle)}


def notes(text: str) -> list[str]:
    """The notes under a Markdown table, from the "Cells:" one (the n/a footnotes before it left out)."""
    lines = [line[2:] for line in text.split("Notes:", 1)[1].splitlines() if line.startswith("- ")]
    return lines[next(i for i, line in enumerate(lines) if line.startswith("Cells:")) :]


def test_the_per_sample_columns_are_those_mdit_eval_writes() -> None:
    assert PER_SAMPLE == QUALITY_SCORES and set(PER_SAMPLE) < set(FLOAT_COLUMNS)


def test_one_run_per_setting_bootstraps_its_test_samples(tmp_path: Path) -> None:
    group = tmp_path / "runs" / GROUP
    holistic, improved = sample_values(), sample_values(shift=5.0, data_seed=1)
    scored_run(group, "holistic", 0, holistic)
    scored_run(group, "improved_decoupled", 0, improved)
    paths, text = build(write_sweep(tmp_path))
    assert md_headers(text)[2:6] == ["mask acc. (%)", "parser on real (%)", "mIoU (%)", "parser on real mIoU (%)"]
    cells = md_row(text, "holistic")
    for column, key in ((2, "mask_accuracy"), (4, "miou"), (6, "clip_t")):
        expected = mean_interval(holistic[key])
        assert expected.mean == pytest.approx(float(np.mean(holistic[key])))  # the mean, by hand
        assert cells[column] == format_interval(expected, 2)
        assert expected.low < expected.mean < expected.high
    assert cells[3] == "97.50" and cells[7] == "n/a¹" and cells[8] == "1"  # no per-sample scores: plain cells
    record = csv_rows(paths)["improved_decoupled"]
    expected = mean_interval(improved["mask_accuracy"])
    assert float(record["mask_accuracy_ci_low"]) == expected.low
    assert float(record["mask_accuracy_ci_high"]) == expected.high
    assert record["mask_accuracy_ci_over"] == "samples" and record["topiq_ci_over"] == ""
    said = notes(text)
    assert said[0].startswith("Cells: mean [low, high] (a 95 % interval, next notes) where the runs have per-sample")
    assert any(
        note.startswith(
            "[low, high] in mask acc. (%), mIoU (%), CLIP-T: 95 % bootstrap CI of the mean over the 64 "
            "test samples of the run (one run per setting"
        )
        for note in said
    ), said
    assert not any("over the 2 seeds" in note or note.startswith("No interval") for note in said)


def test_several_seeds_give_the_interval_over_the_seed_means(tmp_path: Path) -> None:
    group = tmp_path / "runs" / GROUP
    seeds = {seed: sample_values(shift=float(seed), data_seed=seed) for seed in (0, 1, 2)}
    for seed, values in seeds.items():
        scored_run(group, "holistic", seed, values)
    _, text = build(write_sweep(tmp_path, **{"seed": {"values": [0, 1, 2]}}))
    means = [float(np.mean(seeds[s]["mask_accuracy"])) for s in (0, 1, 2)]
    expected = over_seeds(means)
    assert expected.mean == pytest.approx(sum(means) / 3)
    assert md_row(text, "holistic")[2] == format_interval(expected, 2)
    assert any(
        note.startswith(
            "[low, high] in mask acc. (%), mIoU (%), CLIP-T: 95 % bootstrap CI over the 3 seeds (each "
            "seed's mean over its test samples"
        )
        for note in notes(text)
    )


def test_runs_without_scores_keep_mean_and_std_and_the_notes_say_why(tmp_path: Path) -> None:
    group = tmp_path / "runs" / GROUP
    scored_run(group, "holistic", 0, sample_values())
    scored_run(group, "improved_decoupled", 0, sample_values(shift=1.0), scores=False)  # evaluated before
    scored_run(group, "improved_decoupled", 1, sample_values(shift=3.0))
    _, text = build(write_sweep(tmp_path))
    plain = np.mean(sample_values(shift=1.0)["mask_accuracy"]), np.mean(sample_values(shift=3.0)["mask_accuracy"])
    mean, std = np.mean([round(p, 4) for p in plain]), np.std([round(p, 4) for p in plain], ddof=1)
    assert md_row(text, "improved_decoupled")[2] == f"{mean:.2f} ± {std:.2f}"  # one run lacks scores: no interval
    assert "[" in md_row(text, "holistic")[2]
    assert (
        "No interval for improved_decoupled-s0 (mask acc. (%), mIoU (%), CLIP-T): evaluated before per-sample scores: "
        "rerun `mdit eval`; those cells are mean ± std over seeds." in notes(text)
    )
    assert BEFORE_SCORES == "evaluated before per-sample scores: rerun `mdit eval`"


def test_a_table_of_runs_without_any_scores_is_unchanged_but_for_the_note(tmp_path: Path) -> None:
    group = tmp_path / "runs" / GROUP
    for seed in (0, 1):
        scored_run(group, "holistic", seed, sample_values(shift=2.0 * seed), scores=False)
    _, text = build(write_sweep(tmp_path))
    a, b = (round(float(np.mean(sample_values(shift=s)["mask_accuracy"])), 4) for s in (0.0, 2.0))
    assert md_row(text, "holistic")[2] == f"{(a + b) / 2:.2f} ± {abs(a - b) / np.sqrt(2):.2f}"
    said = notes(text)
    assert said[0].startswith("Cells: mean ± sample standard deviation over seeds")
    assert not any(note.startswith("[low, high]") for note in said)
    assert any(note.startswith("No interval for holistic-s0, holistic-s1 (mask acc. (%)") for note in said)
