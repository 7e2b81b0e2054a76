"""`mdit eval` end to end on a tiny trained run with tiny embedded judges: modes, metrics.json, determinism, errors."""

import json
import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from train_helpers import tiny_config

from mdit.backbone import load_backbone
from mdit.cli import main
from mdit.config import ConfigError, load_config
from mdit.data.synthfaces import render
from mdit.evaluation import eval_split, evaluate, sample_seed
from mdit.evaluation.judges import load_topiq_judge
from mdit.evaluation.results import merge_into_metrics, update_wandb_summary
from mdit.judges.training import ensure_judges, judges_dir
from mdit.judges.weights import MissingWeightsError
from mdit.metrics.topiq import TOPIQ_WEIGHTS_FILE
from mdit.pipeline import CONDITIONS
from mdit.pretraining import backbone_dir
from mdit.run import load_run
from mdit.runs import run_dir
from mdit.scores import COLUMNS, read_scores, scores_path, scores_table
from mdit.trainer import fit
from mdit.training import MDiTModule

JUDGES = [
    "judges.parser_width=8",
    "judges.parser_steps=2",
    "judges.batch_size=4",
    "judges.heldout_size=4",
    "judges.clip_width=32",
    "judges.clip_steps=2",
    "judges.clip_batch_size=4",
    "judges.landmark_width=8",
    "judges.landmark_steps=2",
]
TINY = [*JUDGES, "eval.count=4", "eval.batch_size=4", "eval.steps=2"]
NUMBERS = ("mask_accuracy", "miou", "clip_t", "topiq", "frechet")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-step hard_decoupled run (no EMA, W&B off) whose config keeps the judges' cache in a private folder."""
    cfg = tiny_config(
        tmp_path_factory.mktemp("eval"), "model.attention=hard_decoupled", "train.max_steps=2", "eval.cost=false"
    )
    fit(cfg, load_backbone(backbone_dir(cfg)))
    return run_dir(cfg)


def _numbers(results: dict) -> dict:
    return {**{k: results[k] for k in NUMBERS}, **{f"real/{k}": v for k, v in results["real_images"].items()}}


def test_each_mode_end_to_end(run, capsys):
    training = json.loads((run / "metrics.json").read_text())
    for mode in CONDITIONS:
        assert main(["eval", str(run), "--mode", mode, *TINY]) == 0
        out = capsys.readouterr().out
        assert "mask accuracy" in out and "mIoU" in out and "Fréchet distance" in out and f"mode {mode}" in out
        assert f"TOPIQ: n/a: judges.topiq_home is not set: put {TOPIQ_WEIGHTS_FILE}" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert {k: v for k, v in metrics.items() if k != "eval"} == training  # the training keys stay as they were
    assert set(metrics["eval"]) == set(CONDITIONS)
    test_set = eval_split(load_config(run / "config.yaml"), 4)
    for mode, results in metrics["eval"].items():
        for key in ("mask_accuracy", "miou", "clip_t", "frechet"):
            assert math.isfinite(results[key]), (mode, key)
        assert 0 <= results["miou"] <= 100 and 0 <= results["real_images"]["miou"] <= 100
        _check_scores(run, mode, results, test_set)
        assert results["topiq"] is None and results["real_images"]["topiq"] is None
        assert 0 <= results["mask_accuracy"] <= 100 and math.isfinite(results["real_images"]["mask_accuracy"])
        assert results["judges"]["topiq"]["kind"] == "n/a" and set(results["judges"]["topiq"]) == {"kind", "reason"}
        assert results["judges"]["topiq"]["reason"].startswith(
            f"judges.topiq_home is not set: put {TOPIQ_WEIGHTS_FILE}"
        )
        parser = results["judges"]["parser"]
        assert parser["kind"] == "embedded" and 0 <= parser["heldout_pixel_accuracy"] <= 100
        judges = results["judges"]
        assert (judges["clip"]["kind"], judges["frechet"]["kind"]) == ("embedded", "embedded_parser")
        settings = (results["count"], results["sampling_steps"], results["seed"], results["checkpoint_step"])
        assert settings == (4, 2, 0, 2)
        assert (run / "eval" / f"{mode}.png").is_file() and results["grid"].endswith(f"{mode}.png")
    # Each mode generates other images (the tiny judges score mask accuracy too coarsely; their features differ).
    frechet = {mode: metrics["eval"][mode]["frechet"] for mode in CONDITIONS}
    assert len(set(frechet.values())) == len(CONDITIONS), frechet
    assert not (run / "wandb").exists()  # the run has W&B disabled: eval leaves it so


