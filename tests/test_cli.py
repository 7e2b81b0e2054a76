"""The `mdit` command: verbs run, and bad input is an error message with exit code 2, not a traceback."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from mdit.cli import main
from mdit.data.synthfaces import render
from mdit.labels import color_to_label_map
from mdit.model import STRATEGIES

ROOT = Path(__file__).resolve().parents[1]


def test_variants_lists_every_strategy(capsys):
    assert main(["variants"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in STRATEGIES)


def test_config_prints_resolved_overrides(capsys):
    assert main(["config", "-c", str(ROOT / "experiments/synthfaces.yaml"), "model.attention=holistic"]) == 0
    assert "attention: holistic" in capsys.readouterr().out


def test_config_unknown_key_is_a_clean_error(capsys):
    assert main(["config", "model.atention=holistic"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'model.atention'" in err and "attention" in err


def test_synthfaces_writes_images_masks_and_captions(tmp_path):
    assert main(["synthfaces", "--out", str(tmp_path), "--count", "2", "--start", "5", "--resolution", "32"]) == 0
    face = render(6, 32)
    mask = color_to_label_map(np.asarray(Image.open(tmp_path / "0000006_mask.png").convert("RGB")))
    assert (mask == face.mask).all()
    assert (tmp_path / "0000006.txt").read_text().splitlines() == list(face.captions)


def test_synthfaces_bad_resolution_is_a_clean_error(tmp_path, capsys):
    assert main(["synthfaces", "--out", str(tmp_path), "--resolution", "16"]) == 2
    assert "resolution" in capsys.readouterr().err


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("mdit")
    result = subprocess.run([str(exe), "variants"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "improved_decoupled" in result.stdout


def test_importing_the_model_prints_nothing():
    """No third-party import-time chatter (bitsandbytes' hub-kernel warning, pulled in by peft) reaches the user."""
    result = subprocess.run([sys.executable, "-c", "import mdit.model"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result.stderr
