"""Learning curves in `mdit table`: handmade runs with scored checkpoints and a logged loss history, read back as
points whose numbers are computed here from the very files written."""

from __future__ import annotations

import csv
import json
import statistics
import time
from pathlib import Path

import pytest
from PIL import Image
from test_results_table import write_run, write_sweep

from mdit.results.collect import METRICS_FILE
from mdit.results.history import local_history
from mdit.results.table import build_table
from mdit.scores import scores_path, write_scores

BATCH = 8
ACCURACY = {2: [50.0, 60.0, 70.0], 4: [80.0, 90.0, 95.0]}  # holistic's per-sample mask accuracy per kept step
LOSSES = {2: (0.30, 0.32), 4: (0.20, 0.26)}  # (val/loss, val/loss_without_mask) per step


def _score_checkpoints(folder: Path) -> None:
    metrics = json.loads((folder / METRICS_FILE).read_text())
    metrics["eval_checkpoints"] = {"both": {}}
    for step, values in ACCURACY.items():
        rows = [
            {"sample": i, "sample_id": i, "seed": i, "caption_index": 0, "mask_accuracy": v, "miou": v - 20,
             "clip_t": 20.0, "topiq": None}
            for i, v in enumerate(values)
        ]  # fmt: skip
        write_scores(scores_path(folder, "both", step), rows)
        metrics["eval_checkpoints"]["both"][str(step)] = {
            "mask_accuracy": statistics.fmean(values),
            "checkpoint_step": step,
        }
    (folder / METRICS_FILE).write_text(json.dumps(metrics))


def _log_losses(folder: Path) -> None:
    import wandb

    run = wandb.init(mode="offline", dir=str(folder), project="test", id=f"c-{folder.name}",
                     settings=wandb.Settings(console="off", silent=True))  # fmt: skip
    for step, (loss, without) in LOSSES.items():
        run.log({"val/loss": loss, "val/loss_without_mask": without, "trainer/global_step": step})
    run.finish()
    deadline = time.monotonic() + 20  # W&B's service writes the file after finish() returns
    while len(local_history(folder, ["val/loss_without_mask"])["val/loss_without_mask"]) < 2:
        assert time.monotonic() < deadline, "the offline W&B history was not written"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("curves")
    group = root / "runs" / "ablation_attention"
    holistic = write_run(group, "holistic", 0, data__batch_size=BATCH)
    write_run(group, "improved_decoupled", 0, data__batch_size=BATCH)  # no scored checkpoints: a level line
    _score_checkpoints(holistic)
    _log_losses(holistic)
    return write_sweep(root), root


def test_the_curve_file_holds_each_checkpoint_and_loss(sweep):
    sweep_file, root = sweep
    paths = build_table(sweep_file, runs_root=root / "runs", out_dir=root / "out", flux_dev=False, echo=lambda _: None)
    assert paths["curves"] == root / "out" / "ablation_attention_curves.png"
    assert Image.open(paths["curves"]).size[0] > 500
    with open(root / "out" / "ablation_attention_curves.csv", newline="") as handle:
        lines = [line for line in csv.DictReader(handle) if line["setting"] == "holistic"]
    assert [int(line["step"]) for line in lines] == [2, 4]
    for line in lines:
        step = int(line["step"])
        assert int(line["faces_seen"]) == step * BATCH
        assert float(line["mask_accuracy"]) == pytest.approx(statistics.fmean(ACCURACY[step]))
        assert float(line["ci_low"]) <= float(line["mask_accuracy"]) <= float(line["ci_high"])
        assert line["ci_over"] == "samples"
        assert (float(line["val_loss"]), float(line["val_loss_without_mask"])) == pytest.approx(LOSSES[step])
    assert "Learning curves: `ablation_attention_curves.png`" in (root / "out" / "ablation_attention.md").read_text()


def test_a_table_without_scored_checkpoints_draws_no_curves(tmp_path: Path):
    group = tmp_path / "runs" / "ablation_attention"
    write_run(group, "holistic", 0)
    paths = build_table(write_sweep(tmp_path), runs_root=tmp_path / "runs", out_dir=tmp_path / "out", flux_dev=False,
                        echo=lambda _: None)  # fmt: skip
    assert "curves" not in paths and not (tmp_path / "out" / "ablation_attention_curves.png").exists()
