"""The embedded backbone, built once: a tiny FLUX-shaped transformer trained text-to-image (`mdit pretrain-base`),
saved like a FLUX.1 folder that `mdit.backbone.load_backbone` reads."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mdit.backbone import Backbone, backbone_folder, backbone_of, new_embedded_backbone, save_backbone
from mdit.paths import embedded_backbone_dir
from mdit.trainer import fit


def backbone_dir(cfg: DictConfig) -> Path:
    """The backbone folder this config uses; the embedded one is pretrained first if missing."""
    folder = backbone_folder(cfg)
    return folder if cfg.model.pretrained or (folder / "transformer").is_dir() else pretrain_backbone(cfg)


def backbone_for(cfg: DictConfig) -> Backbone:
    """The backbone of a config (`mdit.backbone.backbone_of`), the embedded one built first if missing."""
    backbone_dir(cfg)
    return backbone_of(cfg)


def pretrain_backbone(cfg: DictConfig) -> Path:
    """Train the embedded backbone text-to-image (strategy `none`, all weights) and save it like a FLUX folder."""
    target = embedded_backbone_dir(cfg)
    if (target / "transformer").is_dir():
        return target
    b = cfg.backbone
    pretrain_cfg = OmegaConf.merge(
        cfg,
        {
            "group": "backbone",
            "name": target.name,
            "tags": ["backbone"],
            "seed": b.seed,
            "model": {"attention": "none", "finetune": "full", "pretrained": None},
            "train": {
                "max_steps": b.max_steps,
                "lr": b.lr,
                "ema_decay": b.ema_decay,
                "mask_dropout": 0.0,
                "strategy": "auto",
                "devices": 1,
                "num_nodes": 1,
                "accumulate": 1,
                "keep_checkpoints": False,
            },  # tiny: one device; last.ckpt only
            "eval": {"cost": False},
        },
    )
    OmegaConf.set_readonly(pretrain_cfg, True)
    backbone = new_embedded_backbone(b, b.seed)
    module = fit(pretrain_cfg, backbone, label="backbone")
    with module.ema_weights():
        save_backbone(backbone, target)
    return target
