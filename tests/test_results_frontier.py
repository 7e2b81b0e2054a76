"""The cost-quality frontier: the Pareto front by hand, and a stride x steps sweep's table, section and figure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_results_table import METRICS_FILE, build, md_row, write_run, write_sweep

from mdit.results import table as table_module
from mdit.results.frontier import pareto_front

# (attention, stride) -> FLUX.1-dev-scale extra TFLOPs (once per sample, per step), by hand
PARTS = {("holistic", 1): (0, 16), ("holistic", 2): (0, 4), ("improved_decoupled", 1): (20, 1),
         ("improved_decoupled", 2): (10, 0.5)}  # fmt: skip
# (attention, stride, steps) -> mask accuracy
ACCURACY = {
    ("holistic", 1, 28): 80.0, ("holistic", 1, 4): 60.0, ("holistic", 2, 28): 70.0, ("holistic", 2, 4): 50.0,
    ("improved_decoupled", 1, 28): 78.0, ("improved_decoupled", 1, 4): 75.0,
    ("improved_decoupled", 2, 28): 77.0, ("improved_decoupled", 2, 4): 40.0,
}  # fmt: skip


@dataclass(frozen=True)
class HandCosts:
    """ScaledCosts' interface over PARTS: static + steps x step, 28 steps unless a row says its own."""

    none_total_tflops: float = 100.0

    def of(self, attention, stride=1, readers="image_text", steps=None, conditions=("mask",)) -> dict[str, float]:
        static, step = PARTS[attention, stride]
        return {"delta_tflops": static + (steps or 28) * step, "delta_paper": static}


@dataclass(frozen=True)
class P:
    accuracy: float
    cost: float


def test_the_pareto_front_is_the_points_nothing_beats_on_both():
    a, b, c, d, tie = P(50, 1), P(60, 2), P(55, 3), P(40, 2), P(60, 2)
    front = pareto_front([c, a, b, d, tie], lambda p: p.cost)
    assert front == [a, b, tie]  # c: b is better and cheaper; d: b is better at its cost; equals both stay


def _row(text: str, title: str, label: str) -> list[str]:
    sections = text.split("### ")[1:]
    index = next(i for i, s in enumerate(sections) if s.startswith(title))
    return md_row(text, label, index)


def test_a_stride_and_steps_sweep_gets_the_frontier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "flux_dev_costs", lambda: HandCosts())
    group = tmp_path / "runs" / "ablation_efficiency"
    for attention in ("holistic", "improved_decoupled"):
        for stride in (1, 2):
            folder = write_run(group, attention, 0, ("both", "both-steps4"), model__mask_token_stride=stride)
            metrics = json.loads((folder / METRICS_FILE).read_text())
            for key, steps in (("both", 28), ("both-steps4", 4)):
                metrics["eval"][key]["mask_accuracy"] = ACCURACY[attention, stride, steps]
            (folder / METRICS_FILE).write_text(json.dumps(metrics))
            folder.rename(group / f"{attention}-stride{stride}-s0")
    sweep = write_sweep(
        tmp_path,
        "ablation_efficiency",
        **{"model.mask_token_stride": {"values": [1, 2]}, "eval.steps": {"values": [28, 4]}, "seed": {"values": [0]}},
    )
    paths, text = build(sweep)
    assert paths["frontier"].is_file() and paths["frontier"].stat().st_size > 10_000

    title = "The cost-quality frontier"
    front = {
        "improved_decoupled, mask_token_stride=2, steps=4": True,  # 12 TF
        "holistic, mask_token_stride=2, steps=4": True,  # 16 TF, better
        "improved_decoupled, mask_token_stride=1, steps=4": False,  # 24 TF, beaten by stride 2 at 28 steps
        "improved_decoupled, mask_token_stride=2, steps=28": True,  # 24 TF
        "improved_decoupled, mask_token_stride=1, steps=28 (paper's improved)": True,  # 48 TF
        "holistic, mask_token_stride=1, steps=4": False,  # 64 TF, 60 %
        "holistic, mask_token_stride=2, steps=28": False,  # 112 TF, 70 %
        "holistic, mask_token_stride=1, steps=28 (paper's holistic)": True,  # 448 TF, the best
    }
    lines = [ln for ln in text.split(f"### {title}")[1].splitlines() if ln.startswith("| ") and "---" not in ln]
    assert [ln.split(" | ")[0].removeprefix("| ") for ln in lines[1:]] == list(front)  # cheapest first (FLUX)
    for label, on_front in front.items():
        cells = _row(text, title, label)
        assert cells[-1].split(" / ")[1] == ("yes" if on_front else "no")
    assert _row(text, title, "holistic, mask_token_stride=1, steps=28 (paper's holistic)")[4] == "0.0%"
    run_scale = [float(_row(text, title, f"improved_decoupled, mask_token_stride=2, steps={n}")[2]) for n in (4, 28)]
    assert 0 < run_scale[0] < run_scale[1]  # counted on the runs' own (embedded) backbone, at the row's steps
    # the paper's published numbers stand beside its own setting only
    paper_column = -3
    assert md_row(text, "holistic, mask_token_stride=1, steps=28")[paper_column] == "94.72"
    assert md_row(text, "holistic, mask_token_stride=2, steps=28")[paper_column] == ""