def _check_scores(run: Path, mode: str, results: dict, test_set) -> None:
    """eval/scores_<mode>.csv: one row per sample, who it is, and scores whose means are metrics.json's numbers."""
    assert results["scores"] == str(scores_path(run, mode)) == str(run / "eval" / f"scores_{mode}.csv")
    rows = read_scores(run, mode)
    assert [row["sample"] for row in rows] == [0, 1, 2, 3]
    assert [row["seed"] for row in rows] == [sample_seed(0, i) for i in range(4)]
    assert [row["sample_id"] for row in rows] == [test_set[i]["id"] for i in range(4)]
    assert [row["caption_index"] for row in rows] == [test_set[i]["id"] % 10 for i in range(4)]  # SynthFaces' fixed
    for key in ("mask_accuracy", "miou", "clip_t"):
        assert sum(row[key] for row in rows) / 4 == pytest.approx(results[key], abs=1e-4), (mode, key)
    assert all(row["topiq"] is None for row in rows)  # n/a: empty, not 0


def test_the_conditions_judges_score_generated_and_real_images(run, monkeypatch):
    """SynthFaces' test faces hold sketches and keypoints: edge F1, chamfer and NME of every sample, generated and
    real (the judges' own scores, the references), with each sample's row; the conflict pairs hold neither: n/a."""
    from mdit.evaluation import scoring

    rows: list[dict] = []
    monkeypatch.setattr(scoring, "write_scores", lambda path, written: rows.extend(written))
    results = evaluate(run, TINY, log=lambda _: None)
    judges = results["judges"]
    assert judges["sketch"] == {"kind": "canny", "tolerance_px": 1}
    assert judges["landmarks"]["kind"] == "embedded" and math.isfinite(judges["landmarks"]["heldout_nme"])
    for numbers in (results, results["real_images"]):
        assert 0 <= numbers["edge_f1"] <= 100 and 0 <= numbers["chamfer"] and 0 < numbers["nme"]
        assert numbers["nme_skipped"] == 0
    assert len(rows) == 4
    for key in ("edge_f1", "chamfer", "nme"):
        assert sum(row[key] for row in rows) / 4 == pytest.approx(results[key], abs=1e-4), key


class WithoutConditions(torch.utils.data.Dataset):
    """A data set's samples without their sketches and keypoints, as a real data set without them serves them."""

    def __init__(self, samples) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        return {k: v for k, v in self.samples[index].items() if k not in ("sketch", "keypoints")}


def test_a_data_set_without_sketches_or_keypoints_has_them_na_with_the_reason(run, monkeypatch):
    from mdit.evaluation import judges, scoring

    rows: list[dict] = []
    monkeypatch.setattr(scoring, "write_scores", lambda path, written: rows.extend(written))
    for module in (judges, scoring):
        monkeypatch.setattr(module, "eval_split", lambda cfg, count: WithoutConditions(eval_split(cfg, count)))
    results = evaluate(run, TINY, log=lambda _: None)
    for numbers in (results, results["real_images"]):
        assert numbers["edge_f1"] is None and numbers["chamfer"] is None and numbers["nme"] is None
    assert results["judges"]["sketch"] == {"kind": "n/a", "reason": "data set has no sketches"}
    assert results["judges"]["landmarks"] == {"kind": "n/a", "reason": "data set has no keypoints"}
    assert len(rows) == 4 and all(row["edge_f1"] is None and row["nme"] is None for row in rows)
    assert math.isfinite(results["mask_accuracy"])  # the rest is scored as ever


def test_two_evals_agree_and_batch_size_does_not_matter(run):
    first = _numbers(evaluate(run, TINY, log=lambda _: None))
    scores = read_scores(run, "both")
    assert _numbers(evaluate(run, TINY, log=lambda _: None)) == first
    assert read_scores(run, "both") == scores
    rebatched = _numbers(evaluate(run, [*TINY, "eval.batch_size=3"], log=lambda _: None))
    assert rebatched == pytest.approx(first, abs=1e-3)
    for again, once in zip(read_scores(run, "both"), scores):  # each sample scores the same in any batch
        assert again == pytest.approx(once, abs=1e-3)
    assert len({row["clip_t"] for row in scores}) == 4  # the samples differ, so a row shows whose scores it holds
    evaluate(run, [*TINY, "eval.count=2"], log=lambda _: None)
    fewer = read_scores(run, "both")
    assert len(fewer) == 2 and all(row == pytest.approx(scores[i], abs=1e-3) for i, row in enumerate(fewer))


