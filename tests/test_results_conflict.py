"""The conflict-set table from handmade runs: each cell is the percentage counted here from the per-sample rows
written, the test rows stay in the main table, and each setting is paired with the reference on the same pairs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_results_table import build, md_row, write_run, write_sweep

from mdit.data.synthfaces.conflict import ATTRIBUTES
from mdit.results.collect import METRICS_FILE
from mdit.scores import scores_path, write_scores

PAIRS = 20  # 4 per attribute
# Who each pair's face follows in the conflict set (1 = the caption, 0 = the mask), per variant: holistic follows the
# caption on 5 of 20 pairs (every hat pair, one eyeglasses pair), improved on 15 (never on open_mouth).
FOLLOWS_CAPTION = {
    "holistic": [1 if i % 5 == 0 or i == 1 else 0 for i in range(PAIRS)],
    "improved_decoupled": [0 if i % 5 == 4 else 1 for i in range(PAIRS)],
}


def _write_sets(folder: Path, attention: str) -> None:
    metrics = json.loads((folder / METRICS_FILE).read_text())
    for which in ("conflict", "agree"):
        rows = []
        for i in range(PAIRS):
            caption = FOLLOWS_CAPTION[attention][i] if which == "conflict" else 1
            mask = (1 - caption) if which == "conflict" else caption
            rows.append(
                {"sample": i, "sample_id": 3_000_000 + i, "seed": 100 + i, "caption_index": 0, "mask_accuracy": 80.0,
                 "miou": 50.0, "clip_t": 20.0, "topiq": None, "attribute": ATTRIBUTES[i % 5],
                 "follows_mask": float(mask), "follows_caption": float(caption)}
            )  # fmt: skip
        write_scores(scores_path(folder, which), rows)
        real = {"follows_mask": 95.0 if which == "conflict" else 97.5, "follows_caption": 2.5}
        metrics["eval"][which] = {**metrics["eval"]["both"], "key": which, "real_images": real}
    (folder / METRICS_FILE).write_text(json.dumps(metrics))


@pytest.fixture
def text_and_root(tmp_path: Path) -> tuple[str, Path]:
    group = tmp_path / "runs" / "ablation_attention"
    for attention in FOLLOWS_CAPTION:
        _write_sets(write_run(group, attention, 0), attention)
    sweep_file = write_sweep(
        tmp_path, **{"seed": {"values": [0]}, "eval.set": {"values": ["test", "conflict", "agree"]}}
    )
    paths, text = build(sweep_file, flux_dev=False)
    assert paths["conflict"] == tmp_path / "results" / "ablation_attention_conflict.md"
    return text, tmp_path


def _percent(values: list[int]) -> float:
    return 100 * sum(values) / len(values)


def test_the_main_table_keeps_the_test_rows_only(text_and_root):
    text, _ = text_and_root
    main = text.split("## ablation_attention: the conflict set")[0]
    assert md_row(main, "holistic")[2] == "60.00" and "set=" not in main


def test_each_cell_is_the_share_of_pairs_counted_by_hand(text_and_root):
    text, root = text_and_root
    conflict = text.split("## ablation_attention: the conflict set")[1]
    for attention, follows in FOLLOWS_CAPTION.items():
        row = md_row(conflict, attention)
        assert row[1] == str(PAIRS)
        assert row[2].startswith(f"{100 - _percent(follows):.1f} [") and row[3].startswith(f"{_percent(follows):.1f} [")
        assert row[4].startswith("100.0")  # the agree set: every face follows both
        per_attribute = md_row(conflict, attention, section=1)[1:]
        for a, cell in enumerate(per_attribute):
            assert cell.startswith(f"{_percent(follows[a::5]):.1f}"), (attention, ATTRIBUTES[a], cell)
    judge = md_row(conflict, "the judge on the real faces")
    assert judge[2:5] == ["95.0", "2.5", "2.5"]
    with open(root / "results" / "ablation_attention_conflict.csv", newline="") as handle:
        records = {r["setting"]: r for r in csv.DictReader(handle)}
    assert float(records["holistic"]["conflict_follows_caption"]) == pytest.approx(
        _percent(FOLLOWS_CAPTION["holistic"])
    )
    assert float(records["holistic"]["conflict_follows_caption:hat"]) == 100.0


def test_each_setting_is_paired_with_the_reference_on_the_same_pairs(text_and_root):
    text, root = text_and_root
    conflict = text.split("## ablation_attention: the conflict set")[1]
    row = md_row(conflict, "improved_decoupled", section=2)
    difference = _percent(FOLLOWS_CAPTION["improved_decoupled"]) - _percent(FOLLOWS_CAPTION["holistic"])
    assert row[1] == str(PAIRS) and row[3].startswith(f"{difference:+.1f} [") and row[3].endswith("*")
    assert row[2].startswith(f"{-difference:+.1f} [")  # the mask loses what the caption gains
    with open(root / "results" / "ablation_attention_conflict.csv", newline="") as handle:
        records = {r["setting"]: r for r in csv.DictReader(handle)}
    assert float(records["improved_decoupled"]["follows_caption_diff_vs_reference"]) == pytest.approx(difference)
    assert float(records["improved_decoupled"]["follows_caption_p_holm"]) < 0.01
