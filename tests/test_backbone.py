"""The backbone folder: embedded and FLUX-layout backbones load through the same code; built once, cached."""

from pathlib import Path

import pytest
import torch
from train_helpers import tiny_config

from mdit.backbone import load_backbone, new_embedded_backbone, save_backbone
from mdit.conditioning import EmbeddedTextConditioner, PixelSpaceAutoencoder
from mdit.config import load_config
from mdit.paths import embedded_backbone_dir
from mdit.pretraining import backbone_dir


def test_save_load_round_trip_is_exact(tmp_path):
    cfg = tiny_config(tmp_path)
    backbone = new_embedded_backbone(cfg.backbone, seed=3)
    loaded = load_backbone(save_backbone(backbone, tmp_path / "bb"))
    assert isinstance(loaded.text, EmbeddedTextConditioner) and isinstance(loaded.autoencoder, PixelSpaceAutoencoder)
    assert loaded.autoencoder.downsample == cfg.backbone.autoencoder_factor
    for (name, a), (_, b) in zip(backbone.transformer.state_dict().items(), loaded.transformer.state_dict().items()):
        assert torch.equal(a, b), name
    captions = ["the woman has red hair.", ""]
    assert torch.equal(backbone.text(captions).tokens, loaded.text(captions).tokens)
    assert not list(tmp_path.glob(".bb.*"))  # the temporary folder is gone


def test_missing_backbone_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="transformer"):
        load_backbone(tmp_path / "nowhere")
    (tmp_path / "half" / "transformer").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_backbone(tmp_path / "half")


def test_embedded_backbone_is_built_once_and_reused(tmp_path):
    cfg = tiny_config(tmp_path)
    folder = backbone_dir(cfg)  # missing: pretrained now
    assert folder == embedded_backbone_dir(cfg) and (folder / "transformer" / "config.json").is_file()
    stamp = (folder / "transformer" / "config.json").stat().st_mtime_ns
    assert backbone_dir(cfg) == folder and (folder / "transformer" / "config.json").stat().st_mtime_ns == stamp
    metrics = (tmp_path / "runs" / "backbone" / folder.name / "metrics.json").read_text()
    assert '"steps": 4' in metrics and '"attention": "none"' in metrics


def test_the_recipe_names_the_cache_folder(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path)
    assert embedded_backbone_dir(cfg) != embedded_backbone_dir(tiny_config(tmp_path, "backbone.max_steps=5"))
    monkeypatch.setenv("MDIT_CACHE", str(tmp_path / "env"))
    assert embedded_backbone_dir(tiny_config(tmp_path, "cache_dir=null")).parent == tmp_path / "env"


def test_every_run_seed_shares_one_backbone(tmp_path):
    cfg = tiny_config(tmp_path)
    assert embedded_backbone_dir(tiny_config(tmp_path, "seed=3")) == embedded_backbone_dir(cfg)
    assert embedded_backbone_dir(tiny_config(tmp_path, "backbone.seed=3")) != embedded_backbone_dir(cfg)
    # The committed default keeps the name it had before backbone.seed existed: its cache is found again.
    default = load_config(Path(__file__).resolve().parents[1] / "experiments" / "synthfaces.yaml")
    assert embedded_backbone_dir(default).name == "backbone-32px-2422d9a363"