def test_each_sample_has_its_own_seed_whatever_its_batch(run):
    assert len({sample_seed(0, i) for i in range(100)} | {sample_seed(1, 0)}) == 101
    module = load_run(run)
    masks = torch.stack([torch.from_numpy(render(seed, 32).mask) for seed in (1, 2, 3)])
    captions = ["A woman with red hair.", "A man with a hat.", "A bald man."]
    seeds = [sample_seed(0, i) for i in range(3)]
    whole = module.generate(masks, captions, steps=2, seed=seeds)
    split = torch.cat(
        [
            module.generate(masks[:1], captions[:1], steps=2, seed=seeds[:1]),
            module.generate(masks[1:], captions[1:], steps=2, seed=seeds[1:]),
        ]
    )
    assert torch.allclose(whole, split, atol=1e-5)
    # Sample i is what `mdit generate --seed <its seed>` gives for its mask and caption alone ...
    alone = module.generate(masks[1:2], captions[1:2], steps=2, seed=seeds[1])
    assert torch.allclose(whole[1:2], alone, atol=1e-5)
    # ... while `generate` on a batch draws all noise from one seed, so a sample there depends on its batch.
    batched = module.generate(masks, captions, steps=2, seed=seeds[1])
    assert not torch.allclose(batched[1:2], alone, atol=1e-3)
    with pytest.raises(ValueError, match="one of each per sample"):
        module.generate(masks, captions, steps=2, seed=seeds[:1])  # a seed list needs one seed per sample


@pytest.mark.parametrize("override", ["model.attention=holistic", "seed=3", "data.test_size=8", "wandb.mode=online"])
def test_only_eval_and_judges_keys_may_change(run, capsys, override):
    assert main(["eval", str(run), override]) == 2
    err = capsys.readouterr().err
    assert "eval.* and judges.*" in err and override.split("=")[0] in err


def test_bad_mode_count_and_run_folder_are_clean_errors(run, tmp_path, capsys):
    assert main(["eval", str(run), "eval.mode=bogus"]) == 2
    assert "both, text, mask" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", str(run), "--mode", "bogus"])
    assert "both" in capsys.readouterr().err
    assert main(["eval", str(run), "--mode", "text", "eval.mode=mask"]) == 2
    assert "pass one" in capsys.readouterr().err
    assert main(["eval", str(run), "eval.count=5", *JUDGES]) == 2
    assert "exceeds the 4 test samples" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nope")]) == 2
    assert "config.yaml" in capsys.readouterr().err
    (tmp_path / "config.yaml").write_text((run / "config.yaml").read_text())
    assert main(["eval", str(tmp_path)]) == 2
    assert "last.ckpt" in capsys.readouterr().err


@pytest.mark.parametrize(
    "key, file",
    [
        ("judges.parser", "parsing_bisenet.pth"),
        ("judges.clip", "clip.safetensors"),
        ("judges.inception", "weights-inception-2015-12-05-6726825d.pth"),
    ],
)
def test_a_missing_local_judge_fails_before_any_sampling(run, tmp_path, monkeypatch, capsys, key, file):
    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled before the judges were checked")

    monkeypatch.setattr(MDiTModule, "generate", no_sampling)
    missing = tmp_path / "weights" / file if key != "judges.parser" else tmp_path / "weights"
    with pytest.raises(MissingWeightsError, match=file):
        evaluate(run, [*TINY, f"{key}={missing}"], log=lambda _: None)
    assert main(["eval", str(run), *TINY, f"{key}={missing}"]) == 2
    assert file in capsys.readouterr().err


def test_topiq_without_its_file_is_na_with_the_reason(tmp_path):
    topiq, info = load_topiq_judge(tiny_config(tmp_path, f"judges.topiq_home={tmp_path}"))
    assert topiq is None and info["kind"] == "n/a"
    assert TOPIQ_WEIGHTS_FILE in info["reason"] and str(tmp_path / "hub" / "pyiqa") in info["reason"]


