"""`mdit report`: the W&B report of a sweep, built offline, on the metric names the runs really log."""

import re
import socket
import warnings
from pathlib import Path

import pytest

from mdit.cli import main
from mdit.cost.measure import COST_KEYS
from mdit.results import report as sweep_report
from mdit.results.report import build_report, describe, panels_of, sweep_modes, varied_key
from mdit.results.smoke import TITLE_SUFFIX, smoke_line, smoke_settings
from mdit.sweep.spec import load_sweep
from mdit.sweep.state import RENAMED, summary

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "sweeps/ablation_attention.yaml"

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import wandb_workspaces.reports.v2 as wr
    from wandb_workspaces import expr


def _no_network(*args, **kwargs):
    raise OSError("network access in an offline test")


@pytest.fixture(scope="module")
def offline():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _no_network)
        patch.setattr(socket.socket, "connect_ex", _no_network)
        yield


@pytest.fixture(scope="module")
def report(offline):
    return build_report(SWEEP, "my-entity", "mditface")


def _metrics_json() -> dict:
    """A run's metrics.json as `mdit train` (losses, cost keys) and `mdit eval` (eval -> mode) write it."""
    scores = {"mask_accuracy": 80.0, "miou": 60.0, "clip_t": 25.0, "topiq": 0.5, "frechet": 3.0}
    return {
        "steps": 4,
        "val_loss": 0.2,
        "train_loss": 0.3,
        **{key: 1.0 for key in COST_KEYS},
        "eval": {"both": {**scores, "real_images": {"mask_accuracy": 90.0, "miou": 80.0}}},
    }


def test_report_is_the_sweeps_runs_grouped_by_the_varied_parameter(report):
    spec = load_sweep(SWEEP)
    assert report.title == "MDiTFace sweep: ablation_attention"
    assert (report.entity, report.project) == ("my-entity", "mditface")
    grids = [block for block in report.blocks if isinstance(block, wr.PanelGrid)]
    assert [grid.runsets[0].name for grid in grids] == ["quality", "cost", "training", "runs"]
    for grid in grids:
        (runset,) = grid.runsets
        assert (runset.entity, runset.project) == ("my-entity", "mditface")
        parsed = expr.expr_to_filters(runset.filters)  # the filter string as the backend will read it
        assert (parsed.key.section, parsed.key.name, parsed.op, parsed.value) == ("run", "group", "=", spec.group)
        assert runset.groupby == ["config.model.attention"]
        # the W&B config is the nested OmegaConf container (mdit.trainer._logger): {"model": {"attention": ...}}
        assert expr.groupby_str_to_key(runset.groupby[0]).name == "model.value.attention"


def test_bar_and_line_keys_are_what_the_runs_log(report):
    logged = summary(_metrics_json(), sweep_modes(load_sweep(SWEEP)))  # the names in the W&B summary
    panels = [panel for _, panel in panels_of(report)]
    bars = [panel for panel in panels if isinstance(panel, wr.BarPlot)]
    bar_keys = [key for bar in bars for key in bar.metrics]
    assert set(bar_keys) <= set(logged)
    assert bar_keys == [
        "eval/both/mask_accuracy",
        "eval/both/miou",
        "eval/both/clip_t",
        "eval/both/topiq",
        "eval/both/frechet",
        "cost/tflops_delta",
        "cost/tflops_delta_paper",
        "cost/latency_ratio_vs_none",
    ]
    for bar in bars:
        assert isinstance(bar.groupby, wr.Config) and bar.groupby.name == "model.attention"
        config = bar._to_model().config  # panels serialise offline (runsets look their project up)
        assert config.group_by == "model.value.attention" and config.group_agg == "mean"

    training = Path(ROOT / "mdit/training.py").read_text()
    lines = [panel for panel in panels if isinstance(panel, wr.LinePlot)]
    curve_keys = [key for line in lines for key in line.y]
    assert curve_keys == ["train/loss", "val/loss", "val/loss_without_mask"]
    assert all(re.search(rf'self\.log\("{re.escape(key)}"', training) for key in curve_keys)
    assert set(RENAMED.values()) <= set(curve_keys)

    (media,) = [panel for panel in panels if isinstance(panel, wr.MediaBrowser)]
    grid_source = Path(ROOT / "mdit/callbacks/sample_grid.py").read_text()
    assert media.media_keys == [sweep_report.SAMPLES_KEY]
    assert f'log_image(key="{sweep_report.SAMPLES_KEY}"' in grid_source
    assert sum(isinstance(panel, wr.RunComparer) for panel in panels) == 1


