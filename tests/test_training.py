"""Training: one step per variant changes only what should train; dropout rates; exact resume; LoRA round trip."""

from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import default_collate
from train_helpers import logged_fit, tiny_config

from mdit.backbone import load_backbone
from mdit.callbacks import SampleGrid
from mdit.data.registry import build_datamodule
from mdit.data.synthfaces import SynthFacesDataset
from mdit.model import STRATEGIES
from mdit.pipeline import Pipeline
from mdit.pretraining import backbone_dir
from mdit.run import load_run
from mdit.runs import (
    LAST_CHECKPOINT,
    config_changes,
    read_metrics,
    run_dir,
    step_checkpoints,
    write_training_metrics,
)
from mdit.trainer import fit
from mdit.training import MDiTModule, sample_dropout, step_generator

VARIANTS = [name for name in STRATEGIES if name != "none"]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("training"))
    backbone_dir(cfg)  # pretrain the tiny backbone once for the module
    return cfg


def _cfg(cfg, *overrides):
    """The module's tiny config (same tmp folders, same backbone) with other values."""
    return tiny_config(Path(cfg.output_dir).parent, *overrides)


def _module(cfg, *overrides):
    cfg = _cfg(cfg, *overrides)
    return MDiTModule(cfg, load_backbone(backbone_dir(cfg)))


def _batch(n=4):
    return default_collate([SynthFacesDataset(0, n, 32)[i] for i in range(n)])


