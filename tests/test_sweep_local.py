"""The local sweep runner (with a fake command, then for real on a tiny config), `mdit sweep-run`, the W&B backend.

Nothing here touches the network: the W&B backend runs against a monkeypatched `wandb.sweep` / `wandb.agent`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from mdit import atomic
from mdit.cli import main, parse_args
from mdit.cost.measure import COST_KEYS
from mdit.progress import progress_line
from mdit.runs import CONFIG_FILE, LAST_CHECKPOINT, METRICS_FILE, run_dir
from mdit.sweep import local, wandb_backend, watch
from mdit.sweep.local import SweepError, run_local, subprocess_runner
from mdit.sweep.spec import load_sweep, with_launch
from mdit.sweep.state import STATE_FILE
from mdit.sweep.status import Status
from mdit.sweep.trial import run_trial, trial_config

ROOT = Path(__file__).resolve().parents[1]
BASE = str(ROOT / "experiments" / "synthfaces.yaml")
ATTENTIONS = ["none", "concat", "holistic", "hard_decoupled", "improved_decoupled"]


def _spec(tmp_path: Path, name: str = "ablation_attention", sets: bool = False, **changes):
    """A copy of sweeps/<name>.yaml in tmp (its runs under tmp/runs, W&B off), with `changes` to its config; without
    its eval.set parameter unless `sets` (one run per variant)."""
    config = yaml.safe_load((ROOT / "sweeps" / f"{name}.yaml").read_text())
    if not sets:
        config["parameters"].pop("eval.set", None)
    config.update(changes)
    path = tmp_path / "sweeps" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    fixed = [f"output_dir={tmp_path / 'runs'}", f"cache_dir={tmp_path / 'cache'}", "wandb.mode=disabled"]
    return with_launch(load_sweep(path), [BASE], fixed)


class FakeCommand:
    """Stands in for `mdit sweep-run`: writes what train + eval would (config.yaml, metrics.json), or fails."""

    def __init__(self, fail: tuple[str, ...] = (), no_results: tuple[str, ...] = ()) -> None:
        self.fail, self.no_results = set(fail), set(no_results)
        self.calls: list[list[str]] = []

    def __call__(self, argv, env, log_path):
        self.calls.append(list(argv))
        assert argv[:4] == [sys.executable, "-m", "mdit.cli", "sweep-run"] and "WANDB_SWEEP_ID" not in env
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("fake log\nlast line\n")
        args = parse_args(argv[3:])
        if args.prepare:
            return 0
        trial, cfg = trial_config(args.config, args.set, args.overrides)
        if trial.label in self.fail:
            return 3
        folder = run_dir(cfg)
        folder.mkdir(parents=True, exist_ok=True)
        atomic.write_text(folder / CONFIG_FILE, OmegaConf.to_yaml(cfg))
        metrics = json.loads((folder / METRICS_FILE).read_text()) if (folder / METRICS_FILE).is_file() else {}
        metrics.setdefault("steps", 4)
        metrics["tflops_delta"] = 0.5
        if trial.label not in self.no_results:
            results = {"mask_accuracy": 50.0 + len(trial.name), "clip_t": 20.0}
            metrics.setdefault("eval", {})[trial.evaluation] = results
        atomic.write_json(folder / METRICS_FILE, metrics)
        return 0

    def labels(self) -> list[str]:
        """The sweep runs started (not the preparation)."""
        out = []
        for argv in self.calls:
            args = parse_args(argv[3:])
            if not args.prepare:
                out.append(trial_config(args.config, args.set, args.overrides)[0].label)
        return out


def _state(spec) -> dict:
    return json.loads((Path(_output(spec)) / spec.group / STATE_FILE).read_text())


def _output(spec) -> str:
    return next(o.split("=", 1)[1] for o in spec.fixed_overrides if o.startswith("output_dir="))


def test_grid_runs_every_point_in_its_own_command_after_the_preparation(tmp_path):
    spec = _spec(tmp_path)
    fake, lines = FakeCommand(), []
    outcome = run_local(spec, runner=fake, log=lines.append)
    assert outcome.ok and sorted(outcome.finished) == sorted(f"{a}-s0" for a in ATTENTIONS)
    assert "--prepare" in fake.calls[0] and len(fake.calls) == 1 + len(ATTENTIONS)
    assert fake.calls[1][-3:] == ["group=ablation_attention", "model.attention=none", "seed=0"]  # the grid's order
    state = _state(spec)
    assert state["method"] == "grid" and state["sweep"] == str(spec.path)
    entry = state["runs"]["holistic-s0"]
    assert entry["status"] == "finished" and entry["attempts"] == 1 and entry["returncode"] == 0
    assert entry["params"] == {"group": "ablation_attention", "model.attention": "holistic", "seed": 0}
    assert entry["summary"]["eval/both/mask_accuracy"] == 50.0 + len("holistic-s0")
    assert entry["summary"]["cost/tflops_delta"] == 0.5 and Path(entry["folder"]).name == "holistic-s0"
    assert any(line.startswith("[5/5] ") and "finished" in line for line in lines)


def test_the_sets_are_evaluations_of_one_training_per_variant(tmp_path):
    spec = _spec(tmp_path, sets=True)
    fake = FakeCommand()
    outcome = run_local(spec, runner=fake, log=lambda _: None)
    labels = {f"{a}-s0@{key}" for a in ATTENTIONS for key in ("both", "conflict", "agree")}
    assert outcome.ok and set(outcome.finished) == labels
    holistic = tmp_path / "runs" / "ablation_attention" / "holistic-s0"
    assert set(json.loads((holistic / METRICS_FILE).read_text())["eval"]) == {"both", "conflict", "agree"}
    assert len(list((tmp_path / "runs" / "ablation_attention").glob("holistic*"))) == 1  # one training folder
    assert _state(spec)["runs"]["holistic-s0@conflict"]["evaluation"] == "conflict"


def test_a_sweep_that_gains_a_parameter_hands_the_engine_only_its_own_records(tmp_path, monkeypatch, caplog):
    run_local(_spec(tmp_path), runner=FakeCommand(), log=lambda _: None)  # before the YAML swept eval.set
    spec, handed = _spec(tmp_path, sets=True), []
    real = local.next_params
    monkeypatch.setattr(local, "next_params", lambda s, records: handed.append(list(records)) or real(s, records))
    with caplog.at_level(logging.WARNING):
        outcome = run_local(spec, runner=FakeCommand(), log=lambda _: None)
    assert outcome.ok and len(outcome.finished) == 3 * len(ATTENTIONS)
    assert handed and all("eval.set" in record["params"] for records in handed for record in records)
    assert "grid_search_dedupe_incomplete_hash_tuple" not in caplog.text  # what the stale records made it log


def test_the_estimate_knows_which_runs_to_come_train_and_which_only_evaluate(tmp_path, monkeypatch):
    statuses = []
    monkeypatch.setattr(local, "Status", lambda *args, **kwargs: statuses.append(kwargs) or Status(*args, **kwargs))
    run_local(_spec(tmp_path, sets=True), runner=FakeCommand(), log=lambda _: None)
    statuses = statuses[1:]  # not the preparation's
    first, last = statuses[0], statuses[-1]
    assert (first["runs_after"], first["others_after"], first["others_kind"]) == (4, 10, "evaluations")
    assert first["mean_run"] is None and last["runs_after"] == last["others_after"] == 0
    trainings = [kwargs for kwargs in statuses if kwargs["others_kind"] == "evaluations"]
    assert len(trainings) == len(ATTENTIONS)  # one per variant, the sets evaluated on them
    assert statuses[len(ATTENTIONS)]["others_mean"] is not None  # by then the trainings have a mean


class Progressing(FakeCommand):
    """Also writes into the log, a line at a time, the progress lines `mdit sweep-run` writes: the preparation's
    backbone, then each run's training and its evaluation."""

    def __call__(self, argv, env, log_path):
        code = super().__call__(argv, env, log_path)
        stages = [("backbone", 4)] if "--prepare" in argv else [("train", 4), ("eval/both", 2)]
        with open(log_path, "a") as log:
            for label, total in stages:
                if label.startswith("eval/"):
                    log.write(f"runs/x: evaluating {label.split('/')[1]}\n")
                for done in range(1, total + 1):
                    log.write(progress_line(label, done, total, 0.1 * done) + "\n")
                    log.flush()
                    time.sleep(0.08)
        return code


