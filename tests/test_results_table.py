"""The table builder on handmade run folders (2 variants x 2 seeds) and on a fake W&B API: numbers, layout, gaps."""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from mdit.cli import main
from mdit.results import table as table_module
from mdit.results.collect import (
    CONFIG_FILE,
    METRICS_FILE,
    collect_local,
    metrics_from_summary,
    sweep_constants,
    sweep_parameters,
)
from mdit.results.no_runs import MAKE_CONFIG, MAKE_TARGETS, NoResults
from mdit.results.table import build_table

ROOT = Path(__file__).resolve().parents[1]

TOPIQ_REASON = "judges.topiq_home is not set: put cfanet_nr_koniq_res50-9a73138b.pth in <TORCH_HOME>/hub/pyiqa/"


@dataclass(frozen=True)
class FixedCosts:
    """FLUX.1-dev-scale costs fixed per attention at the paper's setting (the interface of ScaledCosts)."""

    variants: dict[str, dict[str, float]]
    none_total_tflops: float

    def of(self, attention, stride=1, readers="image_text", steps=None, conditions=("mask",)) -> dict[str, float]:
        paper_setting = (stride, readers, steps or 28, tuple(conditions)) == (1, "image_text", 28, ("mask",))
        return dict(self.variants.get(attention or "", {})) if paper_setting else {}


FAKE_FLUX = FixedCosts(
    {
        "none": {"delta_tflops": 0.0, "delta_paper": 0.0},
        "holistic": {"delta_tflops": 447.61, "delta_paper": 185.08},
        "improved_decoupled": {"delta_tflops": 52.06, "delta_paper": 9.92},
    },
    602.07,
)
# (mask accuracy, CLIP-T, FD, s/img) per (variant, seed)
NUMBERS = {
    ("holistic", 0): (60.0, 20.0, 3.0, 0.48),
    ("holistic", 1): (62.0, 22.0, 5.0, 0.50),
    ("improved_decoupled", 0): (70.0, 24.0, 2.0, 0.30),
    ("improved_decoupled", 1): (74.0, 25.0, 2.5, 0.31),
}
COST = {"holistic": (0.005611, 0.002125), "improved_decoupled": (0.001018, 0.0001519)}


def eval_entry(mask: float, clip_t: float, frechet: float) -> dict[str, Any]:
    """One mode's results as `mdit eval` writes them (mIoU: 20 points under the mask accuracy), TOPIQ n/a (no
    weights file); no per-sample scores file (tests/test_results_intervals.py has those)."""
    return {
        "mask_accuracy": mask,
        "miou": mask - 20,
        "clip_t": clip_t,
        "topiq": None,
        "frechet": frechet,
        "real_images": {"mask_accuracy": 97.5, "miou": 90.0, "clip_t": 30.0, "topiq": None},
        "count": 8,
        "seed": 0,
        "sampling_steps": 28,
        "guidance_scale": 1.0,
        "checkpoint_step": 10,
        "judges": {
            "parser": {"kind": "embedded", "path": "/j", "heldout_size": 512, "heldout_pixel_accuracy": 99.18},
            "clip": {"kind": "embedded", "path": "/j", "heldout_size": 512, "heldout_retrieval_top1": 53.71},
            "frechet": {"kind": "embedded_parser", "path": "/j"},
            "topiq": {"kind": "n/a", "reason": TOPIQ_REASON},
        },
    }


def write_run(
    group_dir: Path, attention: str, seed: int, modes: tuple[str, ...] = ("both",), metrics: bool = True, **config: Any
) -> Path:
    """A run folder like `mdit train` + `mdit eval` leave it: config.yaml and metrics.json, by hand."""
    folder = group_dir / f"{attention}-s{seed}"
    folder.mkdir(parents=True)
    cfg = {
        "seed": seed,
        "group": group_dir.name,
        "model": {"attention": attention},
        "data": {"resolution": 32},
        "eval": {"steps": 28, "mode": "both"},
    }
    for key, value in config.items():  # section__leaf=value, or a top-level key (output_dir=...)
        section, _, leaf = key.partition("__")
        if leaf:
            cfg.setdefault(section, {})[leaf] = value
        else:
            cfg[key] = value
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(cfg))
    if metrics:
        mask, clip_t, frechet, seconds = NUMBERS[attention, seed]
        delta, paper = COST[attention]
        values = {
            "attention": attention,
            "steps": 10,
            "val_loss": 0.11,
            "tflops_delta": delta,
            "tflops_delta_paper": paper,
            "seconds_per_image": seconds,
            "seconds_per_image_none": 0.28,
            "latency_ratio_vs_none": round(seconds / 0.28, 3),
            "eval": {mode: eval_entry(mask, clip_t, frechet) for mode in modes},
        }
        (folder / METRICS_FILE).write_text(json.dumps(values))
    return folder


