"""`mdit generate` end to end on a tiny trained run: mask PNG + caption -> PNG, and a test-set grid."""

import numpy as np
import pytest
from PIL import Image
from train_helpers import tiny_config

from mdit.backbone import load_backbone
from mdit.cli import main
from mdit.data.synthfaces import render
from mdit.masks import write_mask
from mdit.pretraining import backbone_dir
from mdit.runs import run_dir
from mdit.trainer import fit


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("generate"), "model.attention=hard_decoupled", "train.max_steps=2")
    fit(cfg, load_backbone(backbone_dir(cfg)))
    return run_dir(cfg)


@pytest.mark.parametrize("palette", [True, False], ids=["palette-png", "label-id-png"])
def test_mask_and_caption_to_png(run, tmp_path, palette):
    mask = write_mask(tmp_path / "mask.png", render(7, 32).mask, palette=palette)
    out = tmp_path / "face.png"
    assert (
        main(
            [
                "generate",
                str(run),
                "--mask",
                str(mask),
                "--caption",
                "a woman with red hair.",
                "--out",
                str(out),
                "--steps",
                "2",
            ]
        )
        == 0
    )
    image = np.asarray(Image.open(out))
    assert image.shape == (32, 32, 3) and image.std() > 0
    again = tmp_path / "again.png"
    main(
        [
            "generate",
            str(run),
            "--mask",
            str(mask),
            "--caption",
            "a woman with red hair.",
            "--out",
            str(again),
            "--steps",
            "2",
        ]
    )
    assert np.array_equal(image, np.asarray(Image.open(again)))  # same seed, same image


def test_from_dataset_writes_a_grid(run, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["generate", str(run), "--from-dataset", "2", "--out", str(out), "--steps", "2"]) == 0
    assert Image.open(out).height > 2 * 32


def test_wrong_mask_size_and_missing_run_are_clean_errors(run, tmp_path, capsys):
    big = write_mask(tmp_path / "big.png", render(7, 64).mask)
    assert main(["generate", str(run), "--mask", str(big), "--caption", "x", "--out", str(tmp_path / "o.png")]) == 2
    assert "64x64" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "nope"), "--from-dataset", "1", "--out", str(tmp_path / "o.png")]) == 2
    assert "config.yaml" in capsys.readouterr().err


def test_guidance_and_mask_strength_flags_are_the_modules_own(run, tmp_path):
    """--mask-guidance-scale / --text-guidance-scale / --mask-strength: the image MDiTModule.generate gives with them
    (one sample, the same seed), and another than without them."""
    from mdit.masks import read_mask
    from mdit.run import load_run
    from mdit.visualize import to_uint8

    mask = write_mask(tmp_path / "mask.png", render(7, 32).mask)
    flags = {"--mask-guidance-scale": 2.0, "--text-guidance-scale": 1.5, "--mask-strength": 3.0}
    out = tmp_path / "guided.png"
    args = ["generate", str(run), "--mask", str(mask), "--caption", "a man.", "--out", str(out), "--steps", "2"]
    assert main([*args, *(str(x) for item in flags.items() for x in item)]) == 0
    module = load_run(run, for_sampling=True)
    expected = module.generate(
        read_mask(mask, 32)[None],
        ["a man."],
        steps=2,
        mask_guidance_scale=2.0,
        text_guidance_scale=1.5,
        mask_strength=3.0,
    )
    assert np.array_equal(np.asarray(Image.open(out)), to_uint8(expected)[0])
    plain = module.generate(read_mask(mask, 32)[None], ["a man."], steps=2)
    assert not np.array_equal(to_uint8(plain), to_uint8(expected))


@pytest.fixture(scope="module")
def conditions_run(tmp_path_factory):
    cfg = tiny_config(
        tmp_path_factory.mktemp("generate-conditions"), "model.conditions=[mask,sketch,keypoints]", "train.max_steps=2"
    )
    fit(cfg, load_backbone(backbone_dir(cfg)))
    return run_dir(cfg)


def _condition_files(folder) -> dict[str, str]:
    """A SynthFaces face's mask PNG, its sketch as published (dark lines on white) and its keypoints JSON."""
    import json

    face = render(7, 32)
    sketch = folder / "sketch.png"
    Image.fromarray(((1 - face.sketch) * 255).astype(np.uint8)).save(sketch)
    keypoints = folder / "keypoints.json"
    keypoints.write_text(json.dumps({"keypoints": face.keypoints.tolist(), "size": [32, 32]}))
    return {
        "--mask": str(write_mask(folder / "mask.png", face.mask)),
        "--sketch": str(sketch),
        "--keypoints": str(keypoints),
    }


def test_any_subset_of_the_conditions_from_files(conditions_run, tmp_path):
    """Each subset of --mask / --sketch / --keypoints is the image MDiTModule.generate gives for the same raw inputs
    (read independently here), and the subsets give different images."""
    import torch

    from mdit.run import load_run
    from mdit.visualize import to_uint8

    files, face = _condition_files(tmp_path), render(7, 32)
    raw = {
        "--mask": ("mask", torch.from_numpy(face.mask)),
        "--sketch": ("sketch", torch.from_numpy(face.sketch)),
        "--keypoints": ("keypoints", torch.from_numpy(face.keypoints)),
    }
    module = load_run(conditions_run, for_sampling=True)
    seen = []
    for subset in (("--sketch",), ("--keypoints",), ("--mask", "--keypoints"), ("--mask", "--sketch", "--keypoints")):
        out = tmp_path / f"{len(seen)}.png"
        flags = [x for flag in subset for x in (flag, files[flag])]
        assert (
            main(["generate", str(conditions_run), *flags, "--caption", "a man.", "--out", str(out), "--steps", "2"])
            == 0
        )
        expected = module.generate({raw[f][0]: raw[f][1][None] for f in subset}, ["a man."], steps=2)
        image = np.asarray(Image.open(out))
        assert np.array_equal(image, to_uint8(expected)[0])
        seen.append(image)
    assert all(not np.array_equal(a, b) for i, a in enumerate(seen) for b in seen[i + 1 :])


def test_a_condition_the_run_does_not_read_is_a_clean_error(run, conditions_run, tmp_path, capsys):
    files = _condition_files(tmp_path)
    out = str(tmp_path / "o.png")
    assert main(["generate", str(run), "--sketch", files["--sketch"], "--caption", "x", "--out", out]) == 2
    assert "the model reads mask, not sketch" in capsys.readouterr().err
    assert main(["generate", str(conditions_run), "--sketch", files["--sketch"], "--out", out]) == 2
    assert "--caption" in capsys.readouterr().err
    out_grid = tmp_path / "grid.png"
    assert main(["generate", str(conditions_run), "--from-dataset", "2", "--out", str(out_grid), "--steps", "2"]) == 0
    assert Image.open(out_grid).width > 5 * 32  # mask | sketch | keypoints | generated | ground truth
