"""The embedded judges: the parser and the CLIP model train, score held-out renders, round-trip their cache."""

import pytest
import torch
from train_helpers import TINY_JUDGES, tiny_config

from mdit.cli import main
from mdit.judges.clip import load_clip_judge
from mdit.judges.embedded_parser import EmbeddedParser
from mdit.judges.training import ensure_judges, judges_dir, load_embedded_clip, load_parser, train_parser
from mdit.metrics.clip_score import ClipTScore


def test_parser_shapes_and_side_check():
    parser = EmbeddedParser(8)
    assert parser(torch.zeros(2, 3, 32, 32)).shape == (2, 19, 32, 32)
    assert parser.parse(torch.zeros(1, 3, 16, 16)).dtype == torch.int64
    with pytest.raises(ValueError, match="divisible by 4"):
        parser(torch.zeros(1, 3, 30, 30))


def test_train_cache_and_load_round_trip(tmp_path):
    cfg = tiny_config(tmp_path, *TINY_JUDGES)
    parser, accuracy = train_parser(cfg)
    assert 0.0 <= accuracy <= 100.0
    folder = ensure_judges(cfg)
    assert folder == judges_dir(cfg)
    loaded, card = load_parser(folder)
    assert card["width"] == 8 and 0.0 <= card["heldout_pixel_accuracy"] <= 100.0
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    assert loaded(images).shape == (2, 19, 32, 32)
    clip, clip_card = load_embedded_clip(folder)
    assert 0.0 <= clip_card["heldout_retrieval_top1"] <= 100.0
    score = ClipTScore(clip)
    score.update(images, ["A woman with red hair.", "A man with a hat."])
    assert -100.0 <= score.compute().item() <= 100.0
    again = load_clip_judge(folder / "clip")  # the very same open_clip local-dir loader as a real model
    assert torch.allclose(again.encode_images(images), clip.encode_images(images))
    before = (folder / "parser.safetensors").stat().st_mtime_ns
    ensure_judges(cfg)  # cached: not retrained
    assert (folder / "parser.safetensors").stat().st_mtime_ns == before
    (folder / "parser.json").unlink()  # a build killed before its card: rebuilt, not trusted
    ensure_judges(cfg)
    assert (folder / "parser.json").is_file()
    assert (folder / "parser.safetensors").stat().st_mtime_ns != before


def test_missing_judge_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="parser.safetensors.*mdit judges train"):
        load_parser(tmp_path)
    with pytest.raises(FileNotFoundError, match="open_clip_config.json"):
        load_clip_judge(tmp_path)
    with pytest.raises(FileNotFoundError, match="weights.bin not found.*ViT-B-32-quickgelu"):
        load_clip_judge(tmp_path / "weights.bin")


def test_judges_cli(tmp_path, capsys):
    landmarks = ["judges.landmark_width=8", "judges.landmark_steps=2"]
    cfg_args = [f"cache_dir={tmp_path / 'cache'}", "data.resolution=32", *TINY_JUDGES, *landmarks]
    assert main(["judges", "train", *cfg_args]) == 0
    out = capsys.readouterr().out
    assert "held-out pixel accuracy" in out and "landmarks: held-out NME" in out and "trained in" in out
    assert main(["judges", "train", *cfg_args]) == 0  # cached: nothing trains
    assert "(cached)" in capsys.readouterr().out