@pytest.fixture
def quick_status(monkeypatch):
    """The status followed every 10 ms and written at every change (MDIT_PROGRESS_SECONDS=0)."""
    monkeypatch.setattr(watch, "POLL_SECONDS", 0.01)
    monkeypatch.setenv("MDIT_PROGRESS_SECONDS", "0")


def test_the_sweep_shows_each_phase_from_its_logs_progress_lines(tmp_path, quick_status):
    spec = _spec(tmp_path, "ablation_tokenization")
    lines = []
    assert run_local(spec, runner=Progressing(), log=lines.append).ok
    count = r"[1-4]/4 \(\d+%\), ~0:00 left · 0:0\d elapsed"  # the latest line the poll saw, the phase's time
    assert any(re.fullmatch(rf"\[prepare\] backbone {count}", line) for line in lines)
    first = [line for line in lines if line.startswith("[1/2] concat-s0: ") and " elapsed" in line]
    assert any(re.fullmatch(rf"\[1/2\] concat-s0: train {count}", line) for line in first)
    assert any(line.startswith("[1/2] concat-s0: eval/both") for line in first)
    assert not any("sweep ~" in line for line in first)  # no run finished yet: no estimate of the sweep
    second = [line for line in lines if line.startswith("[2/2] improved_decoupled-s0: ") and "elapsed" in line]
    assert any("sweep ~0:0" in line for line in second)  # one run finished: the mean of one
    finished = next(i for i, line in enumerate(lines) if line.startswith("[1/2] concat-s0: finished"))
    assert lines.index(first[-1]) < finished  # the status of a run stops before its outcome is logged


