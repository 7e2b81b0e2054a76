"""The FLUX.1 path on a tiny FLUX.1 folder written here: experiments/mm_celeba_flux.yaml's settings (bf16 base,
fp32 LoRA, guidance embedding, gradient checkpointing, cached embeddings) train, resume and sample; the cache
is complete, resumable and equal to encoding on the fly; a CelebAMask-HQ + Multi-Modal-CelebA-HQ tree in the release
layouts goes the whole way, and a bad split or a missing file stops it before any weights load; nothing downloaded."""

from __future__ import annotations

import logging

import pytest
import torch
from celeba_tree import truncate, write_celeba_tree, write_split_pickles
from flux_folder import write_tiny_flux_folder
from PIL import Image
from train_helpers import ROOT
from transformers import CLIPTextModel, T5EncoderModel

from mdit import backbone as backbone_module
from mdit.backbone import load_backbone
from mdit.cli import main
from mdit.conditioning import FluxAutoencoder, FluxTextConditioner, encode_image, encode_mask
from mdit.config import ConfigError, load_config
from mdit.data.face_files import CorruptImageError
from mdit.data.registry import build_datamodule, build_splits, embeddings_dir
from mdit.embeddings import build as cache_embeddings_module
from mdit.embeddings.build import cache_embeddings
from mdit.embeddings.latents import CachedLatentsDataset
from mdit.embeddings.store import MANIFEST, latents_path
from mdit.embeddings.text import CachedTextConditioner
from mdit.evaluation.judges import load_judges
from mdit.run import load_run, train
from mdit.runs import read_metrics

CONFIG = ROOT / "experiments" / "mm_celeba_flux.yaml"


@pytest.fixture(scope="module")
def flux(tmp_path_factory):
    return write_tiny_flux_folder(tmp_path_factory.mktemp("weights") / "FLUX.1-dev")


def flux_overrides(tmp, flux, *overrides: str) -> list[str]:
    """The overrides that put mm_celeba_flux.yaml on the tiny FLUX folder and SynthFaces faces, CPU-sized."""
    return [
        f"model.pretrained={flux}",
        "data.name=synthfaces",
        "data.root=null",
        "data.captions=null",
        f"output_dir={tmp / 'runs'}",
        f"cache_dir={tmp / 'cache'}",
        "wandb.mode=disabled",
        "train.strategy=auto",
        "data.resolution=32",
        "data.train_size=6",
        "data.val_size=2",
        "data.test_size=2",
        "data.batch_size=2",
        "data.num_workers=0",
        "model.text_max_length=16",
        "train.max_steps=2",
        "train.val_every=2",
        "train.checkpoint_every=2",
        "train.sample_count=2",
        "train.sample_steps=2",
        "eval.steps=2",
        "eval.latency_repeats=1",
        *overrides,
    ]


def flux_config(tmp, flux, *overrides: str):
    """mm_celeba_flux.yaml on the tiny FLUX folder and SynthFaces faces (CelebA trees: test_data_*), CPU-sized."""
    return load_config(CONFIG, flux_overrides(tmp, flux, *overrides))


def test_the_real_configs_name_the_paths_they_need():
    with pytest.raises(ConfigError, match=r"model\.pretrained=<a FLUX\.1-dev folder.*data\.root=.*data\.captions="):
        load_config(CONFIG)
    ffhq = [CONFIG, ROOT / "experiments" / "mm_ffhq_flux.yaml"]
    with pytest.raises(ConfigError, match=r"data\.root=<the dataset folder") as err:
        load_config(ffhq, ["model.pretrained=/weights/FLUX.1-dev"])
    assert "data.captions" not in str(err.value)  # the folder layout holds its captions
    cfg = load_config(ffhq, ["model.pretrained=/w", "data.root=/d"])
    assert (cfg.data.name, cfg.model.dtype, cfg.train.strategy, cfg.data.embeddings) == (
        "folder",
        "bfloat16",
        "ddp",
        True,
    )
    with pytest.raises(ConfigError, match="needs mixed precision"):
        load_config(ffhq, ["model.pretrained=/w", "data.root=/d", "train.precision=32-true"])