@pytest.mark.parametrize("attention", VARIANTS)
def test_one_step_changes_only_adapters_and_new_weights(cfg, attention):
    module = _module(cfg, f"model.attention={attention}")
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    trainable = {n for n, _ in module.trainable_parameters()}
    optimizer = module.configure_optimizers()
    loss = module.flow_matching_loss(_batch(), step_generator(0, 0))
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    changed = {n for n, p in module.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    assert all("lora_" in n or n.startswith("model.base.x_embedder.") for n in trainable)
    assert any("lora_B" in n for n in changed)  # the adapters leave zero
    if attention == "concat":
        assert "model.base.x_embedder.weight" in changed  # the widened embedder is a new weight
    frozen = [n for n, p in module.named_parameters() if not p.requires_grad]
    assert any(n.startswith("model.base.transformer_blocks") for n in frozen)
    assert all(n in frozen for n in before if n.startswith(("text.", "autoencoder.")))


def test_full_finetune_trains_the_transformer(cfg):
    module = _module(cfg, "model.finetune=full", "model.attention=holistic")
    trainable = {n for n, _ in module.trainable_parameters()}
    assert "model.base.transformer_blocks.0.attn.to_q.weight" in trainable
    assert "model.visual_embedder.proj.weight" in trainable and not any("lora_" in n for n in trainable)
    assert not any(n.startswith("text.") for n in trainable)


def test_dropout_rates_hold_and_are_independent():
    text, mask = sample_dropout(200_000, 0.1, 0.2, torch.Generator().manual_seed(0))
    assert abs(text.float().mean() - 0.1) < 0.005 and abs(mask.float().mean() - 0.2) < 0.005
    assert abs((text & mask).float().mean() - 0.02) < 0.002


def test_training_step_drops_text_and_mask(cfg, monkeypatch):
    seen, real = [], Pipeline.prepare
    monkeypatch.setattr(
        Pipeline, "prepare", lambda self, c, m=None, lat=None: seen.append((list(c), m)) or real(self, c, m, lat)
    )
    for p_text, p_mask in ((1.0, 0.0), (0.0, 1.0), (0.0, 0.0)):
        module = _module(cfg, f"train.text_dropout={p_text}", f"train.mask_dropout={p_mask}")
        module.flow_matching_loss(_batch(), step_generator(0, 1))
    (text_dropped, masks_1), (_, masks_2), (kept, masks_3) = seen
    assert text_dropped == ["", "", "", ""] and masks_1 is not None
    assert masks_2 is None  # every mask dropped: no mask tokens at all
    assert all(kept) and masks_3 is not None


def test_loss_without_mask_uses_the_same_draws_and_drops_every_mask(cfg, monkeypatch):
    module = _module(cfg, "train.mask_dropout=0.0")
    batch, seen, real = _batch(), [], Pipeline.prepare
    monkeypatch.setattr(
        Pipeline, "prepare", lambda self, c, m=None, lat=None: seen.append((list(c), m)) or real(self, c, m, lat)
    )
    with_mask = module.flow_matching_loss(batch, step_generator(0, 1))
    without = module.flow_matching_loss(batch, step_generator(0, 1), mask_dropout=1.0)
    assert seen[0][0] == seen[1][0] and seen[0][1] is not None and seen[1][1] is None  # same captions, no mask
    assert not torch.equal(with_mask, without)  # mask tokens change attention even with adapters at zero
    assert torch.allclose(module.flow_matching_loss(batch, step_generator(0, 1), mask_dropout=1.0), without)


class _Crash(L.Callback):
    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step == 3:
            raise RuntimeError("simulated crash")


def test_resume_after_a_crash_equals_an_uninterrupted_run(cfg):
    base = ["model.attention=improved_decoupled", "train.ema_decay=0.5", "train.max_steps=4"]
    straight = fit(_cfg(cfg, "name=straight", *base), load_backbone(backbone_dir(cfg)))
    crashed_cfg = _cfg(cfg, "name=crashed", *base)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(crashed_cfg, load_backbone(backbone_dir(cfg)), callbacks=[_Crash()])
    assert torch.load(run_dir(crashed_cfg) / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2
    resumed = fit(crashed_cfg, load_backbone(backbone_dir(cfg)))
    for (name, a), (_, b) in zip(straight.trainable_parameters(), resumed.trainable_parameters()):
        assert torch.equal(a, b), name
    for name in straight.ema.shadow:
        assert torch.equal(straight.ema.shadow[name], resumed.ema.shadow[name]), name
    opt_a = torch.load(run_dir(_cfg(cfg, "name=straight", *base)) / "checkpoints/last.ckpt", weights_only=False)
    opt_b = torch.load(run_dir(crashed_cfg) / "checkpoints/last.ckpt", weights_only=False)
    assert opt_a["global_step"] == opt_b["global_step"] == 4
    for a, b in zip(opt_a["optimizer_states"][0]["state"].values(), opt_b["optimizer_states"][0]["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_kept_checkpoints_hold_the_weights_a_run_of_that_length_ends_with(cfg):
    """train.keep_checkpoints: step=N.ckpt beside last.ckpt; its weights are those of a run trained N steps (the
    learning rate is constant and every draw depends on the step), so a curve point is the shorter run itself."""
    base = ["model.attention=hard_decoupled", "train.checkpoint_every=2"]
    long_cfg, short_cfg = _cfg(cfg, "name=kept-4", "train.max_steps=4", *base), _cfg(cfg, "name=kept-2", *base)
    fit(long_cfg, load_backbone(backbone_dir(cfg)))
    fit(_cfg(cfg, "name=kept-2", "train.max_steps=2", *base), load_backbone(backbone_dir(cfg)))
    kept = step_checkpoints(run_dir(long_cfg))
    assert list(kept) == [2, 4] and [p.name for p in kept.values()] == ["step=000002.ckpt", "step=000004.ckpt"]
    weights = {step: torch.load(path, weights_only=False)["state_dict"] for step, path in kept.items()}
    last = torch.load(run_dir(long_cfg) / LAST_CHECKPOINT, weights_only=False)["state_dict"]
    short = torch.load(run_dir(short_cfg) / LAST_CHECKPOINT, weights_only=False)["state_dict"]
    assert all(torch.equal(weights[4][k], last[k]) for k in last)
    assert all(torch.equal(weights[2][k], short[k]) for k in short)
    assert not all(torch.equal(weights[2][k], last[k]) for k in last)
    assert step_checkpoints(run_dir(short_cfg)) == {2: run_dir(short_cfg) / "checkpoints" / "step=000002.ckpt"}
    off = _cfg(cfg, "name=kept-off", "train.keep_checkpoints=false", *base)
    fit(off, load_backbone(backbone_dir(cfg)))
    assert step_checkpoints(run_dir(off)) == {} and (run_dir(off) / LAST_CHECKPOINT).is_file()


def test_a_run_loaded_for_sampling_generates_what_the_trained_run_does(cfg):
    """EMA weights baked in and the image adapter merged: the same samples (up to float rounding), faster."""
    run_cfg = _cfg(
        cfg, "model.attention=improved_decoupled", "train.ema_decay=0.5", "train.max_steps=4", "name=straight"
    )
    trained = fit(run_cfg, load_backbone(backbone_dir(cfg)))  # already trained by the resume test: loads
    batch = _batch(2)
    expected = trained.eval().generate(batch["mask"], batch["caption"], steps=3, seed=[1, 2])
    sampler = load_run(run_dir(run_cfg), for_sampling=True)
    assert sampler.ema is None and sampler.model.image_adapter_merged and not sampler.trainable_parameters()
    torch.testing.assert_close(
        sampler.generate(batch["mask"], batch["caption"], steps=3, seed=[1, 2]), expected, rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("attention", ["concat", "hard_decoupled"])
def test_checkpoint_holds_only_trainable_weights_and_restores_outputs(cfg, attention):
    run_cfg = _cfg(cfg, f"model.attention={attention}", f"name=roundtrip-{attention}")
    trained = fit(run_cfg, load_backbone(backbone_dir(cfg)))
    state = torch.load(run_dir(run_cfg) / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert set(state) == {n for n, _ in trained.trainable_parameters()}
    prefixes = ("model.base.", "model.visual_embedder.proj.")
    adapters = (".lora_A.image.", ".lora_B.image.") + (
        (".lora_A.mask.", ".lora_B.mask.") if attention != "concat" else ()
    )
    assert all(k.startswith(prefixes) and (any(a in k for a in adapters) or "x_embedder" in k) for k in state)
    assert any(".image." in k for k in state) and (attention == "concat") != any(".mask." in k for k in state)
    loaded = load_run(run_dir(run_cfg))
    batch = _batch(2)
    expected = trained.eval().generate(batch["mask"], batch["caption"], steps=2)
    assert torch.equal(loaded.generate(batch["mask"], batch["caption"], steps=2), expected)
    fresh = _module(cfg, f"model.attention={attention}").eval()
    assert not torch.equal(fresh.generate(batch["mask"], batch["caption"], steps=2), expected)


def test_rerunning_a_finished_run_changes_nothing_and_keeps_its_evaluations(cfg):
    from mdit.evaluation.results import merge_into_metrics

    run_cfg = _cfg(cfg, "name=finished")
    fit(run_cfg, load_backbone(backbone_dir(cfg)))
    folder = run_dir(run_cfg)
    merge_into_metrics(folder, "both", {"checkpoint_step": read_metrics(folder)["steps"], "mask_accuracy": 50.0})
    metrics, checkpoint = (folder / "metrics.json").read_text(), (folder / LAST_CHECKPOINT).read_bytes()
    rerun = fit(run_cfg, load_backbone(backbone_dir(cfg)))
    assert (folder / "metrics.json").read_text() == metrics and read_metrics(folder)["val_loss"] is not None
    assert (folder / LAST_CHECKPOINT).read_bytes() == checkpoint
    loaded = dict(load_run(folder).named_parameters())  # the rerun returns the trained weights
    assert rerun.trainable_parameters() and all(torch.equal(p, loaded[n]) for n, p in rerun.trainable_parameters())


def test_training_metrics_keep_only_the_evaluations_of_their_checkpoint_step(tmp_path):
    from mdit.evaluation.results import merge_into_metrics

    merge_into_metrics(tmp_path, "both", {"checkpoint_step": 4})
    merge_into_metrics(tmp_path, "text", {"checkpoint_step": 8})
    write_training_metrics(tmp_path, {"steps": 8, "val_loss": 0.1})
    assert read_metrics(tmp_path) == {"steps": 8, "val_loss": 0.1, "eval": {"text": {"checkpoint_step": 8}}}
    write_training_metrics(tmp_path, {"steps": 12})
    assert read_metrics(tmp_path) == {"steps": 12}


def test_rerun_with_another_config_is_refused(cfg):
    from mdit.config import ConfigError

    fit(_cfg(cfg, "name=fixed"), load_backbone(backbone_dir(cfg)))
    with pytest.raises(ConfigError, match="train.lr"):
        fit(_cfg(cfg, "name=fixed", "train.lr=0.5"), load_backbone(backbone_dir(cfg)))
    # Where the log goes is not the run: a W&B agent (online) may pick up a run trained offline.
    assert config_changes(run_dir(_cfg(cfg, "name=fixed")), _cfg(cfg, "name=fixed", "wandb.mode=online")) == []
    # Nor whether its faces come from the render cache (the same bytes) or are rendered again.
    assert config_changes(run_dir(_cfg(cfg, "name=fixed")), _cfg(cfg, "name=fixed", "data.render_cache_gib=0")) == []
    # A run saved before a key joined the schema resumes: the missing key reads as its default.
    saved = run_dir(_cfg(cfg, "name=fixed")) / "config.yaml"
    saved.write_text(saved.read_text().replace("    image_stream: true\n", ""))
    assert "image_stream" not in saved.read_text()
    assert config_changes(saved.parent, _cfg(cfg, "name=fixed")) == []
    resumed = fit(_cfg(cfg, "name=fixed"), load_backbone(backbone_dir(cfg)))
    assert resumed.model._image_adapters == ("image",)  # the default (image_stream: true) it was trained with


def test_none_with_lora_has_nothing_to_train_and_still_generates(cfg):
    run_cfg = _cfg(cfg, "model.attention=none", "name=baseline")
    fit(run_cfg, load_backbone(backbone_dir(cfg)))
    loaded = load_run(run_dir(run_cfg))
    assert not loaded.trainable_parameters()
    batch = _batch(1)
    assert loaded.generate(batch["mask"], batch["caption"], steps=2).shape == (1, 3, 32, 32)


def test_load_from_checkpoint_rebuilds_the_run_from_the_config_it_saved(cfg):
    """The Lightning way: the checkpoint holds the config, the backbone is loaded from the folder it names."""
    run_cfg = _cfg(cfg, "model.attention=hard_decoupled", "train.ema_decay=0.5", "name=lightning-load")
    trained = fit(run_cfg, load_backbone(backbone_dir(cfg))).eval()
    loaded = MDiTModule.load_from_checkpoint(run_dir(run_cfg) / LAST_CHECKPOINT).eval()
    assert OmegaConf.to_container(loaded.cfg) == OmegaConf.to_container(run_cfg) and loaded.ema is not None
    batch = _batch(2)
    expected = trained.generate(batch["mask"], batch["caption"], steps=2, seed=[3, 4])
    assert torch.equal(loaded.generate(batch["mask"], batch["caption"], steps=2, seed=[3, 4]), expected)


def test_validation_losses_are_logged_at_the_step_of_their_sample_grid(cfg, tmp_path):
    module = _module(cfg, "model.attention=hard_decoupled")
    grid = SampleGrid(tmp_path / "samples", count=1, steps=2)
    rows = logged_fit(module, build_datamodule(module.cfg), tmp_path, 4, 2, [grid], log_every_n_steps=1)
    validated = [int(r["step"]) for r in rows if r["val/loss"]]
    assert validated == [2, 4] and [int(r["step"]) for r in rows if r["val/loss_without_mask"]] == [2, 4]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
