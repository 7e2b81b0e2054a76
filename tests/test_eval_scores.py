"""The per-sample scores file: where it lies, what a CSV row holds, and how it reads back (typed, n/a as None)."""

import math

import pytest

from mdit.evaluation.command import GRID_DIR
from mdit.scores import COLUMNS, read_scores, scores_path, scores_table, write_scores

ROWS = [
    {"sample": 0, "sample_id": 27000, "seed": 123456789, "caption_index": 0, "mask_accuracy": 81.25,
     "miou": 100 * (4 / 5 + 5 / 8 + 4 / 6) / 3, "clip_t": 0.1 + 0.2, "topiq": None},
    {"sample": 1, "sample_id": 27001, "seed": 42, "caption_index": 1, "mask_accuracy": 68.75,
     "miou": 100 * (11 / 16) / 3, "clip_t": -3.5, "topiq": float("nan")},
]  # fmt: skip
NO_CONDITIONS = {"edge_f1": None, "chamfer": None, "nme": None}  # a data set without sketches and keypoints
NOT_CONFLICT = {"attribute": None, "follows_mask": None, "follows_caption": None, **NO_CONDITIONS}  # a test sample's
CONFLICT_ROW = {**ROWS[0], "attribute": "hat", "follows_mask": 0.0, "follows_caption": 1.0, **NO_CONDITIONS}


def test_the_scores_lie_beside_the_grid_one_file_per_mode(tmp_path):
    assert scores_path(tmp_path, "text") == tmp_path / GRID_DIR / "scores_text.csv"
    assert scores_path(tmp_path, "both") != scores_path(tmp_path, "mask")


def test_rows_read_back_typed_exact_and_na_as_none(tmp_path):
    path = write_scores(scores_path(tmp_path, "both"), ROWS)
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert path.read_text().splitlines()[2].endswith(",-3.5,,,,,,")  # NaN TOPIQ: an empty cell, never a number
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # atomic: no temporary file left
    rows = read_scores(tmp_path, "both")
    assert rows[0] == {**ROWS[0], **NOT_CONFLICT}  # floats in their shortest exact form: equal, not just close
    assert rows[1] == {**ROWS[1], "topiq": None, **NOT_CONFLICT}
    assert all(isinstance(row[key], int) for row in rows for key in ("sample", "sample_id", "seed", "caption_index"))
    assert not any(isinstance(row["topiq"], float) and math.isnan(row["topiq"]) for row in rows)


def test_a_conflict_row_keeps_its_attribute_and_who_it_follows(tmp_path):
    write_scores(scores_path(tmp_path, "conflict"), [CONFLICT_ROW])
    assert read_scores(tmp_path, "conflict") == [CONFLICT_ROW]


def test_a_file_from_before_the_conflict_sets_reads_them_as_na(tmp_path):
    path = scores_path(tmp_path, "both")
    path.parent.mkdir()
    path.write_text("sample,sample_id,seed,caption_index,mask_accuracy,miou,clip_t,topiq\n0,7,1,0,50.0,25.0,1.5,\n")
    assert read_scores(tmp_path, "both") == [
        {"sample": 0, "sample_id": 7, "seed": 1, "caption_index": 0, "mask_accuracy": 50.0, "miou": 25.0,
         "clip_t": 1.5, "topiq": None, **NOT_CONFLICT}
    ]  # fmt: skip


def test_a_kept_checkpoint_has_its_own_folder(tmp_path):
    assert scores_path(tmp_path, "both", 1200) == tmp_path / GRID_DIR / "step=001200" / "scores_both.csv"


def test_a_missing_column_is_an_error_naming_it(tmp_path):
    path = scores_path(tmp_path, "mask")
    path.parent.mkdir()
    path.write_text("sample,clip_t\n0,1.0\n")
    with pytest.raises(ValueError, match=r"columns \['sample_id'"):
        read_scores(tmp_path, "mask")


def test_the_table_has_the_file_columns_in_order():
    columns, data = scores_table([{**ROWS[0]}, {**ROWS[1], "topiq": None}])
    assert columns == list(COLUMNS)
    assert data[0] == [
        0,
        27000,
        123456789,
        0,
        None,
        81.25,
        ROWS[0]["miou"],
        0.1 + 0.2,
        None,
        None,
        None,
        None,
        None,
        None,
    ]
    assert data[1][COLUMNS.index("topiq")] is None