def test_cache_train_and_sample_without_the_text_encoders(flux, tmp_path, monkeypatch, capsys):
    cfg = flux_config(tmp_path, flux)
    assert not (embeddings_dir(cfg) / MANIFEST).exists()
    with pytest.raises(FileNotFoundError, match="mdit cache-embeddings"):
        train(cfg)
    summary = cache_embeddings(cfg, batch_size=4)
    assert summary["faces"] == summary["faces_written"] == 6
    assert summary["captions"] == summary["captions_written"]  # every split's ten captions per face, and ""

    def refuse(*args, **kwargs):
        raise AssertionError("the text encoders were loaded")

    monkeypatch.setattr(T5EncoderModel, "from_pretrained", refuse)
    monkeypatch.setattr(CLIPTextModel, "from_pretrained", refuse)
    folder = train(cfg)
    metrics = read_metrics(folder)
    assert metrics["steps"] == 2 and torch.isfinite(torch.tensor(metrics["val_loss"]))
    assert metrics["latency_ratio_vs_none"] > 0 and metrics["tflops_delta"] > 0  # cost measured from the cache too
    saved = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    assert saved and all("lora_" in k for k in saved)  # only the adapters are saved over a FLUX base
    assert {v.dtype for v in saved.values()} == {torch.float32}  # they trained in fp32 over the bf16 base

    module = load_run(folder)
    assert isinstance(module.text, CachedTextConditioner)
    assert module.model.base.dtype == torch.bfloat16 and module.model.base.config.guidance_embeds
    out = tmp_path / "grid.png"
    assert main(["generate", str(folder), "--from-dataset", "2", "--out", str(out), "--steps", "2"]) == 0
    assert Image.open(out).height > 2 * 32
    new_caption = ["generate", str(folder), "--mask", str(tmp_path / "m.png"), "--caption", "a man with black hair"]
    Image.fromarray(torch.zeros(32, 32, dtype=torch.uint8).numpy()).save(tmp_path / "m.png")
    assert main([*new_caption, "--out", str(tmp_path / "new.png"), "--steps", "2"]) != 0
    assert "not in the embedding cache" in capsys.readouterr().err  # a new caption: said so, no default
    monkeypatch.undo()
    assert main([*new_caption, "--out", str(tmp_path / "new.png"), "--steps", "2", "data.embeddings=false"]) == 0


