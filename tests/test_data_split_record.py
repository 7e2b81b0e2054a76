"""The data split a run used (metrics.json `data_split`) keeps runs on different splits out of one table row: run
folders and W&B summaries written by hand, read back by the table builder."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml

from mdit.results.collect import CONFIG_FILE, METRICS_FILE, metrics_from_summary
from mdit.results.table import build_table


def record(source: str, **splits: tuple[int, int]) -> dict[str, Any]:
    """A data_split record with each split's (first, last) id, every id in between used."""
    return {
        "source": source,
        **{name: {"count": last - first + 1, "min": first, "max": last} for name, (first, last) in splits.items()},
    }


SWAPPED = record("pickles (swapped back)", train=(0, 23743), val=(23744, 23999), test=(24000, 29999))
# The same split source on another machine whose download holds other pickles.
OTHER = record("pickles", train=(0, 19999), val=(20000, 20255), test=(24000, 29999))


def write_run(group: Path, name: str, attention: str, seed: int, split: dict | None, source: str = "auto") -> None:
    """A finished run folder: config.yaml and a metrics.json with one evaluated mode and, if given, its split."""
    folder = group / name
    folder.mkdir(parents=True)
    data = {"name": "celebamask_hq", "split_source": source, "resolution": 32}
    config = {"seed": seed, "group": group.name, "model": {"attention": attention}, "data": data}
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(config))
    metrics: dict[str, Any] = {"attention": attention, "steps": 10, "eval": {"both": {"mask_accuracy": 50.0 + seed}}}
    if split is not None:
        metrics["data_split"] = split
    (folder / METRICS_FILE).write_text(json.dumps(metrics))


def table(tmp_path: Path) -> tuple[list[dict[str, str]], str]:
    """The rows (CSV) and Markdown of the sweep over holistic / improved_decoupled x seeds 0, 1."""
    sweep = tmp_path / "sweeps" / "splits.yaml"
    sweep.parent.mkdir(parents=True)
    sweep.write_text(
        yaml.safe_dump(
            {
                "method": "grid",
                "parameters": {
                    "model.attention": {"values": ["holistic", "improved_decoupled"]},
                    "seed": {"values": [0, 1]},
                },
            }
        )
    )
    paths = build_table(
        sweep, out_dir=tmp_path / "results", runs_root=tmp_path / "runs", flux_dev=False, echo=lambda text: None
    )
    with paths["csv"].open() as file:
        return list(csv.DictReader(file)), paths["md"].read_text()


def test_runs_on_one_split_share_their_rows(tmp_path: Path) -> None:
    group = tmp_path / "runs" / "splits"
    for attention in ("holistic", "improved_decoupled"):
        for seed in (0, 1):
            write_run(group, f"{attention}-s{seed}", attention, seed, SWAPPED)
    write_run(group, "concat-s0", "concat", 0, OTHER)  # not in the sweep file: left out, its split too
    rows, markdown = table(tmp_path)
    assert [(row["setting"], row["n"]) for row in rows] == [("holistic", "2"), ("improved_decoupled", "2")]
    assert "data splits" not in markdown and "Left out (values not in the sweep file): concat-s0" in markdown


def test_runs_on_different_splits_never_share_a_row(tmp_path: Path) -> None:
    """The two holistic seeds ran with data.split_source=auto on two machines whose pickles differ: only their
    metrics.json tells them apart. A run from before the record existed is a row of its own."""
    group = tmp_path / "runs" / "splits"
    write_run(group, "holistic-s0", "holistic", 0, SWAPPED)
    write_run(group, "holistic-s1", "holistic", 1, OTHER)
    write_run(group, "improved_decoupled-s0", "improved_decoupled", 0, SWAPPED)
    write_run(group, "improved_decoupled-s1", "improved_decoupled", 1, None)
    rows, markdown = table(tmp_path)
    assert [(row["setting"], row["data_split"], row["n"], row["runs"]) for row in rows] == [
        ("holistic [split 1]", "1", "1", "holistic-s0"),
        ("holistic [split 2]", "2", "1", "holistic-s1"),
        ("improved_decoupled [split 1]", "1", "1", "improved_decoupled-s0"),
        ("improved_decoupled [split ?]", "?", "1", "improved_decoupled-s1"),
    ]
    assert (
        "split 1 = pickles (swapped back): train 23744 ids 0..23743, val 256 ids 23744..23999, test 6000 ids "
        "24000..29999; split 2 = pickles: train 20000 ids 0..19999"
    ) in markdown
    assert "split ? = not recorded" in markdown


def test_the_split_source_in_the_config_alone_does_not_split_rows_but_its_record_does(tmp_path: Path) -> None:
    """Rows group by the swept values, not by the rest of the config: data.split_source=ranges against auto
    separates the runs through the different data_split each recorded."""
    group = tmp_path / "runs" / "splits"
    ranges = {**SWAPPED, "source": "ranges"}
    write_run(group, "holistic-s0", "holistic", 0, SWAPPED, source="auto")
    write_run(group, "holistic-s1", "holistic", 1, ranges, source="ranges")
    rows, _ = table(tmp_path)
    assert [row["setting"] for row in rows] == ["holistic [split 1]", "holistic [split 2]"]


def test_a_wandb_summary_gives_the_record_back() -> None:
    """W&B flattens nested summary values into `data_split/train/count` and so on."""
    flat = {"data_split/source": "ranges", "eval/both/mask_accuracy": 50.0}
    flat |= {
        f"data_split/{split}/{key}": value
        for split in ("train", "val", "test")
        for key, value in SWAPPED[split].items()
    }
    assert metrics_from_summary(flat)["data_split"] == {**SWAPPED, "source": "ranges"}
    nested = {"data_split": SWAPPED, "eval": {"both": {"mask_accuracy": 50.0}}}
    assert metrics_from_summary(nested)["data_split"] == SWAPPED
