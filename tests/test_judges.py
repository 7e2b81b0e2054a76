"""The embedded parser judge: trains, scores held-out renders, round-trips through its cache folder."""

import pytest
import torch
from train_helpers import tiny_config

from mdit.cli import main
from mdit.judges.embedded_parser import EmbeddedParser
from mdit.judges.training import ensure_judges, judges_dir, load_parser, train_parser

TINY = ["judges.parser_width=8", "judges.parser_steps=3", "judges.batch_size=4", "judges.heldout_size=4",
        "data.train_size=16"]  # fmt: skip


def test_parser_shapes_and_side_check():
    parser = EmbeddedParser(8)
    assert parser(torch.zeros(2, 3, 32, 32)).shape == (2, 19, 32, 32)
    assert parser.parse(torch.zeros(1, 3, 16, 16)).dtype == torch.int64
    with pytest.raises(ValueError, match="divisible by 4"):
        parser(torch.zeros(1, 3, 30, 30))


def test_train_cache_and_load_round_trip(tmp_path):
    cfg = tiny_config(tmp_path, *TINY)
    parser, accuracy = train_parser(cfg)
    assert 0.0 <= accuracy <= 100.0
    folder = ensure_judges(cfg)
    assert folder == judges_dir(cfg)
    loaded, card = load_parser(folder)
    assert card["width"] == 8 and 0.0 <= card["heldout_pixel_accuracy"] <= 100.0
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    assert loaded(images).shape == (2, 19, 32, 32)
    before = (folder / "parser.safetensors").stat().st_mtime_ns
    ensure_judges(cfg)  # cached: not retrained
    assert (folder / "parser.safetensors").stat().st_mtime_ns == before


def test_missing_judge_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="parser.safetensors.*mdit judges train"):
        load_parser(tmp_path)


def test_judges_cli(tmp_path, capsys):
    cfg_args = [f"cache_dir={tmp_path / 'cache'}", "data.resolution=32", *TINY]
    assert main(["judges", "train", *cfg_args]) == 0
    assert "held-out pixel accuracy" in capsys.readouterr().out