def test_the_cache_equals_encoding_on_the_fly_and_resumes(flux, tmp_path):
    cfg = flux_config(tmp_path, flux, "model.dtype=float32", "data.flip_p=0.5", "data.max_captions=3")
    assert cache_embeddings(cfg, batch_size=4)["captions"] <= 3 * (6 + 2 + 2) + 1  # three per face, and ""
    folder = embeddings_dir(cfg)
    latents_path(folder, 3).unlink()
    (folder / MANIFEST).unlink()
    again = cache_embeddings(cfg, batch_size=4)
    assert (again["faces_written"], again["captions_written"]) == (1, 0)  # only what was missing

    backbone = load_backbone(flux, text_max_length=16)
    assert isinstance(backbone.text, FluxTextConditioner) and isinstance(backbone.autoencoder, FluxAutoencoder)
    raw, cached = build_splits(cfg)[0], build_datamodule(cfg).train_set
    assert isinstance(cached, CachedLatentsDataset)
    flipped = []
    for index in range(len(raw)):
        for epoch in (0, 1):
            expected, got = raw[(index, epoch)], cached[(index, epoch)]
            assert (got["caption"], got["caption_index"], got["id"]) == (
                expected["caption"],
                expected["caption_index"],
                expected["id"],
            )
            assert got["caption_index"] < 3
            flipped.append(not torch.equal(expected["mask"], torch.from_numpy(raw.load(index)[1])))
            image = encode_image(expected["image"][None], backbone.autoencoder)[0]
            mask = encode_mask(expected["mask"][None], backbone.autoencoder)[0]
            torch.testing.assert_close(got["latent"], image, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(got["mask_latent"], mask, atol=1e-5, rtol=1e-5)
    assert any(flipped) and not all(flipped)  # both views were read
    with pytest.raises(ValueError, match=r"captions per face: 3, wanted: all"):
        build_datamodule(flux_config(tmp_path, flux, "model.dtype=float32", "data.flip_p=0.5"))
    caption = raw[(0, 0)]["caption"]
    stored, looked_up = backbone.text([caption, ""]), CachedTextConditioner(folder)([caption, "  "])
    torch.testing.assert_close(looked_up.tokens, stored.tokens)
    torch.testing.assert_close(looked_up.pooled, stored.pooled)


def _real_overrides(tree) -> list[str]:
    return [
        "data.name=celebamask_hq",
        f"data.root={tree.root}",
        f"data.captions={tree.mm_root}",
        "data.val_size=1",
        "data.train_size=100",
        "data.flip_p=0.5",
    ]


def test_a_celebamask_hq_tree_as_released_goes_the_whole_flux_path(flux, tmp_path, caplog, capsys):
    """Captions under text/celeba-caption/, pickles of names without extension: `mdit cache-embeddings`, training
    steps and sampling; the split used is in metrics.json."""
    tree = write_celeba_tree(tmp_path / "data", ids=(0, 1, 2, 3, 24000, 24001))  # pickles: 0..3 / 24000, 24001
    truncate(tree.image_path(2))
    overrides = flux_overrides(tmp_path, flux, *_real_overrides(tree))
    cfg = load_config(CONFIG, overrides)
    with caplog.at_level(logging.WARNING):
        train_set, val_set, test_set = build_splits(cfg)
    assert [train_set.sample_id(i) for i in range(len(train_set))] == [0, 1]  # 2 is corrupt: skipped, counted
    assert f"skipping 1 corrupt image(s) of 3: {tree.image_path(2)}" in caplog.text
    assert ([val_set.sample_id(0)], [test_set.sample_id(i) for i in range(2)]) == ([3], [24000, 24001])
    sample = train_set[0]
    assert sample["image"].shape == (3, 32, 32) and sample["mask"].shape == (32, 32) and sample["caption"]
    with pytest.raises(CorruptImageError, match="2.jpg"):
        build_splits(flux_config(tmp_path, flux, *_real_overrides(tree), "data.on_corrupt=error"))

    assert main(["cache-embeddings", "-c", str(CONFIG), *overrides]) == 0
    assert '"faces": 2' in capsys.readouterr().out
    folder = train(cfg)
    metrics = read_metrics(folder)
    assert metrics["steps"] == 2
    assert metrics["data_split"] == {
        "source": "pickles",
        "train": {"count": 2, "min": 0, "max": 1},
        "val": {"count": 1, "min": 3, "max": 3},
        "test": {"count": 2, "min": 24000, "max": 24001},
    }
    out = tmp_path / "grid.png"
    assert main(["generate", str(folder), "--from-dataset", "2", "--out", str(out), "--steps", "2"]) == 0
    with pytest.raises(ValueError, match="judges.parser, judges.clip, judges.inception"):
        load_judges(cfg)


def test_a_bad_split_or_missing_files_stop_before_any_weights_load(flux, tmp_path, monkeypatch, capsys):
    """`mdit cache-embeddings` and `mdit train` check the split and every file before T5, CLIP, the VAE or the
    transformer load: a mismatched split shows both choices, a missing caption file is named."""

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded before the data was checked")

    monkeypatch.setattr(cache_embeddings_module, "load_conditioners", refuse)
    monkeypatch.setattr(backbone_module, "load_backbone", refuse)
    tree = write_celeba_tree(tmp_path / "data", ids=(0, 1, 2, 24000))
    write_split_pickles(tree.mm_root, ["0", "1", "2", "24000"], ["23999"])
    overrides = flux_overrides(tmp_path, flux, *_real_overrides(tree))
    for verb in ("cache-embeddings", "train"):
        assert main([verb, "-c", str(CONFIG), *overrides]) == 2
        err = capsys.readouterr().err
        assert "train: " in err and "4 ids, 0..24000, 1 outside 0..23999" in err
        assert "data.split_source=pickles" in err and "data.split_source=ranges" in err
    write_split_pickles(tree.mm_root, ["0", "1", "2"], ["24000"])
    tree.caption_path(1).unlink()
    for verb in ("cache-embeddings", "train"):
        assert main([verb, "-c", str(CONFIG), *overrides, "data.on_missing=error"]) == 2
        assert f"1: no caption file {tree.caption_path(1)}" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # no run folder either


def test_the_flux_config_trains_under_fsdp(flux, tmp_path):
    """The real config's path (bf16 FLUX.1 folder, guidance embedding, cached embeddings) with the transformer
    sharded by FSDP (one CPU rank here; two ranks against DDP: test_distributed.py)."""
    cfg = flux_config(tmp_path, flux, "train.strategy=fsdp", "train.accelerator=cpu", "train.ema_decay=0.9")
    cache_embeddings(cfg, batch_size=4)
    folder = train(cfg)
    metrics = read_metrics(folder)
    assert metrics["steps"] == 2 and torch.isfinite(torch.tensor(metrics["val_loss"]))
    assert metrics["latency_ratio_vs_none"] > 0  # measured on rank 0 from the gathered checkpoint
    saved = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert saved["state_dict"] and all(type(v) is torch.Tensor for v in saved["state_dict"].values())  # whole
    assert saved["state_dict"].keys() == saved["ema"].keys()
    assert load_run(folder, for_sampling=True).model.base.dtype == torch.bfloat16