def test_on_a_terminal_the_sweep_redraws_one_status_line_and_clears_it_for_log_lines(tmp_path, quick_status):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    spec, out, logged = _spec(tmp_path, "ablation_tokenization"), Terminal(), []

    def log(text: str) -> None:
        logged.append(text)
        print(text, file=out)

    assert run_local(spec, runner=Progressing(), log=log, terminal=out).ok
    drawn = out.getvalue()
    assert f"{watch.CLEAR}[1/2] concat-s0: train " in drawn and f"{watch.CLEAR}[prepare] backbone " in drawn
    visible = [line.rsplit(watch.CLEAR, 1)[-1] for line in drawn.split("\n")]
    assert visible == [*logged, ""]  # each log line on a clean line, no status left at the end
    assert not any("elapsed" in line for line in logged)  # the status went to the terminal only
    plain = io.StringIO()  # not a terminal: plain status lines, nothing drawn
    assert run_local(spec, runner=Progressing(), log=partial(print, file=plain)).ok
    assert "\n[prepare] backbone " in plain.getvalue() and watch.CLEAR not in plain.getvalue()


def test_rerun_skips_complete_runs(tmp_path):
    spec = _spec(tmp_path)
    run_local(spec, runner=FakeCommand(), log=lambda _: None)
    again, lines = FakeCommand(), []
    outcome = run_local(spec, runner=again, log=lines.append)
    assert again.labels() == [] and len(outcome.skipped) == len(ATTENTIONS) and outcome.ok
    assert sum("complete already, skipped" in line for line in lines) == len(ATTENTIONS)
    assert _state(spec)["runs"]["concat-s0"]["skipped"] is True


def test_a_failing_run_is_recorded_the_others_go_on_and_the_next_invocation_retries_it(tmp_path):
    spec = _spec(tmp_path)
    lines = []
    outcome = run_local(spec, runner=FakeCommand(fail=("holistic-s0",)), log=lines.append)
    assert outcome.failed == ["holistic-s0"] and len(outcome.finished) == len(ATTENTIONS) - 1 and not outcome.ok
    entry = _state(spec)["runs"]["holistic-s0"]
    assert entry["status"] == "failed" and entry["returncode"] == 3 and "exit code 3" in entry["error"]
    assert any("holistic-s0: failed (exit code 3)" in line for line in lines)
    assert any("  | last line" in line for line in lines)
    retry = FakeCommand()
    outcome = run_local(spec, runner=retry, log=lambda _: None)
    assert retry.labels() == ["holistic-s0"] and outcome.ok
    assert _state(spec)["runs"]["holistic-s0"]["attempts"] == 2


def test_exit_code_zero_without_results_is_a_failure(tmp_path):
    spec = _spec(tmp_path)
    outcome = run_local(spec, runner=FakeCommand(no_results=("concat-s0",)), log=lambda _: None)
    assert outcome.failed == ["concat-s0"]
    assert "results missing" in _state(spec)["runs"]["concat-s0"]["error"]