def test_other_sweeps_group_by_their_own_parameter_and_modes(offline):
    assert varied_key(load_sweep(ROOT / "sweeps/dropout.yaml")) == "train.text_dropout"  # the alias's target
    unimodal = load_sweep(ROOT / "sweeps/unimodal.yaml")
    assert varied_key(unimodal) is None and sweep_modes(unimodal) == ["both", "text", "mask"]
    built = build_report(unimodal.path, "e", "p", title="unimodal")
    (first, *_) = [panel for _, panel in panels_of(built)]
    assert first.metrics == ["eval/both/mask_accuracy", "eval/text/mask_accuracy", "eval/mask/mask_accuracy"]
    assert first.groupby is None


def test_cli_prints_the_panels_without_saving(offline, capsys, monkeypatch):
    monkeypatch.setattr(sweep_report, "save_report", _no_network)
    assert main(["report", str(SWEEP), "--entity", "my-entity"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("report 'MDiTFace sweep: ablation_attention' in my-entity/mditface")
    assert "eval/both/frechet" in out and "cost/tflops_delta_paper" in out and "val/samples" in out
    assert "saved" not in out


def test_cli_save_prints_the_url(offline, capsys, monkeypatch):
    monkeypatch.setattr(sweep_report, "save_report", lambda report: f"https://wandb.ai/{report.entity}/r")
    assert main(["report", str(SWEEP), "--entity", "e", "--project", "p", "--title", "T", "--save"]) == 0
    out = capsys.readouterr().out
    assert "report 'T' in e/p" in out and out.strip().endswith("saved: https://wandb.ai/e/r")
    assert describe(build_report(SWEEP, "e", "p", "T"))[0] in out


def test_a_smoke_report_says_its_numbers_mean_nothing(offline):
    """Title and first block; the panels are those of the plain report."""
    smoke, plain = build_report(SWEEP, "e", "p", smoke=True), build_report(SWEEP, "e", "p")
    assert smoke.title == f"MDiTFace sweep: ablation_attention{TITLE_SUFFIX}"
    first = smoke.blocks[0]
    assert isinstance(first, wr.CalloutBlock) and first.text == smoke_line(smoke_settings())
    assert "not meaningful" in first.text
    assert describe(smoke)[1:] == describe(plain)[1:]
    assert [type(block) for block in smoke.blocks[1:]] == [type(block) for block in plain.blocks]
    assert not any(isinstance(block, wr.CalloutBlock) for block in plain.blocks)
    long_title = build_report(SWEEP, "e", "p", title="T" * 200, smoke=True).title
    assert len(long_title) == 128 and long_title.endswith(TITLE_SUFFIX)  # W&B's limit, the label kept whole


def test_cli_profile_smoke_labels_the_report(offline, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sweep_report, "save_report", _no_network)
    assert main(["report", str(SWEEP), "--entity", "e", "--profile", "smoke"]) == 0
    assert capsys.readouterr().out.startswith(f"report 'MDiTFace sweep: ablation_attention{TITLE_SUFFIX}' in e/")
    assert main(["report", str(SWEEP), "--entity", "e", "--profile", "nope"]) == 2
    assert "profile 'nope' not found" in capsys.readouterr().err