def write_sweep(folder: Path, name: str = "ablation_attention", **parameters: Any) -> Path:
    spec = {
        "program": "mdit",
        "method": "grid",
        "command": ["${env}", "${program}", "sweep-run", "${args_no_hyphens}"],
        "parameters": {
            "model.attention": {"values": ["holistic", "improved_decoupled"]},
            "seed": {"values": [0, 1]},
            **parameters,
        },
    }
    path = folder / "sweeps" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sweep file and its four runs (2 variants x 2 seeds); the FLUX.1-dev count replaced by fixed numbers."""
    monkeypatch.setattr(table_module, "flux_dev_costs", lambda: FAKE_FLUX)
    for attention in ("improved_decoupled", "holistic"):
        for seed in (0, 1):
            write_run(tmp_path / "runs" / "ablation_attention", attention, seed)
    return write_sweep(tmp_path)


def build(sweep_file: Path, **kwargs: Any) -> tuple[dict[str, Path], str]:
    printed: list[str] = []
    root = sweep_file.parent.parent
    paths = build_table(sweep_file, out_dir=root / "results", runs_root=root / "runs", echo=printed.append, **kwargs)
    return paths, printed[0]


def md_row(text: str, label: str, section: int = 0) -> list[str]:
    """The cells of the row `label` in the section-th Markdown table."""
    tables = text.split("### ")[1:]
    line = next(ln for ln in tables[section].splitlines() if ln.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def md_headers(text: str, section: int = 0) -> list[str]:
    line = next(ln for ln in text.split("### ")[1:][section].splitlines() if ln.startswith("| setting"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_sweep_file_parameters(tmp_path: Path) -> None:
    nested = {"parameters": {"lr": {"values": [1e-3, 3e-3]}}}
    constants = {"eval.mode": {"value": "text"}, "data.resolution": {"values": [32]}}
    path = write_sweep(tmp_path, train=nested, **constants)
    assert sweep_parameters(path) == {"model.attention": ["holistic", "improved_decoupled"], "train.lr": [1e-3, 3e-3]}
    assert sweep_constants(path) == {"eval.mode": "text", "data.resolution": 32}


def test_flux_dev_costs_count_each_setting_once_at_any_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mdit flops`'s count on FLUX.1-dev at the paper's setting (512 px, 512 text tokens, 28 steps unless a row
    says its own): each setting counted once per process, as once per sample + steps x per step."""
    from mdit.cost import report
    from mdit.results import flux_scale

    tera = 1e12
    per_setting = {"none": (0, 10), "holistic": (0, 30), "improved_decoupled": (40, 12)}  # (static, step) TFLOPs
    counted = []

    def fake_parts(model, shape):
        counted.append((model.strategy.name, model.mask_token_stride, shape.image_tokens, shape.text_tokens))
        static, step = per_setting[model.strategy.name]
        return static * tera, step * tera

    monkeypatch.setattr(report, "generation_parts", fake_parts)
    flux_scale.flux_dev_costs.cache_clear()
    try:
        costs, again = flux_scale.flux_dev_costs(), flux_scale.flux_dev_costs()
        assert again is costs
        assert costs.of("holistic")["delta_tflops"] == pytest.approx(28 * 20)
        assert costs.of("holistic", steps=4)["delta_tflops"] == pytest.approx(4 * 20)
        assert costs.of("improved_decoupled", steps=4)["delta_tflops"] == pytest.approx(40 + 4 * 2)
        assert costs.of("holistic")["delta_paper"] == pytest.approx(185.08, rel=1e-3)  # the real convention
        assert costs.of("none") == {"delta_tflops": 0.0, "delta_paper": 0.0} and costs.of(None) == {}
        assert costs.none_total_tflops == pytest.approx(280)
    finally:
        flux_scale.flux_dev_costs.cache_clear()
    assert sorted(counted) == [("holistic", 1, 1024, 512), ("improved_decoupled", 1, 1024, 512), ("none", 1, 1024, 512)]


