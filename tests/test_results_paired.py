"""Paired comparisons in the tables: each row minus the reference row on the same test samples and seeds, its 95 %
interval, a permutation p-value Holm-corrected across the rows, a * where significant; in Markdown, CSV, LaTeX,
the figure and the W&B report; rows that cannot be paired say why.

Runs are built by hand (tests/test_results_intervals.py's `scored_run`): a row identical to the reference, rows
shifted by known amounts. Means, differences and Holm's correction are computed here by hand; the interval bounds
and raw p-values come from mdit.results.stats on the same data (what the table must carry)."""

from __future__ import annotations

import csv
import importlib.util
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_results_intervals import GROUP, sample_values, scored_run
from test_results_report import offline  # noqa: F401  (the fixture: no network while reports are built)
from test_results_table import build, md_headers, md_row, write_sweep

from mdit.cli import main
from mdit.results import table as table_module
from mdit.results.collect import collect_local, sweep_parameters
from mdit.results.conflict import SET_KEY
from mdit.results.paired import PAIRED_RESAMPLES
from mdit.results.plot import figure
from mdit.results.references import PLAIN, REFERENCES, choose_reference
from mdit.results.report import build_report, describe
from mdit.results.rows import setting_label
from mdit.results.stats import RESAMPLES, format_paired, paired_difference
from mdit.results.table import make_table
from mdit.scores import scores_path, write_scores

ROOT = Path(__file__).resolve().parents[1]
FLOOR = 2 / (PAIRED_RESAMPLES + 1)  # scipy's two-sided p when no random sign flip reaches the observed difference


@pytest.fixture(autouse=True)
def no_flux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "flux_dev_costs", lambda: None)


def attention_sweep(tmp_path: Path, variants: list[str], seeds: tuple[int, ...] = (0,), name: str = GROUP) -> Path:
    return write_sweep(tmp_path, name, **{"model.attention": {"values": variants}, "seed": {"values": list(seeds)}})


def csv_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as handle:
        return {row["setting"]: row for row in csv.DictReader(handle)}


def paired_rows(text: str) -> list[str]:
    """The setting column of the Markdown "Paired differences" section."""
    section = next(part for part in text.split("### ")[1:] if part.startswith("Paired differences"))
    return [line.split(" | ")[0][2:] for line in section.splitlines()[4:] if line.startswith("| ")]


def holm_by_hand(p: list[float]) -> list[float]:
    """Holm's step-down adjustment, written out: the k-th smallest p times (m - k + 1), running maximum, capped at 1."""
    m, order = len(p), sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * m, 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        adjusted[i] = running
    return adjusted


def test_an_identical_row_and_a_shifted_row(tmp_path: Path) -> None:
    group = tmp_path / "runs" / GROUP
    reference, same, shifted = sample_values(), sample_values(), sample_values(shift=3.0, noise=1.0)
    scored_run(group, "holistic", 0, reference)
    scored_run(group, "hard_decoupled", 0, same)
    scored_run(group, "improved_decoupled", 0, shifted)
    paths, text = build(attention_sweep(tmp_path, ["holistic", "hard_decoupled", "improved_decoupled"]))

    assert md_headers(text, 1) == ["setting", "seeds", "samples", "Δ mask acc. (%)", "Δ mIoU (%)", "Δ CLIP-T"]
    assert paired_rows(text) == ["hard_decoupled", "improved_decoupled"]  # the reference is the section's title
    assert "### Paired differences vs holistic (row − holistic, same test samples and seeds)" in text
    # the identical row: every difference 0, a zero-width interval, p = 1 (every sign flip gives 0), no mark
    assert md_row(text, "hard_decoupled", 1)[1:4] == ["1", "64", "+0.00 [0.00, 0.00] p=1.000"]
    rows = csv_rows(paths["csv"])
    same_row, moved = rows["hard_decoupled"], rows["improved_decoupled"]
    assert [float(same_row[f"mask_accuracy_{s}"]) for s in ("diff", "diff_low", "diff_high", "p", "p_holm")] == [
        0.0,
        0.0,
        0.0,
        1.0,
        1.0,
    ]
    # the shifted row: the mean difference by hand, an interval around the true shift of 3, the smallest p there is
    x, y = shifted["mask_accuracy"], reference["mask_accuracy"]
    assert float(moved["mask_accuracy_diff"]) == pytest.approx(float(np.mean(x - y)), abs=1e-12)
    assert float(moved["mask_accuracy_diff_low"]) < 3.0 < float(moved["mask_accuracy_diff_high"])
    assert float(moved["mask_accuracy_p"]) == pytest.approx(FLOOR)
    assert float(moved["mask_accuracy_p_holm"]) == pytest.approx(holm_by_hand([FLOOR, 1.0])[0])  # 2 x FLOOR
    expected = paired_difference(x, y)  # the numbers the table must carry, from the statistics module
    assert float(moved["mask_accuracy_diff_low"]) == expected.low
    assert float(moved["mask_accuracy_diff_high"]) == expected.high
    cell = md_row(text, "improved_decoupled", 1)[3]
    assert cell == format_paired(expected, 2 * FLOOR) and cell.endswith("p<0.001*")
    assert not md_row(text, "hard_decoupled", 1)[3].endswith("*")
    # CLIP-T is unchanged in every row (sample_values shifts only the mask): no mark there either
    assert md_row(text, "improved_decoupled", 1)[5] == "+0.00 [0.00, 0.00] p=1.000"
    assert moved["reference"] == "holistic" and moved["not_paired"] == ""
    tex = paths["tex"].read_text()
    assert r"\label{tab:ablation-attention-paired}" in tex and tex.count(r"\begin{table}") == 3
    assert r"\multicolumn{3}{c}{paired difference vs holistic}" in tex and r"p\textless{}0.001*" in tex
    note = next(line for line in text.splitlines() if line.startswith("- Paired differences vs holistic:"))
    assert "paired by `sample`, identical generation `seed`s" in note and "95 % bootstrap CI" in note
    assert "Holm-corrected per metric across the 2 rows compared; * = significant at 0.05 after Holm" in note
    assert f"{RESAMPLES:,} random ones" in note


