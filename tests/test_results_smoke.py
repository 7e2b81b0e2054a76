"""Smoke tables: runs of the smoke profile (known from their own config, or from `--profile smoke`) make tables,
CSVs, LaTeX and figures that say their numbers are not meaningful; every other table is left as it was."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_results_table import FAKE_FLUX, build, md_row, write_run, write_sweep

from mdit.results import table as table_module
from mdit.results.collect import CONFIG_FILE, collect_local, sweep_parameters
from mdit.results.plot import figure
from mdit.results.smoke import TITLE_SUFFIX, is_smoke_run, smoke_line, smoke_settings
from mdit.results.table import make_table

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = smoke_settings(ROOT / "experiments" / "profiles")
LINE = smoke_line(SETTINGS)
GROUP = "ablation_attention"


def write_runs(root: Path, **config: Any) -> Path:
    """2 variants x 2 seeds under root/runs/<GROUP>, each with `config` in its config.yaml; the sweep file."""
    for attention in ("holistic", "improved_decoupled"):
        for seed in (0, 1):
            write_run(root / "runs" / GROUP, attention, seed, **config)
    return write_sweep(root)


def as_smoke_elsewhere(folder: Path, output_dir: str) -> None:
    """A run's config.yaml with every setting of the smoke profile, sent to another output_dir."""
    path = folder / CONFIG_FILE
    config = yaml.safe_load(path.read_text())
    for key, value in SETTINGS.items():
        *sections, leaf = key.split(".")
        node = config
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    config["output_dir"] = output_dir
    path.write_text(yaml.safe_dump(config))


@pytest.fixture(autouse=True)
def fake_flux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "flux_dev_costs", lambda: FAKE_FLUX)


def test_the_line_says_the_numbers_mean_nothing_and_why() -> None:
    assert SETTINGS["output_dir"] == "runs/smoke" and SETTINGS["train.max_steps"] and SETTINGS["eval.count"]
    assert LINE == (
        "Smoke profile: these numbers are not meaningful. The smoke profile only checks that the pipeline runs "
        f"({SETTINGS['train.max_steps']} training steps, {SETTINGS['eval.count']} test samples)."
    )


def test_a_smoke_run_is_known_by_its_output_dir_or_its_settings() -> None:
    smoke_elsewhere = {key: value for key, value in SETTINGS.items() if key != "output_dir"} | {"output_dir": "/x"}
    assert is_smoke_run({"output_dir": "runs/smoke/"}, SETTINGS)
    assert is_smoke_run(smoke_elsewhere, SETTINGS)
    assert not is_smoke_run(smoke_elsewhere | {"train.max_steps": 2000}, SETTINGS)  # one setting changed
    assert not is_smoke_run({"output_dir": "runs"}, SETTINGS) and not is_smoke_run({}, SETTINGS)
    assert not is_smoke_run({"output_dir": "runs/smoke"}, {})  # no profile file: nothing is smoke


def test_smoke_runs_label_every_output_without_a_profile(tmp_path: Path) -> None:
    paths, text = build(write_runs(tmp_path, output_dir="runs/smoke"))
    lines = text.splitlines()
    assert lines[:3] == [f"## {GROUP}{TITLE_SUFFIX}", "", f"**{LINE}**"]
    assert TITLE_SUFFIX == " (smoke profile: numbers not meaningful)"
    assert md_row(text, "holistic")[:3] == ["holistic", "2", "61.00 ± 1.41"]  # the numbers themselves unchanged
    for csv_path in (paths["csv"], paths["csv"].with_name(f"{GROUP}_runs.csv")):
        with csv_path.open() as handle:
            rows = list(csv.DictReader(handle))
        assert csv_path.read_text().startswith("profile,setting,")
        assert rows and all(row["profile"] == "smoke (numbers not meaningful)" for row in rows)
    tex = paths["tex"].read_text()
    assert tex.splitlines()[0].startswith(f"% {GROUP}{TITLE_SUFFIX}: Local runs")
    assert tex.count(r"\caption{ablation\_attention (smoke profile: numbers not meaningful): ") == 2
    assert r"\textbf{Smoke profile: these numbers are not meaningful." in tex


def test_smoke_figure_title(tmp_path: Path) -> None:
    titles = {}
    for kind, config in (("smoke", {"output_dir": "runs/smoke"}), ("plain", {})):
        sweep_file = write_runs(tmp_path / kind, **config)
        runs = collect_local(tmp_path / kind / "runs" / GROUP)
        titles[kind] = figure(make_table(GROUP, "", runs, sweep_parameters(sweep_file), None)).get_suptitle()
    assert titles == {"smoke": f"{GROUP}{TITLE_SUFFIX}\n{LINE}", "plain": GROUP}


def test_smoke_runs_sent_elsewhere_are_still_smoke(tmp_path: Path) -> None:
    """`--profile smoke output_dir=/tmp/x`, read back with `mdit table --runs /tmp/x`: the settings tell."""
    sweep_file = write_runs(tmp_path)
    as_smoke_elsewhere(tmp_path / "runs" / GROUP / "holistic-s0", str(tmp_path / "runs"))
    _, text = build(sweep_file)
    assert text.startswith(f"## {GROUP}{TITLE_SUFFIX}\n\n**{LINE}**\n")


def test_profile_smoke_labels_the_table_of_any_runs(tmp_path: Path) -> None:
    _, text = build(write_runs(tmp_path), profile="smoke")
    assert text.startswith(f"## {GROUP}{TITLE_SUFFIX}\n\n**{LINE}**\n")


@pytest.mark.parametrize("profile", [None, "default", "long"])
def test_other_tables_say_nothing_of_smoke(tmp_path: Path, profile: str | None) -> None:
    paths, text = build(write_runs(tmp_path, output_dir="runs/long"), profile=profile)
    assert text.startswith(f"## {GROUP}\n\nLocal runs: ")
    outputs = [paths[kind].read_text() for kind in ("md", "csv", "tex")]
    assert not any("smoke profile" in output or "not meaningful" in output for output in outputs)
    assert paths["csv"].read_text().startswith("setting,")
