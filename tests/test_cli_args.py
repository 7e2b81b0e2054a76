"""The `mdit` command's arguments: every verb described in its `--help`, `-c` layers and `--profile` wherever a
config is read, the version, `python -m mdit`, and `mdit variants` / `mdit config` without the heavy imports."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from mdit.cli import build_parser, main, parse_args
from mdit.cli.common import config_from

ROOT = Path(__file__).resolve().parents[1]

# Each verb that reads a config, with the positionals it needs before its options.
CONFIG_VERBS = {
    "config": ["config"],
    "train": ["train"],
    "pretrain-base": ["pretrain-base"],
    "cache-embeddings": ["cache-embeddings"],
    "judges train": ["judges", "train"],
    "flops": ["flops", "--preset", "embedded"],
    "sweep": ["sweep", "sweeps/ablation_attention.yaml"],
    "table": ["table", "sweeps/ablation_attention.yaml"],
    "sweep-run": ["sweep-run"],
}
WITH_PROFILE = [verb for verb in CONFIG_VERBS if verb != "sweep-run"]  # sweep-run takes the profile's file as -c


def _verbs(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(argv prefix, parser) of every verb and verb group, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _verbs(sub, (*path, name))


VERBS = list(_verbs(build_parser()))


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def layers(tmp_path: Path) -> tuple[str, str]:
    """Two config layers: the second overrides the first's seed and keeps its group."""
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("seed: 1\ngroup: first\ndata:\n  resolution: 64\n")
    second.write_text("seed: 2\ndata:\n  resolution: 32\n")
    return str(first), str(second)


def test_the_verbs_are_all_found():
    names = {" ".join(path) for path, _ in VERBS}
    assert names >= {*CONFIG_VERBS, "variants", "synthfaces", "generate", "eval", "report", "judges"}


@pytest.mark.parametrize("path,parser", VERBS, ids=[" ".join(path) for path, _ in VERBS])
def test_every_verb_has_a_help_with_its_description(path, parser, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    out = _words(capsys.readouterr().out)
    assert parser.description and _words(parser.description) in out
    options = [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
    assert all(action.help for action in options), [a.dest for a in options if not a.help]


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    out = _words(capsys.readouterr().out)
    assert "(default: 28)" in out and "(default: both)" in out and "(default: 1.0)" in out
    assert "(default: None)" not in out and "(default: False)" not in out


def test_version_prints_the_installed_version():
    exe = Path(sys.executable).with_name("mdit")
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == f"mdit {version('mditface')}"


@pytest.mark.parametrize("module", ["mdit", "mdit.cli"])
def test_python_dash_m_runs_the_command(module):
    result = subprocess.run(
        [sys.executable, "-m", module, "variants"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0 and "improved_decoupled" in result.stdout, result.stderr


@pytest.mark.parametrize("verb", CONFIG_VERBS)
def test_two_config_files_layer_in_every_verb(verb, layers, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = parse_args([*CONFIG_VERBS[verb], "-c", layers[0], "-c", layers[1]])
    assert args.config == list(layers)
    if verb != "sweep-run":  # sweep-run hands args.config to the trial as is
        cfg = config_from(args)
        assert (cfg.seed, cfg.group, cfg.data.resolution) == (2, "first", 32)


def test_config_prints_the_layered_files(layers, capsys):
    assert main(["config", "-c", layers[0], "-c", layers[1], "name=x"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert (cfg["seed"], cfg["group"], cfg["name"], cfg["data"]["resolution"]) == (2, "first", "x", 32)


def test_flops_reads_the_layered_files(layers, monkeypatch, capsys):
    """The handler itself, with the FLOP count stubbed: the embedded preset's config is both layers."""
    import mdit.cost.report

    seen = {}

    def fake_report(name, resolution, text_tokens, steps, cfg=None, conditions=None):
        seen.update(name=name, resolution=resolution, seed=cfg.seed, group=cfg.group)
        return {"fake": True}

    monkeypatch.setattr(mdit.cost.report, "flops_report", fake_report)
    assert main(["flops", "--preset", "embedded", "--json", "-c", layers[0], "-c", layers[1]]) == 0
    assert seen == {"name": "embedded", "resolution": 32, "seed": 2, "group": "first"}


def _subset(small: dict, big: dict) -> bool:
    return all(_subset(v, big[k]) if isinstance(v, dict) else big.get(k) == v for k, v in small.items())


def test_profile_smoke_on_config_prints_its_values(layers, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    smoke = yaml.safe_load((ROOT / "experiments/profiles/smoke.yaml").read_text())
    assert main(["config", "-c", "experiments/synthfaces.yaml", "--profile", "smoke"]) == 0
    assert _subset(smoke, yaml.safe_load(capsys.readouterr().out))
    assert main(["config", "-c", layers[1], "--profile", "smoke", "train.max_steps=7"]) == 0  # on top of -c
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert (cfg["output_dir"], cfg["seed"], cfg["train"]["max_steps"]) == ("runs/smoke", 2, 7)


@pytest.mark.parametrize("verb", WITH_PROFILE)
def test_every_verb_reading_a_config_takes_a_profile(verb, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = parse_args([*CONFIG_VERBS[verb], "--profile", "smoke", "seed=3"])
    assert args.profile == "smoke" and args.overrides == ["seed=3"]
    cfg = config_from(args)
    assert (cfg.output_dir, cfg.seed) == ("runs/smoke", 3)


def test_unknown_profile_is_exit_2_listing_the_profiles(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["config", "--profile", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mdit config: error:") and "nope" in err
    assert all(name in err for name in ("default", "smoke", "long", "gpu"))


@pytest.mark.parametrize(
    "argv,hint",
    [(["sweep-run", "--profile", "smoke"], "-c experiments/profiles/NAME.yaml"), (["eval", "RUN", "--profile=x"], "")],
)
def test_profile_where_none_is_taken_says_where_it_goes(argv, hint, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "takes no --profile" in err and hint in err


def test_overrides_after_options_are_still_overrides():
    args = parse_args(["eval", "RUN", "--mode", "text", "eval.count=64"])
    assert (args.run_dir, args.mode, args.overrides) == ("RUN", "text", ["eval.count=64"])
    with pytest.raises(SystemExit):
        parse_args(["eval", "RUN", "--mode", "text", "loose"])


@pytest.mark.parametrize("argv", [["variants"], ["config", "--profile", "smoke"]])
def test_light_verbs_import_neither_torch_nor_diffusers_nor_peft(argv):
    heavy = ("torch", "diffusers", "peft", "lightning")
    code = (
        f"import sys; from mdit.cli import main; assert main({argv!r}) == 0; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