def test_holm_across_three_rows(tmp_path: Path) -> None:
    """Shifts of 3, 0.6 and 0.1 points (noise sd 2, 64 samples): p in that order, adjusted by hand; 0.6 is
    significant alone (raw p about 0.03) but not after the correction for three rows."""
    group = tmp_path / "runs" / GROUP
    scored_run(group, "holistic", 0, sample_values())
    scored_run(group, "improved_decoupled", 0, sample_values(shift=3.0, noise=2.0, noise_seed=101))
    scored_run(group, "hard_decoupled", 0, sample_values(shift=0.6, noise=2.0, noise_seed=102))
    scored_run(group, "concat", 0, sample_values(shift=0.1, noise=2.0, noise_seed=201))
    variants = ["concat", "holistic", "hard_decoupled", "improved_decoupled"]
    paths, text = build(attention_sweep(tmp_path, variants))
    rows = csv_rows(paths["csv"])
    order = ["improved_decoupled", "hard_decoupled", "concat"]
    raw = [float(rows[label]["mask_accuracy_p"]) for label in order]
    assert raw == sorted(raw) and raw[0] == pytest.approx(FLOOR) and 0.025 < raw[1] < 0.05 and raw[2] > 0.2
    adjusted = [float(rows[label]["mask_accuracy_p_holm"]) for label in order]
    assert adjusted == pytest.approx(holm_by_hand(raw))
    assert adjusted[1] == pytest.approx(2 * raw[1]) and adjusted[1] > 0.05  # the correction takes its mark away
    marks = {label: md_row(text, label, 1)[3].endswith("*") for label in order}
    assert marks == {"improved_decoupled": True, "hard_decoupled": False, "concat": False}
    assert paired_rows(text) == ["concat", "hard_decoupled", "improved_decoupled"]  # the table's own row order