def test_an_interrupted_run_is_resumed_not_skipped(tmp_path):
    spec = _spec(tmp_path)
    run_local(spec, runner=FakeCommand(), log=lambda _: None)
    state_path = Path(_output(spec)) / spec.group / STATE_FILE
    # concat-s0: killed during training (a checkpoint, no results yet) ...
    folder = Path(_state(spec)["runs"]["concat-s0"]["folder"])
    (folder / LAST_CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    (folder / LAST_CHECKPOINT).write_bytes(b"")
    (folder / METRICS_FILE).unlink()
    # ... hard_decoupled-s0: killed during its evaluation (trained, no eval results) ...
    atomic.write_json(Path(_state(spec)["runs"]["hard_decoupled-s0"]["folder"]) / METRICS_FILE, {"steps": 4})
    # ... holistic-s0: the sweep itself was killed while it ran (state says running, folder holds no results)
    state = json.loads(state_path.read_text())
    state["runs"]["holistic-s0"]["status"] = "running"
    (Path(state["runs"]["holistic-s0"]["folder"]) / METRICS_FILE).unlink()
    state_path.write_text(json.dumps(state))
    again, lines = FakeCommand(), []
    outcome = run_local(spec, runner=again, log=lines.append)
    assert sorted(again.labels()) == ["concat-s0", "hard_decoupled-s0", "holistic-s0"] and outcome.ok
    assert any("concat-s0: resuming from its checkpoint" in line for line in lines)
    assert any("hard_decoupled-s0: evaluating (trained already)" in line for line in lines)
    assert any("holistic-s0: running" in line for line in lines)
    assert len(outcome.skipped) == len(ATTENTIONS) - 3


def test_ctrl_c_leaves_the_run_interrupted_and_the_next_invocation_resumes_it(tmp_path):
    spec = _spec(tmp_path)

    class Interrupted(FakeCommand):
        def __call__(self, argv, env, log_path):
            if "model.attention=holistic" in argv:
                raise KeyboardInterrupt
            return super().__call__(argv, env, log_path)

    with pytest.raises(KeyboardInterrupt):
        run_local(spec, runner=Interrupted(), log=lambda _: None)
    assert _state(spec)["runs"]["holistic-s0"]["status"] == "interrupted"
    again = FakeCommand()
    assert run_local(spec, runner=again, log=lambda _: None).ok
    assert again.labels() == ["holistic-s0", "hard_decoupled-s0", "improved_decoupled-s0"]


def test_run_cap_limits_a_grid_too(tmp_path):
    spec = _spec(tmp_path, run_cap=2)
    fake = FakeCommand()
    assert run_local(spec, runner=fake, log=lambda _: None).ok and fake.labels() == ["none-s0", "concat-s0"]


def test_runs_that_share_a_training_are_one_folder_evaluated_per_mode(tmp_path):
    spec = _spec(tmp_path, "unimodal")
    fake = FakeCommand()
    outcome = run_local(spec, runner=fake, log=lambda _: None)
    labels = [f"improved_decoupled-s0@{mode}" for mode in ("both", "mask", "text")]
    assert outcome.ok and sorted(fake.labels()) == labels
    folders = {entry["folder"] for entry in _state(spec)["runs"].values()}
    assert len(folders) == 1
    metrics = json.loads((Path(folders.pop()) / METRICS_FILE).read_text())
    assert sorted(metrics["eval"]) == ["both", "mask", "text"]


def test_random_needs_run_cap_and_stops_there(tmp_path):
    params = {
        "group": {"value": "ablation_attention"},
        "seed": {"values": [0, 1, 2, 3, 4, 5]},
        "model.attention": {"values": ["concat"]},
    }
    with pytest.raises(SweepError, match="run_cap"):
        run_local(_spec(tmp_path, method="random", parameters=params), runner=FakeCommand(), log=lambda _: None)
    spec, fake = _spec(tmp_path, method="random", parameters=params, run_cap=3), FakeCommand()
    outcome = run_local(spec, runner=fake, log=lambda _: None)
    assert len(fake.labels()) == len(_state(spec)["runs"]) == 3 and outcome.ok


def test_bayes_proposes_from_the_recorded_metric(tmp_path, monkeypatch):
    import sweeps

    seen = []  # what W&B's engine is given at each proposal: the finished runs with their metric
    real_next_run = sweeps.next_run

    def recording_next_run(config, runs, **kwargs):
        seen.append([(r.state, r.summary_metrics.get("eval/both/mask_accuracy")) for r in runs])
        return real_next_run(config, runs, **kwargs)

    monkeypatch.setattr(sweeps, "next_run", recording_next_run)
    params = {
        "group": {"value": "ablation_attention"},
        "train.lr": {"min": 0.001, "max": 0.01},
        "model.attention": {"value": "concat"},
    }
    spec = _spec(
        tmp_path,
        method="bayes",
        parameters=params,
        run_cap=3,
        metric={"name": "eval/both/mask_accuracy", "goal": "maximize"},
    )
    fake = FakeCommand()
    assert run_local(spec, runner=fake, log=lambda _: None).ok
    runs = _state(spec)["runs"]
    assert len(runs) == 3 and all("eval/both/mask_accuracy" in r["summary"] for r in runs.values())
    lrs = {r["params"]["train.lr"] for r in runs.values()}
    assert len(lrs) == 3 and all(0.001 <= lr <= 0.01 for lr in lrs)
    assert seen[0] == [] and len(seen[2]) == 2  # the third proposal saw both earlier runs ...
    assert all(state == "finished" and value is not None for state, value in seen[2])  # ... with their metric


def test_a_run_trained_with_another_config_is_not_taken_for_this_one(tmp_path):
    spec = _spec(tmp_path)
    run_local(spec, runner=FakeCommand(), log=lambda _: None)
    other = with_launch(spec, fixed=["train.lr=0.01"])  # same folders, a different training
    outcome = run_local(other, runner=FakeCommand(), log=lambda _: None)
    assert len(outcome.failed) == len(ATTENTIONS) and "train.lr" in _state(spec)["runs"]["concat-s0"]["error"]


def test_sweep_verb_runs_the_local_backend_and_rejects_wandb_options(tmp_path, monkeypatch, capsys):
    import mdit.sweep.local as local

    spec = _spec(tmp_path)
    monkeypatch.setattr(local, "subprocess_runner", FakeCommand())
    argv = ["sweep", str(spec.path), "-c", BASE, *spec.fixed_overrides]
    assert main(argv) == 0
    assert "sweep ablation_attention: 5 finished" in capsys.readouterr().out
    assert main([*argv, "--print-only"]) == 2
    assert "--print-only and --count are for --backend wandb" in capsys.readouterr().err
    assert main(["sweep", str(spec.path), "--profile", "nonexistent"]) == 2
    assert "available: default" in capsys.readouterr().err


def test_wandb_backend_creates_the_sweep_and_starts_an_agent(tmp_path, monkeypatch, capsys):
    import wandb

    created, agents = [], []

    def fake_sweep(config, entity=None, project=None):
        created.append((config, entity, project))
        return "abc123"

    def fake_agent(sweep_id, **kwargs):
        agents.append((sweep_id, kwargs, os.environ["PATH"]))

    monkeypatch.setattr(wandb, "sweep", fake_sweep)
    monkeypatch.setattr(wandb, "agent", fake_agent)
    monkeypatch.setattr(wandb_backend, "wandb_host", lambda: "https://wandb.example")
    monkeypatch.setattr(wandb_backend, "has_api_key", lambda host: True)
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.chdir(ROOT)  # the sweep's -c files and the profiles are relative to the repository root
    path = ROOT / "sweeps" / "ablation_attention.yaml"
    assert main(["sweep", str(path), "--backend", "wandb", "--profile", "smoke", "--entity", "me", "--print-only"]) == 0
    config, entity, project = created[0]
    assert (entity, project) == ("me", "mditface") and agents == []
    assert config["command"][-5:] == [
        "-c",
        "experiments/synthfaces.yaml",
        "-c",
        "experiments/profiles/smoke.yaml",
        "${args_no_hyphens}",
    ]
    assert "wandb agent me/mditface/abc123" in capsys.readouterr().out
    assert main(["sweep", str(path), "--backend", "wandb", "--project", "p", "--count", "2", "train.threads=1"]) == 0
    config, entity, project = created[1]
    assert project == "p" and config["project"] == "p" and config["command"][-3:-1] == ["--set", "train.threads=1"]
    sweep_id, kwargs, agent_path = agents[0]
    assert sweep_id == "abc123" and kwargs["count"] == 2 and kwargs["project"] == "p"
    assert agent_path.split(":")[0] == str(Path(sys.executable).parent)  # the agent's `python` is this one


@pytest.fixture
def wandb_offline(monkeypatch):
    """W&B's server as https://wandb.example, its sweep and agent failing loudly if anything calls them."""
    import wandb

    def unreachable(*args, **kwargs):
        raise AssertionError("nothing may reach W&B here")

    monkeypatch.setattr(wandb, "sweep", unreachable)
    monkeypatch.setattr(wandb, "agent", unreachable)
    monkeypatch.setattr(wandb_backend, "wandb_host", lambda: "https://wandb.example")
    monkeypatch.chdir(ROOT)
    return wandb


WANDB_SWEEP = ["sweep", "sweeps/ablation_attention.yaml", "--backend", "wandb", "--print-only"]


def test_wandb_backend_without_a_login_is_one_line_and_exit_code_2(wandb_offline, monkeypatch, capsys):
    asked = []
    monkeypatch.setattr(wandb_backend, "has_api_key", lambda host: asked.append(host) or False)
    assert main(WANDB_SWEEP) == 2
    out, err = capsys.readouterr()
    assert asked == ["https://wandb.example"] and out == ""  # looked up before any sweep was created
    assert err.splitlines() == [f"mdit sweep: error: {wandb_backend.NOT_LOGGED_IN}"]
    assert "wandb login" in err and "WANDB_API_KEY" in err and "--backend local" in err


def test_wandb_backend_without_the_network_is_one_line_naming_the_server(wandb_offline, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise wandb_offline.errors.CommError("Failed to execute API request: connection refused\nmore detail")

    monkeypatch.setattr(wandb_backend, "has_api_key", lambda host: True)
    monkeypatch.setattr(wandb_offline, "sweep", no_network)
    assert main(WANDB_SWEEP) == 2
    assert capsys.readouterr().err.splitlines() == [
        "mdit sweep: error: W&B at https://wandb.example: Failed to execute API request: connection refused "
        "(check the network and the login; or run the sweep with --backend local)"
    ]
    monkeypatch.setattr(wandb_offline, "sweep", lambda *args, **kwargs: "abc123")
    monkeypatch.setattr(wandb_offline, "agent", no_network)
    assert main(WANDB_SWEEP[:-1]) == 2  # the agent's exchanges too
    assert capsys.readouterr().err.startswith("mdit sweep: error: W&B at https://wandb.example: Failed")


def test_the_api_key_is_found_as_wandb_finds_it_without_the_network(tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.delenv("WANDB_IDENTITY_TOKEN_FILE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert not wandb_backend.has_api_key("http://127.0.0.1:9")  # no key for that server anywhere
    netrc.write_text(f"machine 127.0.0.1:9\n  login user\n  password {'b' * 40}\n")  # what `wandb login` writes
    assert wandb_backend.has_api_key("http://127.0.0.1:9")
    netrc.write_text("")
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    assert wandb_backend.has_api_key("http://127.0.0.1:9")


def test_sweep_run_under_an_agent_logs_online_and_reports_to_the_agents_run(tmp_path, monkeypatch):
    import wandb

    spec = _spec(tmp_path)
    args = ["group=ablation_attention", "model.attention=concat", "seed=0"]
    fixed = [o for o in spec.fixed_overrides if not o.startswith("wandb.mode")]
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")
    trial, cfg = trial_config([BASE], fixed, args)
    assert cfg.wandb.mode == "online" and trial.name == "concat-s0"
    assert trial_config([BASE], [*fixed, "wandb.mode=offline"], args)[1].wandb.mode == "offline"
    folder = run_dir(cfg)  # a complete run: nothing to train or evaluate, only the report
    folder.mkdir(parents=True)
    (folder / CONFIG_FILE).write_text(OmegaConf.to_yaml(cfg))
    evals = {"both": {"mask_accuracy": 70.0}, "text": {"clip_t": 1.0}}
    atomic.write_json(folder / METRICS_FILE, {"steps": 4, "val_loss": 0.1, "seconds_per_image": 0.2, "eval": evals})
    reported = {}

    class FakeRun:
        summary = reported

        def finish(self):
            reported["finished"] = True

    monkeypatch.setattr(wandb, "init", lambda **kw: reported.update(init=kw) or FakeRun())
    assert run_trial([BASE], fixed, args, log=lambda _: None) == folder
    assert reported["init"]["group"] == "ablation_attention" and reported["init"]["mode"] == "online"
    assert reported["eval/both/mask_accuracy"] == 70.0 and "eval/text/clip_t" not in reported
    assert reported["val/loss"] == 0.1 and reported["cost/seconds_per_image"] == 0.2 and reported["finished"]


def _inprocess(argv, env, log_path):
    """The sweep's runs in this process (a subprocess each would import torch five times); the preparation in
    a real subprocess, so the command a sweep launches is run as it is."""
    if "--prepare" in argv:
        return subprocess_runner(argv, env, log_path)
    assert argv[:3] == [sys.executable, "-m", "mdit.cli"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            return main(argv[3:])
        except Exception as err:  # noqa: BLE001 - a crashing run is a failed run, as in a subprocess
            print(repr(err))
            return 1


TINY = [
    "backbone.hidden=48",
    "backbone.heads=3",
    "backbone.double_blocks=1",
    "backbone.single_blocks=1",
    "backbone.text_dim=32",
    "backbone.text_layers=1",
    "backbone.max_steps=2",
    "backbone.ema_decay=0.5",
    "data.batch_size=2",
    "data.train_size=16",
    "data.val_size=2",
    "data.test_size=2",
    "train.max_steps=2",
    "train.val_every=2",
    "train.checkpoint_every=2",
    "train.sample_count=2",
    "train.sample_steps=1",
    "eval.steps=1",
    "eval.latency_repeats=1",
    "eval.count=2",
    "eval.batch_size=2",
    "judges.parser_width=8",
    "judges.parser_steps=2",
    "judges.batch_size=4",
    "judges.heldout_size=4",
    "judges.clip_width=32",
    "judges.clip_steps=2",
    "judges.clip_batch_size=4",
    "judges.landmark_width=8",
    "judges.landmark_steps=3",
]


@pytest.mark.timeout(300)
def test_micro_sweep_end_to_end_trains_evaluates_and_skips_on_rerun(tmp_path):
    """Every attention strategy trained (2 steps) and evaluated for real after a real `--prepare` subprocess
    built the backbone and judges; the rerun skips every run."""
    spec = with_launch(_spec(tmp_path), fixed=TINY)
    lines = []
    outcome = run_local(spec, runner=_inprocess, log=lines.append)
    state = _state(spec)
    assert outcome.ok, {k: v.get("error") for k, v in state["runs"].items()}
    assert any(line.startswith("[prepare] ready") for line in lines)
    prepared = (tmp_path / "runs" / spec.group / "logs" / "prepare.log").read_text()
    assert f"backbone: {tmp_path / 'cache'}" in prepared and f"judges: {tmp_path / 'cache'}" in prepared
    for attention in ATTENTIONS:
        folder = tmp_path / "runs" / "ablation_attention" / f"{attention}-s0"
        metrics = json.loads((folder / METRICS_FILE).read_text())
        assert metrics["attention"] == attention and set(metrics["eval"]) == {"both"}
        assert 0 <= metrics["eval"]["both"]["mask_accuracy"] <= 100 and all(k in metrics for k in COST_KEYS)
        assert OmegaConf.load(folder / CONFIG_FILE).tags == ["ablation_attention"]
        summary = state["runs"][f"{attention}-s0"]["summary"]
        assert "eval/both/mask_accuracy" in summary and "cost/latency_ratio_vs_none" in summary
    outcome = run_local(spec, runner=_inprocess, log=lambda _: None, prepare=False)
    assert outcome.ok and len(outcome.skipped) == len(ATTENTIONS)
    out = tmp_path / "results"
    assert main(["table", str(spec.path), "--runs", str(tmp_path / "runs"), "--out", str(out), "--no-flux-dev"]) == 0
    assert all((out / f"ablation_attention.{suffix}").is_file() for suffix in ("md", "csv", "tex", "png"))
    # Without --runs, the table reads the output_dir of the config the sweep ran with (as `make ablation-*` does).
    derived = tmp_path / "derived"
    assert (
        main(
            [
                "table",
                str(spec.path),
                "-c",
                BASE,
                "--out",
                str(derived),
                "--no-flux-dev",
                f"output_dir={tmp_path / 'runs'}",
            ]
        )
        == 0
    )
    assert (derived / "ablation_attention.csv").read_text() == (out / "ablation_attention.csv").read_text()
