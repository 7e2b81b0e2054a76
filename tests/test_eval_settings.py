"""`mdit eval` beyond the plain test split, on a tiny 4-step run: the learning curve over its kept checkpoints, the
conflict and agree sets, and sampling settings filed under their own keys with their latency."""

import json

import pytest
from train_helpers import TINY_JUDGES, tiny_config

from mdit.backbone import load_backbone
from mdit.cli import main
from mdit.data.synthfaces.conflict import ATTRIBUTES
from mdit.evaluation import evaluate, sample_seed
from mdit.pretraining import backbone_dir
from mdit.runs import read_metrics, run_dir
from mdit.scores import read_scores, scores_path
from mdit.trainer import fit

EVAL = ["eval.count=10", "eval.batch_size=5"]
SCORES = ("mask_accuracy", "miou", "clip_t")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """improved_decoupled, 4 steps, a checkpoint kept every 2; tiny judges in the run's own cache."""
    cfg = tiny_config(
        tmp_path_factory.mktemp("eval_settings"),
        *TINY_JUDGES,
        "judges.landmark_width=8",
        "judges.landmark_steps=2",
        "data.test_size=10",
        "train.max_steps=4",
        "train.checkpoint_every=2",
        "eval.cost=false",
    )
    fit(cfg, load_backbone(backbone_dir(cfg)))
    return run_dir(cfg)


def _quiet(_: str) -> None:
    pass


def test_every_kept_checkpoint_is_scored_and_the_last_equals_the_runs_evaluation(run, capsys):
    assert main(["eval", str(run), "--checkpoints", "all", *EVAL]) == 0
    assert "2 checkpoints (steps 2, 4)" in capsys.readouterr().out
    curve = read_metrics(run)["eval_checkpoints"]["both"]
    assert sorted(curve, key=int) == ["2", "4"] and [curve[s]["checkpoint_step"] for s in ("2", "4")] == [2, 4]
    assert "eval" not in read_metrics(run)  # a curve is not the run's evaluation
    last = evaluate(run, EVAL, log=_quiet)
    for key in (*SCORES, "frechet"):
        assert curve["4"][key] == last[key], key  # the same weights, samples and seeds
    assert curve["2"]["frechet"] != curve["4"]["frechet"]  # two steps more training: other images
    for step in (2, 4):
        path = scores_path(run, "both", step)
        assert path.is_file() and (path.parent / "both.png").is_file()
    assert read_metrics(run)["eval_checkpoints"]["both"] == curve  # `mdit eval` keeps the curve


def test_scoring_the_checkpoints_again_keeps_what_was_scored_with_the_same_settings(run, capsys):
    assert main(["eval", str(run), "--checkpoints", "all", *EVAL]) == 0
    first, _ = read_metrics(run)["eval_checkpoints"]["both"], capsys.readouterr()
    assert main(["eval", str(run), "--checkpoints", "all", *EVAL]) == 0
    assert capsys.readouterr().out.count("scored already") == 2
    assert read_metrics(run)["eval_checkpoints"]["both"] == first
    scores_path(run, "both", 2).unlink()  # an interrupted scoring: that step again, the other kept
    fewer = ["eval.count=5", "eval.batch_size=5"]
    assert main(["eval", str(run), "--checkpoints", "all", *EVAL]) == 0
    assert capsys.readouterr().out.count("scored already") == 1 and scores_path(run, "both", 2).is_file()
    assert main(["eval", str(run), "--checkpoints", "all", *fewer]) == 0  # other settings: scored anew
    assert "scored already" not in capsys.readouterr().out
    assert read_metrics(run)["eval_checkpoints"]["both"]["2"]["count"] == 5


def test_conflict_and_agree_sets_say_whom_each_face_follows(run):
    results = {which: evaluate(run, [*EVAL, f"eval.set={which}"], log=_quiet) for which in ("conflict", "agree")}
    metrics = read_metrics(run)["eval"]
    assert {"conflict", "agree"} <= set(metrics) and metrics["conflict"]["set"] == "conflict"
    rows = {which: read_scores(run, which) for which in results}
    assert [row["attribute"] for row in rows["conflict"]] == [*ATTRIBUTES, *ATTRIBUTES]
    assert [row["seed"] for row in rows["conflict"]] == [row["seed"] for row in rows["agree"]]  # paired noise
    assert [row["seed"] for row in rows["conflict"]] == [sample_seed(0, i) for i in range(10)]
    for which, r in results.items():
        for key in ("follows_mask", "follows_caption"):
            assert r[key] == pytest.approx(100 * sum(row[key] for row in rows[which]) / 10, abs=1e-3)
            assert 0 <= r["real_images"][key] <= 100
        assert set(r["by_attribute"]) == set(ATTRIBUTES) and all(v["count"] == 2 for v in r["by_attribute"].values())
        if which == "agree":  # mask and caption are one version: following one is following the other
            assert [row["follows_mask"] for row in rows[which]] == [row["follows_caption"] for row in rows[which]]
    conflict = rows["conflict"]
    assert all(not (row["follows_mask"] and row["follows_caption"]) for row in conflict)  # never both at once


def test_a_sampling_setting_is_its_own_evaluation_with_its_latency(run):
    plain = evaluate(run, EVAL, log=_quiet)
    strong = evaluate(run, [*EVAL, "eval.mask_strength=2"], log=_quiet)
    metrics = read_metrics(run)["eval"]
    assert metrics["both"]["key"] == "both" and metrics["both-mask_strength2"]["mask_strength"] == 2.0
    assert json.dumps(metrics["both"], sort_keys=True) == json.dumps(plain, sort_keys=True)  # not overwritten
    assert strong["frechet"] != plain["frechet"]  # the strength changes the images
    for latency in (plain["latency"], strong["latency"]):
        assert latency["seconds_per_image"] > 0 and latency["seconds_per_image_plain"] > 0
        ratio = latency["seconds_per_image"] / latency["seconds_per_image_plain"]
        assert latency["latency_ratio_vs_plain"] == pytest.approx(ratio, rel=1e-2)
    assert scores_path(run, "both-mask_strength2").is_file()