def test_local_judges_topiq_bisenet_open_clip(run, tmp_path):
    """The real-judge path on stand-in files: random BiSeNet and TOPIQ weights, the embedded CLIP as a local folder."""
    import pyiqa
    from facexlib.parsing.bisenet import BiSeNet

    (tmp_path / "bisenet").mkdir()
    torch.save(BiSeNet(num_class=19).state_dict(), tmp_path / "bisenet" / "parsing_bisenet.pth")
    topiq = pyiqa.create_metric("topiq_nr", device=torch.device("cpu"), pretrained=False, backbone_pretrain=False)
    (tmp_path / "hub" / "pyiqa").mkdir(parents=True)
    torch.save({"params": topiq.net.state_dict()}, tmp_path / "hub" / "pyiqa" / TOPIQ_WEIGHTS_FILE)
    clip = ensure_judges(load_config(run / "config.yaml", JUDGES)) / "clip"
    results = evaluate(
        run,
        [
            *TINY,
            "eval.count=2",
            f"judges.parser={tmp_path / 'bisenet'}",
            f"judges.clip={clip}",
            f"judges.topiq_home={tmp_path}",
        ],
        log=lambda _: None,
    )
    assert math.isfinite(results["topiq"]) and math.isfinite(results["real_images"]["topiq"])
    assert results["judges"]["parser"]["kind"] == "bisenet" and results["judges"]["topiq"]["kind"] == "topiq_nr"
    assert results["judges"]["clip"] == {"kind": "open_clip", "path": str(clip)}  # a folder names its own model
    assert math.isfinite(results["mask_accuracy"]) and math.isfinite(results["clip_t"])
    topiq = [row["topiq"] for row in read_scores(run, "both")]  # with its file, every sample has its TOPIQ
    assert len(topiq) == 2 and sum(topiq) / 2 == pytest.approx(results["topiq"], abs=1e-4)


def test_embedded_judges_do_not_depend_on_run_seed_or_local_paths(tmp_path):
    base = judges_dir(tiny_config(tmp_path))
    assert judges_dir(tiny_config(tmp_path, "seed=5", "judges.clip=/x", "judges.topiq_home=/y")) == base
    assert judges_dir(tiny_config(tmp_path, "judges.seed=1")) != base
    assert judges_dir(tiny_config(tmp_path, "judges.clip_steps=3")) != base
    assert judges_dir(tiny_config(tmp_path, "data.train_size=17")) != base  # the judges train on the train split
    # The default config's folder, pinned: a change of the key makes every user train the judges again.
    assert (
        judges_dir(load_config(Path(__file__).resolve().parents[1] / "experiments" / "synthfaces.yaml")).name
        == "judges-32px-13b2dc4344"
    )


def test_eval_config_is_validated(tmp_path):
    for override, fragment in (
        ("eval.count=1", "eval.count"),
        ("eval.batch_size=0", "eval.batch_size"),
        ("eval.seed=-1", "eval.seed"),
        ("eval.guidance_scale=0", "guidance_scale"),
        ("eval.set=conflicts", "eval.set='conflicts'; valid: test, conflict, agree"),
    ):
        with pytest.raises(ConfigError, match=re.escape(fragment)):
            tiny_config(tmp_path, override)
    with pytest.raises(ConfigError, match="eval.set=agree pits the mask against the caption: it needs eval.mode=both"):
        tiny_config(tmp_path, "eval.set=agree", "eval.mode=text")
    assert tiny_config(tmp_path, "eval.set=conflict").eval.set == "conflict"


def test_wandb_offline_summary_lands_in_the_runs_id(tmp_path):
    cfg = tiny_config(tmp_path, "wandb.mode=offline")
    rows = [dict.fromkeys(COLUMNS, 1) | {"sample": 0, "topiq": None}, dict.fromkeys(COLUMNS, 2.5) | {"sample": 1}]
    table = {"eval/both/samples": scores_table(rows)}
    assert update_wandb_summary(cfg, tmp_path, {"eval/both/mask_accuracy": 12.5, "eval/both/topiq": None}, table)
    (log,) = (tmp_path / "wandb").glob("offline-run-*/run-default-improved_decoupled-s0.wandb")
    deadline = time.monotonic() + 60  # wandb-core's writer may still be flushing when finish() returns
    while b"eval/both/mask_accuracy" not in log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.2)
    data = log.read_bytes()
    assert b"eval/both/mask_accuracy" in data and b"12.5" in data and b"eval/both/topiq" not in data
    (saved,) = log.parent.glob("files/media/table/eval/both/samples_*.table.json")  # the samples as a wandb.Table
    assert json.loads(saved.read_text()) == {
        "columns": list(COLUMNS),
        "data": [[0, 1, 1, 1, 1, 1, 1, 1, None, 1, 1, 1, 1, 1], [1, *[2.5] * (len(COLUMNS) - 1)]],
    }
    assert not update_wandb_summary(tiny_config(tmp_path), tmp_path, {"x": 1})  # W&B disabled: nothing written


def test_concurrent_merges_keep_every_mode_and_the_training_keys(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"val_loss": 0.5}))
    modes = [f"mode{i}" for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda mode: merge_into_metrics(tmp_path, mode, {"count": 4}), modes))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["val_loss"] == 0.5 and sorted(metrics["eval"]) == modes