def test_several_seeds_are_paired_seed_by_seed_and_averaged(tmp_path: Path) -> None:
    group = tmp_path / "runs" / GROUP
    values = {}
    for seed in (0, 1):
        values["holistic", seed] = sample_values(data_seed=seed)
        values["improved_decoupled", seed] = sample_values(shift=1.0 + seed, data_seed=seed, noise=1.0, noise_seed=seed)
        for attention in ("holistic", "improved_decoupled"):
            scored_run(group, attention, seed, values[attention, seed])
    scored_run(group, "improved_decoupled", 2, sample_values(shift=9.0))  # no holistic run of seed 2: left out
    paths, text = build(attention_sweep(tmp_path, ["holistic", "improved_decoupled"], seeds=(0, 1, 2)))
    x = (values["improved_decoupled", 0]["mask_accuracy"] + values["improved_decoupled", 1]["mask_accuracy"]) / 2
    y = (values["holistic", 0]["mask_accuracy"] + values["holistic", 1]["mask_accuracy"]) / 2
    row = csv_rows(paths["csv"])["improved_decoupled"]
    assert float(row["mask_accuracy_diff"]) == pytest.approx(float(np.mean(x - y)), abs=1e-12)  # 1.5 + noise
    expected = paired_difference(x, y)
    assert (float(row["mask_accuracy_diff_low"]), float(row["mask_accuracy_diff_high"])) == (
        expected.low,
        expected.high,
    )
    assert md_row(text, "improved_decoupled", 1)[1:4] == ["2", "64", format_paired(expected, expected.p_value)]
    assert (
        "- Several training seeds (0, 1): each run is paired with the holistic run of the same seed and the per-sample "
        "differences are averaged over the seeds both rows have before the interval and the test, so both are over "
        "test samples, not over seeds." in text
    )
    assert "- Left out of the paired differences (no run of the same training seed in the other row): " in text
    assert "other row): improved_decoupled-s2." in text


def test_rows_on_other_seeds_are_not_paired(tmp_path: Path) -> None:
    """Other generation seeds (eval.seed) or no training seed in common: no difference, a note, out of Holm's family."""
    group = tmp_path / "runs" / GROUP
    scored_run(group, "holistic", 0, sample_values())
    scored_run(group, "concat", 0, sample_values(shift=1.0), generation_seed=7)  # evaluated with another eval.seed
    scored_run(group, "hard_decoupled", 1, sample_values(shift=2.0))  # trained with another seed only
    scored_run(group, "improved_decoupled", 0, sample_values(shift=3.0, noise=1.0))
    variants = ["concat", "holistic", "hard_decoupled", "improved_decoupled"]
    paths, text = build(attention_sweep(tmp_path, variants, seeds=(0, 1)))
    assert md_row(text, "concat", 1)[1:4] == ["—", "—", "not paired"]
    assert md_row(text, "hard_decoupled", 1)[3] == "not paired"
    assert (
        "- Not paired with holistic: concat (mask acc. (%), mIoU (%), CLIP-T): concat-s0 and holistic-s0 generated "
        "with different seeds (eval.seed)." in text
    )
    assert (
        "- Not paired with holistic: hard_decoupled (mask acc. (%), mIoU (%), CLIP-T): no training seed in common"
        in text
    )
    rows = csv_rows(paths["csv"])
    assert rows["concat"]["mask_accuracy_diff"] == "" and "different seeds" in rows["concat"]["not_paired"]
    moved = rows["improved_decoupled"]
    assert moved["mask_accuracy_p_holm"] == moved["mask_accuracy_p"]  # alone in its family: Holm changes nothing
    assert "across the 1 row compared" in text


def test_runs_without_scores_are_not_compared(tmp_path: Path) -> None:
    group = tmp_path / "runs" / GROUP
    scored_run(group, "holistic", 0, sample_values())
    scored_run(group, "improved_decoupled", 0, sample_values(shift=3.0), scores=False)
    _, text = build(attention_sweep(tmp_path, ["holistic", "improved_decoupled"]))
    assert "### Paired differences" not in text
    assert (
        "- Not paired with holistic: improved_decoupled (mask acc. (%), mIoU (%), CLIP-T): no per-sample scores for "
        "improved_decoupled-s0: evaluated before per-sample scores: rerun `mdit eval`." in text
    )