def test_numbers_mean_std_and_na(sweep: Path) -> None:
    paths, text = build(sweep)
    assert set(paths) == {"md", "csv", "tex", "png"} and all(p.is_file() for p in paths.values())
    assert paths["md"].read_text() == text
    headers = md_headers(text)
    assert headers == [
        "setting",
        "n",
        "mask acc. (%)",
        "parser on real (%)",
        "mIoU (%)",
        "parser on real mIoU (%)",
        "CLIP-T",
        "TOPIQ",
        "FD (parser feat.)",
        "paper: mask acc. (%)",
        "paper: CLIP-T",
        "paper: TOPIQ",
    ]
    holistic, improved = md_row(text, "holistic"), md_row(text, "improved_decoupled")
    # mean ± sample std over the two seeds: (60, 62) -> 61.00 ± 1.41; mIoU (40, 42) beside it, then its ceiling
    assert holistic[:7] == ["holistic", "2", "61.00 ± 1.41", "97.50 ± 0.00", "41.00 ± 1.41", "90.00 ± 0.00"] + [
        "21.00 ± 1.41"
    ]
    assert improved[:3] == ["improved_decoupled", "2", f"72.00 ± {math.sqrt(8):.2f}"]
    assert holistic[7] == improved[7] == "n/a¹"  # TOPIQ without its weights: n/a with the reason as footnote 1
    assert f"- ¹ n/a: `TOPIQ: {TOPIQ_REASON}`" in text
    assert holistic[8] == "4 ± 1.414"
    # the paper's numbers sit in their own labelled columns, never in ours
    assert holistic[9:] == ["94.72", "", ""] and improved[9:] == ["94.64", "26.75", "0.8466"]
    assert "paper (MM-CelebA, FLUX.1-dev), published in arXiv 2511.12631" in text
    assert "held-out pixel accuracy 99.18 %" in text and "the embedded face parser's features (not FID)" in text


def test_cost_section(sweep: Path) -> None:
    _, text = build(sweep)
    assert md_headers(text, 1) == [
        "setting",
        "n",
        "ΔGFLOPs counted",
        "ΔGFLOPs paper conv.",
        "s/img",
        "× text-only",
        "FLUX.1-dev ΔTFLOPs counted",
        "FLUX.1-dev ΔTFLOPs paper conv.",
        "paper: ΔTFLOPs (Table 4)",
    ]
    holistic, improved = md_row(text, "holistic", 1), md_row(text, "improved_decoupled", 1)
    assert holistic[2:4] == ["5.611 ± 0", "2.125 ± 0"]  # metrics.json's TFLOPs shown in GFLOPs
    assert holistic[4] == f"0.49 ± {math.sqrt(2) * 0.01:.4g}"
    assert holistic[6:] == ["447.61", "185.08", "185.79"] and improved[6:] == ["52.06", "9.92", "9.95"]
    assert "`none` itself costs 602.07 TFLOPs" in text


def test_csv_full_precision_and_per_run(sweep: Path) -> None:
    paths, _ = build(sweep)
    rows = {r["setting"]: r for r in csv.DictReader(paths["csv"].open())}
    assert list(rows) == ["holistic", "improved_decoupled"]  # the sweep file's order
    h = rows["holistic"]
    assert (h["model.attention"], h["eval_mode"], h["n"]) == ("holistic", "both", "2")
    assert h["runs"] == "holistic-s0;holistic-s1"
    assert float(h["mask_accuracy_mean"]) == 61.0 and float(h["mask_accuracy_std"]) == pytest.approx(math.sqrt(2))
    assert float(h["tflops_delta_mean"]) == 0.005611  # TFLOPs, full precision
    assert h["topiq_mean"] == "" and h["topiq_n"] == "0" and TOPIQ_REASON in h["na_reasons"]
    assert (float(h["paper_mask_accuracy"]), h["paper_clip_t"]) == (94.72, "")
    assert float(h["flux_dev_delta_paper"]) == 185.08
    assert float(rows["improved_decoupled"]["paper_delta_tflops"]) == 9.95
    runs = list(csv.DictReader((paths["csv"].parent / "ablation_attention_runs.csv").open()))
    assert [r["run"] for r in runs] == ["holistic-s0", "holistic-s1", "improved_decoupled-s0", "improved_decoupled-s1"]
    assert [r["seed"] for r in runs] == ["0", "1", "0", "1"]
    assert float(runs[3]["mask_accuracy"]) == 74.0 and runs[3]["topiq"] == ""


