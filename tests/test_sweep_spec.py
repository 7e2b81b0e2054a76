"""Sweep YAMLs: W&B's own schema, one entry point, parameters the config accepts; the parameters -> run mapping."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from mdit.cli import main
from mdit.config import ConfigError, load_config
from mdit.evaluation.results import METRICS
from mdit.model import STRATEGIES
from mdit.sweep.engine import grid_points, run_count
from mdit.sweep.params import format_args, parse_args, plan_trial
from mdit.sweep.profiles import PROFILES_DIR, available, profile_files
from mdit.sweep.spec import ARGS_MACRO, ENTRY, PROGRAM, SweepSpecError, check_sweep, load_sweep, with_launch
from mdit.sweep.state import summary

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import sweeps

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))
BASE = ROOT / "experiments" / "synthfaces.yaml"


def _yaml(name: str) -> dict:
    return yaml.safe_load((ROOT / "sweeps" / name).read_text())


def test_the_four_sweeps_exist():
    assert {p.stem for p in SWEEPS} >= {"ablation_attention", "ablation_tokenization", "unimodal", "dropout"}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_sweep_yaml_is_a_valid_wandb_sweep(path):
    config = yaml.safe_load(path.read_text())
    assert sweeps.schema_violations_from_proposed_config(config) == []
    sweeps.SweepConfig(config)  # W&B's validation and defaults: raises on a bad config
    spec = load_sweep(path)  # and this repository's conventions
    assert spec.group == path.stem == config["parameters"]["group"]["value"] == config["name"]
    first = sweeps.next_run(config, [], validate=True)  # W&B's engine proposes runs from it
    assert first is not None and "group" in first.config


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_command_and_program_are_the_one_entry_point(path):
    config = yaml.safe_load(path.read_text())
    command = config["command"]
    assert tuple(command[: len(ENTRY)]) == ENTRY and command[-1] == ARGS_MACRO
    module = command[command.index("-m") + 1]
    assert config["program"] == PROGRAM and (ROOT / PROGRAM).is_file()
    assert Path(config["program"]).parent.as_posix().replace("/", ".") == module  # mdit/cli/__main__.py: mdit.cli
    files = load_sweep(path).config_files
    assert files and all((ROOT / f).is_file() for f in files)


def test_attention_sweep_covers_every_strategy_and_the_engine_visits_them():
    config = _yaml("ablation_attention.yaml")
    assert set(config["parameters"]["model.attention"]["values"]) == set(STRATEGIES)  # `none`: the text-only row
    runs = []
    while (run := sweeps.next_run(config, runs)) is not None:
        run.state = "finished"
        runs.append(run)
    visited = sorted((r.config["model.attention"]["value"], r.config["eval.set"]["value"]) for r in runs)
    assert visited == sorted((s, e) for s in STRATEGIES for e in ("test", "conflict", "agree"))  # each set evaluated
    assert run_count(load_sweep(ROOT / "sweeps" / "ablation_attention.yaml")) == 3 * len(STRATEGIES)


def test_tokenization_unimodal_and_dropout_sweep_what_they_say():
    assert _yaml("ablation_tokenization.yaml")["parameters"]["model.attention"]["values"] == [
        "concat",
        "improved_decoupled",
    ]
    assert _yaml("unimodal.yaml")["parameters"]["eval.mode"]["values"] == ["both", "text", "mask"]
    dropout = _yaml("dropout.yaml")["parameters"]
    assert dropout["dropout"]["values"] == [0.0, 0.1, 0.2] and "eval.mode" in dropout
    assert run_count(load_sweep(ROOT / "sweeps" / "dropout.yaml")) == 9


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda c: c["parameters"].update({"model.atention": {"values": ["concat"]}}), "model.atention"),
        (lambda c: c["parameters"].update({"model.attention": {"values": ["bogus"]}}), "bogus"),
        (lambda c: c["parameters"].update({"eval.mode": {"values": ["sketch"]}}), "eval.mode"),
        (lambda c: c["parameters"].pop("group"), "group"),
        (lambda c: c["parameters"].update({"group": {"value": "other"}}), "group"),
        (lambda c: c["command"].pop(), ARGS_MACRO),
        (lambda c: c["command"].insert(5, "--verbose"), "-c FILE"),
        (lambda c: c.update({"program": "train.py"}), "program"),
        (lambda c: c.update({"bogus_key": 1}), "bogus_key"),
        (lambda c: c.update({"method": "annealing"}), "annealing"),
    ],
)
def test_broken_sweeps_are_errors_that_say_what_is_wrong(tmp_path, change, fragment):
    config = _yaml("ablation_attention.yaml")
    change(config)
    path = tmp_path / "ablation_attention.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(SweepSpecError, match=fragment.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")):
        load_sweep(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: x\nmethod: grid\nparameters:\n  seed: values: [0]\n", " line 4: mapping values are not allowed here"),
        ("name: x\nmethod: grid\n\tparameters: {}\nproject: p\n", " line 3: found character '\\t' that cannot start"),
        (
            "- method: grid\n",
            ": a sweep YAML must be a mapping of W&B sweep keys (method, parameters, ...), it holds a list",
        ),
        (
            "# only a comment\n",
            ": a sweep YAML must be a mapping of W&B sweep keys (method, parameters, ...), it holds nothing",
        ),
    ],
)
def test_a_yaml_that_does_not_parse_or_holds_no_mapping_is_one_line_naming_file_and_line(
    tmp_path, capsys, text, message
):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(SweepSpecError) as caught:
        load_sweep(path)
    assert str(caught.value).startswith(f"{path}{message}") and "\n" not in str(caught.value)
    assert main(["sweep", str(path)]) == 2  # the command says it in one line
    assert capsys.readouterr().err == f"mdit sweep: error: {caught.value}\n"


def test_check_sweep_lists_every_problem():
    config = _yaml("ablation_attention.yaml")
    config["parameters"]["group"]["value"] = "x"
    config["program"] = "x.py"
    assert len(check_sweep(config, "ablation_attention")) == 2


def _evaluated(modes) -> dict:
    """metrics.json of a run trained and evaluated in `modes`, with every key `mdit eval` writes."""
    results = {key: 1.0 for key, _ in METRICS} | {"count": 4, "real_images": {"mask_accuracy": 1.0}}
    return {"steps": 4, "val_loss": 0.1, "tflops_delta": 0.5, "eval": {mode: results for mode in modes}}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_sweep_has_a_metric_that_each_of_its_runs_reports(path):
    spec = load_sweep(path)
    metric = spec.config.get("metric", {})
    assert metric.get("goal") in ("maximize", "minimize"), f"{path.name}: no metric goal"
    base = load_config([ROOT / f for f in spec.config_files])
    for params in grid_points(spec):
        trial = plan_trial(format_args(params), spec.fixed_overrides, base)
        keys = [trial.evaluation]
        assert metric.get("name") in summary(_evaluated(keys), keys), (path.name, trial.label)


def test_with_launch_swaps_configs_adds_fixed_overrides_and_seeds():
    spec = load_sweep(ROOT / "sweeps" / "ablation_attention.yaml")
    launched = with_launch(spec, ["a.yaml", "b.yaml"], ["train.threads=2"], [0, 1, 2])
    assert launched.config_files == ["a.yaml", "b.yaml"] and launched.fixed_overrides == ["train.threads=2"]
    assert launched.config["parameters"]["seed"] == {"values": [0, 1, 2]}
    assert run_count(launched) == 45 and launched.group == spec.group  # 5 strategies x 3 sets x 3 seeds
    assert check_sweep(launched.config, spec.group) == []
    assert spec.config_files == ["experiments/synthfaces.yaml"]  # the original is untouched
    assert with_launch(spec).config == spec.config


def test_args_are_formatted_as_wandbs_agent_formats_them():
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    params = {"dropout": 0.1, "eval.mode": "text", "group": "dropout", "seed": 0, "tags": ["a", "b"]}
    wandb_args = create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    assert format_args(params) == wandb_args["args_no_hyphens"]
    assert parse_args(format_args(params))["tags"] == "['a', 'b']"
    with pytest.raises(ValueError, match="key=value"):
        parse_args(["seed"])
    with pytest.raises(ValueError, match="twice"):
        parse_args(["seed=0", "seed=1"])


def test_plan_names_the_run_expands_aliases_and_keeps_the_mode_out_of_training():
    defaults = load_config(BASE)
    trial = plan_trial(
        ["dropout=0.1", "eval.mode=text", "group=dropout", "model.attention=concat", "seed=2"],
        ["train.threads=2"],
        defaults,
    )
    assert trial.name == "concat-dropout0.1-s2" and trial.label == "concat-dropout0.1-s2@text"
    assert trial.evaluation == "text" and trial.eval_overrides == ("eval.mode=text",)
    cfg = load_config(BASE, trial.train_overrides)
    assert cfg.train.text_dropout == cfg.train.mask_dropout == 0.1 and cfg.train.threads == 2
    assert cfg.eval.mode == "both" and cfg.name == trial.name and list(cfg.tags) == ["dropout"]
    assert cfg.group == "dropout" and cfg.seed == 2
    # another mode of the same parameters is the same training: same config, same folder
    other = plan_trial(
        ["dropout=0.1", "eval.mode=mask", "group=dropout", "model.attention=concat", "seed=2"],
        ["train.threads=2"],
        defaults,
    )
    assert load_config(BASE, other.train_overrides) == cfg and other.label != trial.label


def test_plan_without_a_mode_parameter_evaluates_the_configs_mode():
    trial = plan_trial(["group=g", "model.attention=holistic", "seed=0"], [], load_config(BASE))
    assert trial.name == trial.label == "holistic-s0" and trial.evaluation == "both" and not trial.eval_overrides
    fixed = ["eval.mode=mask"]  # a fixed override is the run's own config: its evaluation is plain
    trial = plan_trial(["group=g", "seed=1"], fixed, load_config(BASE, fixed))
    assert trial.name == trial.label == "improved_decoupled-s1" and trial.evaluation == "mask"
    assert "eval.mode=mask" in trial.train_overrides


def test_swept_sampling_settings_are_evaluations_of_one_training():
    """eval.* parameters beyond the mode (the set, guidance, strength, steps) share the training and the name; each
    is its own evaluation key."""
    defaults = load_config(BASE)
    base = ["group=g", "model.attention=holistic", "seed=0"]
    plain = plan_trial([*base, "eval.mask_strength=1.0"], [], defaults)
    strong = plan_trial([*base, "eval.mask_strength=2", "eval.steps=8"], [], defaults)
    conflict = plan_trial([*base, "eval.set=conflict", "eval.mask_strength=1.0"], [], defaults)
    assert plain.name == strong.name == conflict.name == "holistic-s0"
    assert plain.train_overrides == strong.train_overrides == conflict.train_overrides
    assert (plain.evaluation, strong.evaluation, conflict.evaluation) == (
        "both",
        "both-steps8-mask_strength2",
        "conflict",
    )
    assert strong.label == "holistic-s0@both-steps8-mask_strength2"
    assert strong.eval_overrides == ("eval.mask_strength=2", "eval.steps=8")
    with pytest.raises(ValueError, match="eval.mask_strength"):
        plan_trial([*base, "eval.mask_strength=strong"], [], defaults)


@pytest.mark.parametrize("name", [p.stem for p in sorted((ROOT / PROFILES_DIR).glob("*.yaml"))])
def test_profiles_load_on_the_base_and_keep_their_own_output_dir(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = load_config([BASE, *profile_files(name)])
    assert cfg.output_dir == f"runs/{name}"  # the Makefile's RUNS/RESULTS assume it
    layer = OmegaConf.load(ROOT / PROFILES_DIR / f"{name}.yaml")
    assert "group" not in layer and "name" not in layer  # the sweep names its runs


def test_smoke_profile_is_small_and_default_profile_adds_nothing(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert profile_files("default") == [] and {"default", "smoke"} <= set(available())
    smoke = load_config([BASE, *profile_files("smoke")])
    assert smoke.train.max_steps <= 10 and smoke.backbone.max_steps <= 50 and smoke.eval.count <= 4
    assert smoke.judges.parser_steps <= 10 and smoke.judges.clip_steps <= 10 and smoke.eval.latency_repeats == 1
    with pytest.raises(FileNotFoundError, match="available: default"):
        profile_files("huge")


def test_the_conditions_sweep_names_each_set_and_its_text_only_row_is_none():
    """`conditions=mask+sketch` trains model.conditions=[mask,sketch]; `conditions=text` is model.attention=none
    whatever strategy the grid pairs it with and in whatever order the agent writes the keys."""
    points = grid_points(load_sweep(ROOT / "sweeps" / "conditions.yaml"))
    values = {p["conditions"] for p in points}
    assert values == {"text", "mask", "sketch", "keypoints", "mask+sketch", "mask+keypoints"}
    defaults = load_config(BASE)
    for order in (
        ["conditions=text", "model.attention=improved_decoupled"],
        ["model.attention=holistic", "conditions=text"],
    ):
        trial = plan_trial([*order, "seed=0"], [], defaults)
        assert trial.name == "none-s0" and "model.attention=none" in trial.train_overrides
        assert not any(
            item.startswith("model.attention=") and item != "model.attention=none" for item in trial.train_overrides
        )
    trial = plan_trial(["model.attention=improved_decoupled", "conditions=mask+sketch", "seed=1"], [], defaults)
    assert trial.name == "improved_decoupled-conditionsmask+sketch-s1"
    assert "model.conditions=[mask,sketch]" in trial.train_overrides
    with pytest.raises(ConfigError, match="valid: mask, sketch, keypoints"):
        plan_trial(["conditions=mask+depth"], [], defaults)