def test_the_reference_is_the_option_else_the_sweeps_default(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    group = tmp_path / "runs" / GROUP
    scored_run(group, "holistic", 0, sample_values())
    scored_run(group, "improved_decoupled", 0, sample_values(shift=3.0, noise=1.0))
    sweep = attention_sweep(tmp_path, ["holistic", "improved_decoupled"])
    out = tmp_path / "results"
    argv = ["table", str(sweep), "--runs", str(tmp_path / "runs"), "--out", str(out), "--no-flux-dev"]
    assert main([*argv, "--reference", "off"]) == 0
    assert "Paired differences" not in (out / f"{GROUP}.md").read_text()
    assert main([*argv, "--reference", "improved_decoupled"]) == 0
    text = (out / f"{GROUP}.md").read_text()
    assert "### Paired differences vs improved_decoupled" in text and md_row(text, "holistic", 1)[3].startswith("-3.")
    capsys.readouterr()
    assert main([*argv, "--reference", "nope"]) == 2
    assert capsys.readouterr().err.strip() == (
        "mdit table: error: --reference nope: no such row; the rows are holistic, improved_decoupled"
    )
    assert choose_reference(GROUP, None).label == "holistic" and choose_reference("dropout", None) is None
    only = attention_sweep(tmp_path / "other", ["improved_decoupled"])  # the default's row is not in this table
    scored_run(tmp_path / "other" / "runs" / GROUP, "improved_decoupled", 0, sample_values())
    _, text = build(only)
    assert "- No paired differences: no row holistic (this sweep's default reference) here." in text


def test_the_tokenization_table_is_against_concat(tmp_path: Path) -> None:
    group = tmp_path / "runs" / "ablation_tokenization"
    concat, tokens = sample_values(), sample_values(shift=-2.0, noise=1.0)
    scored_run(group, "concat", 0, concat)
    scored_run(group, "improved_decoupled", 0, tokens)
    paths, text = build(attention_sweep(tmp_path, ["concat", "improved_decoupled"], name="ablation_tokenization"))
    assert "### Paired differences vs concat" in text and paired_rows(text) == ["improved_decoupled"]
    row = csv_rows(paths["csv"])["improved_decoupled"]
    difference = float(np.mean(tokens["mask_accuracy"] - concat["mask_accuracy"]))  # -2 plus the noise's mean
    assert float(row["mask_accuracy_diff"]) == pytest.approx(difference, abs=1e-12)
    assert float(row["mask_accuracy_diff_low"]) < -2.0 < float(row["mask_accuracy_diff_high"])
    assert md_row(text, "improved_decoupled", 1)[3].startswith(f"{difference:+.2f} [")


def test_the_default_references_are_rows_of_their_sweeps_which_cannot_name_them() -> None:
    """W&B's sweep schema forbids keys of our own at the top level: the registry, not the YAML, names them."""
    package = importlib.util.find_spec("sweeps").submodule_search_locations[0]  # found, not imported (it warns)
    schema = json.loads((Path(package) / "config" / "schema.json").read_text())
    assert schema["additionalProperties"] is False and "reference" not in schema["properties"]
    for sweep, label in REFERENCES.items():
        swept = sweep_parameters(ROOT / "sweeps" / f"{sweep}.yaml")
        if label == PLAIN:  # each row against its own training sampled plainly: the sweep varies the sampling
            assert any(key.startswith("eval.") and key not in ("eval.mode", "eval.set") for key in swept), sweep
        else:
            rows = {key: values for key, values in swept.items() if key != SET_KEY}  # the pairs are another table
            labels = {setting_label(dict(zip(rows, combo)), sweep) for combo in itertools.product(*rows.values())}
            assert label in labels, sweep
        assert "reference" not in yaml.safe_load((ROOT / "sweeps" / f"{sweep}.yaml").read_text())


def test_the_figure_draws_the_intervals_and_marks_the_significant_row(tmp_path: Path) -> None:
    group = tmp_path / "runs" / GROUP
    scored_run(group, "holistic", 0, sample_values())
    scored_run(group, "hard_decoupled", 0, sample_values())
    scored_run(group, "improved_decoupled", 0, sample_values(shift=3.0, noise=1.0))
    variants = ["holistic", "hard_decoupled", "improved_decoupled"]
    sweep = attention_sweep(tmp_path, variants)
    table = make_table(
        GROUP, "", collect_local(group), sweep_parameters(sweep), None, reference=choose_reference(GROUP, None)
    )
    ax = figure(table).axes[0]
    bars = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    spans = [tuple(c.lines[2][0].get_segments()[0][:, 1]) for c in bars]
    for row, span in zip(table.rows, spans):
        interval = row.intervals["mask_accuracy"].interval
        assert span == pytest.approx((interval.low, interval.high))
    texts = {t.get_text(): t.xy[0] for t in ax.texts}
    assert set(texts) == {"ref.", "*"} and texts["*"] == pytest.approx(2 - 0.2)  # over improved_decoupled's bar
    assert "95 % CI over samples" in ax.get_legend_handles_labels()[1]


def test_the_report_shows_the_table(tmp_path: Path, offline, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    import wandb_workspaces.reports.v2 as wr

    group = tmp_path / "runs" / GROUP
    scored_run(group, "holistic", 0, sample_values())
    scored_run(group, "improved_decoupled", 0, sample_values(shift=3.0, noise=1.0))
    paths, text = build(attention_sweep(tmp_path, ["holistic", "improved_decoupled"]))
    sweep = ROOT / "sweeps" / f"{GROUP}.yaml"
    report = build_report(sweep, "e", "p", table=text)
    (block,) = [b for b in report.blocks if isinstance(b, wr.MarkdownBlock)]
    assert block.text == text and "Paired differences vs holistic" in block.text
    assert f"  [table] MarkdownBlock: {len(text.splitlines())} lines" in describe(report)
    assert not any(isinstance(b, wr.MarkdownBlock) for b in build_report(sweep, "e", "p").blocks)
    assert main(["report", str(sweep), "--entity", "e", "--table", str(paths["md"])]) == 0
    assert "[table] MarkdownBlock" in capsys.readouterr().out


def test_a_table_of_a_few_rows_stays_within_seconds() -> None:
    """The permutation count is the statistics module's default: at the default 256 test samples a test takes
    well under a second, so 4 rows x 4 metrics take seconds."""
    import time

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=256), rng.normal(size=256)
    start = time.perf_counter()
    paired_difference(x, y, resamples=PAIRED_RESAMPLES)
    assert PAIRED_RESAMPLES == RESAMPLES and time.perf_counter() - start < 2.0


def _add_evaluation(folder: Path, key: str, values: dict, seconds: float) -> None:
    """A second evaluation of the same run (another sampling), as `mdit eval` files it: metrics and scores."""
    metrics = json.loads((folder / "metrics.json").read_text())
    means = {k: None if v is None else round(float(np.mean(v)), 4) for k, v in values.items()}
    latency = {"seconds_per_image": seconds, "seconds_per_image_plain": 0.5, "latency_ratio_vs_plain": seconds / 0.5}
    metrics["eval"][key] = {**means, "frechet": 1.0, "real_images": {}, "count": len(values["mask_accuracy"])}
    metrics["eval"][key]["latency"] = latency
    metrics["eval"]["both"]["latency"] = {**latency, "seconds_per_image": 0.5, "latency_ratio_vs_plain": 1.0}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    rows = [
        {"sample": i, "sample_id": 5000 + i, "seed": 1000 + i, "caption_index": i % 3,
         **{k: None if v is None else float(v[i]) for k, v in values.items()}}
        for i in range(len(values["mask_accuracy"]))
    ]  # fmt: skip
    write_scores(scores_path(folder, key), rows)


def test_a_sampling_sweep_pairs_each_row_with_its_own_training_sampled_plainly(tmp_path: Path) -> None:
    group = tmp_path / "runs" / "guidance"
    plain = sample_values()
    _add_evaluation(scored_run(group, "holistic", 0, plain), "both-mask_strength2", sample_values(), 1.5)
    improved = scored_run(group, "improved_decoupled", 0, sample_values(data_seed=3))
    _add_evaluation(improved, "both-mask_strength2", sample_values(data_seed=3, shift=3.0, noise=1.0), 0.75)
    sweep_file = write_sweep(
        tmp_path,
        "guidance",
        **{"model.attention": {"values": ["holistic", "improved_decoupled"]}, "seed": {"values": [0]},
           "eval.mask_strength": {"values": [1.0, 2.0]}},
    )  # fmt: skip
    paths, text = build(sweep_file)
    assert "### Paired differences vs the plain sampling of its training" in text
    assert paired_rows(text) == ["holistic, mask_strength=2.0", "improved_decoupled, mask_strength=2.0"]
    assert md_row(text, "holistic, mask_strength=2.0", 1)[3] == "+0.00 [0.00, 0.00] p=1.000"  # the same samples
    shifted = md_row(text, "improved_decoupled, mask_strength=2.0", 1)[3]
    assert shifted.startswith("+3.") and shifted.endswith(
        "p<0.001*"
    )  # against improved's own plain row, not holistic's
    cost = md_headers(text, 2)
    assert cost[-5:-3] == ["s/img, its sampling", "× plain sampling"]
    assert (
        md_row(text, "holistic, mask_strength=2.0", 2)[-4] == "3.00"
        and md_row(text, "holistic, mask_strength=1.0", 2)[-4] == "1.00"
    )
    assert csv_rows(paths["csv"])["improved_decoupled, mask_strength=2.0"]["sampling_ratio_mean"] == "1.5"