def test_latex_booktabs(sweep: Path) -> None:
    paths, _ = build(sweep)
    tex = paths["tex"].read_text()
    parts = (
        r"\toprule",
        r"\midrule",
        r"\bottomrule",
        r"\begin{tabular}{lrrrrrrrrrrr}",
        r"\cmidrule(lr){10-12}",
        r"\multicolumn{3}{c}{paper (MM-CelebA, FLUX.1-dev)}",
        r"holistic & 2 & 61.00 $\pm$ 1.41",
        r"n/a$^{1}$",
        r"improved\_decoupled",
        r"$\Delta$GFLOPs",
    )
    for part in parts:
        assert part in tex, part
    body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
    assert tex.count(r"\begin{table}") == 2 and not re.findall(r"(?<!\\)_", body)  # every _ escaped for LaTeX


def test_png_written(sweep: Path) -> None:
    paths, _ = build(sweep)
    with Image.open(paths["png"]) as image:
        assert image.format == "PNG" and image.width > 800


def test_missing_eval_is_a_dash_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    group = tmp_path / "runs" / "ablation_attention"
    write_run(group, "holistic", 0)
    write_run(group, "holistic", 1, modes=())  # trained, not evaluated
    write_run(group, "improved_decoupled", 0, modes=())
    write_run(group, "improved_decoupled", 1, metrics=False)  # still training
    write_run(group, "concat", 0, metrics=False)  # not a value of this sweep
    _, text = build(write_sweep(tmp_path), flux_dev=False)
    holistic, improved = md_row(text, "holistic"), md_row(text, "improved_decoupled")
    assert holistic[1:4] == ["2", "60.00 (n=1)", "97.50 (n=1)"]
    assert improved[1:9] == ["1", *["—"] * 7] and improved[9] == "94.64"  # paper's cell still there
    assert md_row(text, "improved_decoupled", 1)[2] == "1.018" and md_row(text, "holistic", 1)[6:8] == ["—", "—"]
    assert "no eval.both in metrics.json for holistic-s1, improved_decoupled-s0" in text
    assert "improved_decoupled-s1 (no metrics.json (training not finished?))" in text
    assert "Left out (values not in the sweep file): concat-s0" in text
    assert "FLUX.1-dev scale: not computed" in text


def test_a_static_modulation_with_the_caption_is_named(tmp_path: Path) -> None:
    """The default static modulation keeps the caption out of the static path; a row whose runs let it in says so."""
    group = tmp_path / "runs" / "ablation_attention"
    for seed in (0, 1):
        write_run(group, "holistic", seed, model__static_modulation="pooled_text")  # no static path: no note
        write_run(group, "improved_decoupled", seed, model__static_modulation="reference_t" if seed else "pooled_text")
    _, text = build(write_sweep(tmp_path), flux_dev=False)
    notes = [line for line in text.splitlines() if "model.static_modulation=" in line]
    assert len(notes) == 1 and "improved_decoupled: model.static_modulation=pooled_text: the caption" in notes[0]
    (group / "improved_decoupled-s0" / CONFIG_FILE).unlink()  # only the default left in that row
    _, plain = build(write_sweep(tmp_path), flux_dev=False)
    assert "model.static_modulation=" not in plain


def test_swept_eval_mode_reads_each_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One training serves every mode: each run appears once per swept mode, read from eval[mode]."""
    group = tmp_path / "runs" / "unimodal"
    for seed in (0, 1):
        write_run(group, "improved_decoupled", seed, modes=("both", "text"))
    sweep_file = write_sweep(
        tmp_path,
        "unimodal",
        **{"model.attention": {"value": "improved_decoupled"}, "eval.mode": {"values": ["both", "text", "mask"]}},
    )
    _, text = build(sweep_file, flux_dev=False)
    assert md_row(text, "both")[1:3] == ["2", "72.00 ± 2.83"] and md_row(text, "text")[1:3] == ["2", "72.00 ± 2.83"]
    assert md_row(text, "mask")[2] == "—" and "no eval.mask in metrics.json" in text
    assert md_row(text, "both")[9] == "94.64" and md_row(text, "text")[9] == ""  # the paper's numbers are mode both


def test_swept_sampling_settings_read_each_evaluation_key(tmp_path: Path) -> None:
    """eval.* parameters beyond the mode are evaluations of one training too: each row reads the key `mdit eval`
    filed it under (the run's own steps are plain: key `both`); the paper's numbers only on the plain rows."""
    group = tmp_path / "runs" / "guidance"
    folder = write_run(group, "holistic", 0, modes=("both", "both-steps8-mask_strength2"))
    metrics = json.loads((folder / METRICS_FILE).read_text())
    metrics["eval"]["both-steps8-mask_strength2"]["mask_accuracy"] = 99.0
    (folder / METRICS_FILE).write_text(json.dumps(metrics))
    sweep_file = write_sweep(
        tmp_path,
        "guidance",
        **{
            "model.attention": {"values": ["holistic"]},
            "eval.mask_strength": {"values": [1.0, 2.0]},
            "eval.steps": {"values": [28, 8]},
        },
    )
    _, text = build(sweep_file, flux_dev=False)
    plain, strong = (
        md_row(text, "mask_strength=1.0, steps=28"),
        md_row(text, "mask_strength=2.0, steps=8"),
    )
    assert (plain[2], strong[2]) == ("60.00", "99.00") and (plain[-3], strong[-3]) == ("94.72", "")
    assert md_row(text, "mask_strength=1.0, steps=8")[2] == "—"
    assert "no eval.both-steps8 in metrics.json for holistic-s0; `mdit eval" in text
    assert "eval.mask_strength=1.0 eval.steps=8` adds it" in text


def test_alias_parameter_reads_its_config_keys(tmp_path: Path) -> None:
    group = tmp_path / "runs" / "dropout"
    write_run(group, "holistic", 0, train__text_dropout=0.0, train__mask_dropout=0.0)
    write_run(group, "improved_decoupled", 0, train__text_dropout=0.1, train__mask_dropout=0.1)
    _, text = build(write_sweep(tmp_path, "dropout", dropout={"values": [0.0, 0.1]}), flux_dev=False)
    assert md_row(text, "holistic, dropout=0.0")[2] == "60.00"
    assert md_row(text, "improved_decoupled, dropout=0.1")[2] == "70.00"


class FakeRun:
    def __init__(self, name: str, config: dict[str, Any], summary: dict[str, Any]) -> None:
        self.name, self.config, self.summary_metrics, self.state = name, config, summary, "finished"


class FakeApi:
    """wandb.Api() for one sweep: runs with nested (Lightning) or flat (sweep) config keys and flat summaries."""

    def sweep(self, path: str) -> Any:
        assert path == "team/mditface/abc123"
        runs = []
        for (attention, seed), (mask, clip_t, frechet, seconds) in NUMBERS.items():
            config = (
                {"model": {"attention": attention}, "seed": seed}
                if seed == 0
                else {"model.attention": {"value": attention, "desc": None}, "seed": {"value": seed}}
            )
            summary = {
                "cost/tflops_delta": COST[attention][0],
                "cost/tflops_delta_paper": COST[attention][1],
                "cost/seconds_per_image": seconds,
                "val/loss": 0.1,
                "_step": 9,
                "eval/both/mask_accuracy": mask,
                "eval/both/clip_t": clip_t,
                "eval/both/frechet": frechet,
                "eval/both/real_images/mask_accuracy": 97.5,
                "eval/both/miou": mask - 20,
                "eval/both/real_images/miou": 90.0,
                "eval/both/count": 8,
                "val/samples": {"_type": "images/separated", "count": 8},
            }
            runs.append(FakeRun(f"{attention}-s{seed}", config, summary))
        runs.append(FakeRun("crashed", {"model": {"attention": "holistic"}, "seed": 2}, {}))
        return type("Sweep", (), {"runs": runs})()


def test_wandb_source(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb

    monkeypatch.setattr(wandb, "Api", FakeApi)
    _, text = build(sweep, source="wandb", wandb_sweep="team/mditface/abc123")
    assert "W&B sweep `team/mditface/abc123`" in text
    holistic = md_row(text, "holistic")
    assert holistic[:7] == ["holistic", "2", "61.00 ± 1.41", "97.50 ± 0.00", "41.00 ± 1.41", "90.00 ± 0.00"] + [
        "21.00 ± 1.41"
    ]
    assert holistic[7] == "n/a¹" and "TOPIQ absent from the W&B summary" in text
    assert md_row(text, "holistic", 1)[5] == "—"  # latency ratio not in these summaries
    assert "crashed (empty W&B summary (state finished))" in text
    with pytest.raises(ValueError, match="entity/project/sweep_id"):
        build(sweep, source="wandb")


def test_metrics_from_summary() -> None:
    metrics = metrics_from_summary(
        {
            "cost/tflops": 1.0,
            "eval/text/clip_t": 20.0,
            "eval/text/real_images/clip_t": 30.0,
            "train/loss": 0.2,
            "trainer/global_step": 5,
        }
    )
    assert metrics["tflops"] == 1.0 and metrics["train_loss"] == 0.2
    assert metrics["eval"]["text"]["clip_t"] == 20.0 and metrics["eval"]["text"]["real_images"] == {"clip_t": 30.0}
    assert metrics["eval"]["text"]["topiq"] is None
    assert metrics_from_summary({"_step": 3}) is None


def test_no_runs_names_where_it_looked_and_the_sweep_to_run(tmp_path: Path) -> None:
    sweep_file = write_sweep(tmp_path)
    with pytest.raises(NoResults) as error:
        build(sweep_file, flux_dev=False)
    where = tmp_path / "runs" / "ablation_attention"
    assert (
        str(error.value)
        == f"no runs of ablation_attention under {where} yet: run `mdit sweep {sweep_file} --backend local`"
    )
    assert isinstance(error.value, FileNotFoundError)  # the CLI's user errors: exit 2, one line
    assert collect_local(tmp_path / "nowhere") == []


def test_run_folders_without_results_are_no_runs_either(tmp_path: Path) -> None:
    """Runs that never finished make no table of dashes: the sweep is still to run (it resumes them)."""
    for seed in (0, 1):
        write_run(tmp_path / "runs" / "ablation_attention", "holistic", seed, metrics=False)
    with pytest.raises(NoResults, match=r"no finished runs of ablation_attention under .* yet \(2 runs, none"):
        build(write_sweep(tmp_path), flux_dev=False)
    write_run(tmp_path / "runs" / "ablation_attention", "improved_decoupled", 0)  # one result: a table
    _, text = build(write_sweep(tmp_path), flux_dev=False)
    assert md_row(text, "improved_decoupled")[1] == "1" and "holistic-s0 (no metrics.json" in text


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout without runs as the working directory: the real sweep files, profiles and configs."""
    (tmp_path / "sweeps").mkdir()
    for sweep in (ROOT / "sweeps").glob("*.yaml"):
        (tmp_path / "sweeps" / sweep.name).write_text(sweep.read_text())
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def no_runs_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """`mdit table ...`'s error line, checked to be a user error: exit 2, one line on stderr, no traceback."""
    assert main(["table", *argv, "--no-flux-dev"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "Traceback" not in err
    return err.strip()


def test_cli_no_runs_suggests_the_sweep_with_the_profile(repository: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = no_runs_line(["sweeps/ablation_attention.yaml", "--profile", "smoke"], capsys)
    assert line == (
        "mdit table: error: no runs of ablation_attention under runs/smoke/ablation_attention yet: run "
        "`mdit sweep sweeps/ablation_attention.yaml --backend local --profile smoke` "
        "(or `make ablation-attention PROFILE=smoke`)"
    )
    line = no_runs_line(["sweeps/unimodal.yaml"], capsys)
    assert line.endswith(
        "under runs/unimodal yet: run `mdit sweep sweeps/unimodal.yaml --backend local` (or `make ablation-unimodal`)"
    )


def test_cli_no_runs_keeps_the_config_and_the_runs_folder(repository: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-c files, key=value overrides and --runs go into the suggested sweep (and make's CONFIG and ARGS)."""
    (repository / "other.yaml").write_text("seed: 0\n")
    line = no_runs_line(["sweeps/dropout.yaml", "-c", "other.yaml", "--profile", "long", "train.lr=0.001"], capsys)
    assert line.endswith(
        "under runs/long/dropout yet: run `mdit sweep sweeps/dropout.yaml --backend local -c other.yaml --profile long "
        "train.lr=0.001` (or `make ablation-dropout PROFILE=long CONFIG=other.yaml ARGS='train.lr=0.001'`)"
    )
    line = no_runs_line(
        ["sweeps/ablation_tokenization.yaml", "-c", "experiments/synthfaces.yaml", "--runs", "mine"], capsys
    )
    assert line.endswith(
        "under mine/ablation_tokenization yet: run `mdit sweep sweeps/ablation_tokenization.yaml --backend local "
        "-c experiments/synthfaces.yaml output_dir=mine` (or `make ablation-tokenization ARGS='output_dir=mine'`)"
    )
    copy = repository / "elsewhere" / "ablation_attention.yaml"  # not the file make runs: no make line
    copy.parent.mkdir()
    copy.write_text((repository / "sweeps" / "ablation_attention.yaml").read_text())
    assert no_runs_line([str(copy)], capsys).endswith(f"run `mdit sweep {copy} --backend local`")


def test_cli_no_runs_of_a_wandb_sweep_suggests_an_agent(
    repository: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import wandb

    empty = type("Api", (), {"sweep": lambda self, path: type("Sweep", (), {"runs": []})()})
    monkeypatch.setattr(wandb, "Api", empty)
    line = no_runs_line(["sweeps/ablation_attention.yaml", "--source", "wandb", "--sweep", "e/p/id"], capsys)
    assert line.endswith(
        "no runs of ablation_attention in W&B sweep e/p/id yet: start an agent: `wandb agent e/p/id` "
        "(or `make sweep-agent SWEEP_ID=e/p/id`)"
    )


def test_the_make_targets_named_are_the_makefiles() -> None:
    """The suggested `make ablation-*` lines exist, run that sweep file, and pass the config named as default."""
    makefile = (ROOT / "Makefile").read_text()
    targets = dict(re.findall(r"^([\w-]+): install\n\t\$\(call ablation,(\w+)\)", makefile, re.MULTILINE))
    assert {sweep: target for target, sweep in targets.items()} == MAKE_TARGETS
    assert re.search(rf"^CONFIG \?= {re.escape(MAKE_CONFIG)}$", makefile, re.MULTILINE)


def test_the_conditions_section_where_runs_have_its_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs scored on sketches and keypoints get a section of their own (the judges on real images beside them); a
    judge without its condition is n/a with the reason; runs from before these judges get no section (above)."""
    monkeypatch.setattr(table_module, "flux_dev_costs", lambda: FAKE_FLUX)
    no_keypoints = {"kind": "n/a", "reason": "data set has no keypoints"}
    for attention in ("improved_decoupled", "holistic"):
        for seed in (0, 1):
            folder = write_run(tmp_path / "runs" / "ablation_attention", attention, seed)
            metrics = json.loads((folder / METRICS_FILE).read_text())
            entry = metrics["eval"]["both"]
            nme = 12.0 + seed if attention == "improved_decoupled" else None
            entry.update({"edge_f1": 40.0 + 2 * seed, "chamfer": 1.5 + seed, "nme": nme})
            entry["real_images"].update({"edge_f1": 80.0, "chamfer": 0.25, "nme": 3.0 if nme else None})
            entry["judges"]["sketch"] = {"kind": "canny", "tolerance_px": 1}
            entry["judges"]["landmarks"] = {"kind": "embedded", "path": "/l"} if nme else no_keypoints
            (folder / METRICS_FILE).write_text(json.dumps(metrics))
    paths, text = build(write_sweep(tmp_path))
    assert md_headers(text, 1) == [
        "setting",
        "n",
        "edge F1 (%) ↑",
        "real edge F1 (%)",
        "chamfer (px) ↓",
        "real chamfer (px)",
        "NME (%) ↓",
        "landmarks on real NME (%)",
    ]
    sketch = ["41.00 ± 1.41", "80.00 ± 0.00", "2.000 ± 0.707", "0.250 ± 0.000"]
    assert md_row(text, "improved_decoupled", 1) == ["improved_decoupled", "2", *sketch, "12.50 ± 0.71", "3.00 ± 0.00"]
    assert md_row(text, "holistic", 1) == ["holistic", "2", *sketch, "n/a²", "n/a²"]  # ¹ is TOPIQ's
    assert "- ² n/a: `keypoints: data set has no keypoints`" in text
    assert md_headers(text, 2)[2] == "ΔGFLOPs counted"  # the cost section follows
    rows = {r["setting"]: r for r in csv.DictReader(paths["csv"].open())}
    assert float(rows["holistic"]["chamfer_mean"]) == 2.0 and rows["holistic"]["nme_mean"] == ""
    assert "nme: keypoints: data set has no keypoints" in rows["holistic"]["na_reasons"]
    tex = paths["tex"].read_text()
    assert r"edge F1 (\%) $\uparrow$" in tex and r"NME (\%) $\downarrow$" in tex
