"""Several spatial conditions in training and sampling: independent drops per kind, one forward per drop pattern,
the batch's raw inputs encoded per kind, generation from any subset."""

from pathlib import Path

import pytest
import torch
from train_helpers import tiny_config

from mdit.backbone import load_backbone
from mdit.condition_forwards import condition_forwards, keep_every_weight
from mdit.keypoints import NUM_KEYPOINTS, KeypointError
from mdit.pipeline import Pipeline, spatial_inputs
from mdit.pretraining import backbone_dir
from mdit.training import MDiTModule, sample_condition_dropout, sample_dropout, step_generator

THREE = "model.conditions=[mask,sketch,keypoints]"


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("conditions"))
    backbone_dir(cfg)  # pretrain the tiny backbone once for the module
    return cfg


def _module(cfg, *overrides) -> MDiTModule:
    cfg = tiny_config(Path(cfg.output_dir).parent, *overrides)
    return MDiTModule(cfg, load_backbone(backbone_dir(cfg)))


def _raw(n: int = 4, seed: int = 0) -> dict:
    """Constructed raw inputs of every kind at 32 px: label maps, line drawings, keypoints on the image."""
    g = torch.Generator().manual_seed(seed)
    keypoints = torch.cat([torch.rand(n, NUM_KEYPOINTS, 2, generator=g) * 31, torch.ones(n, NUM_KEYPOINTS, 1)], dim=-1)
    return {
        "mask": torch.randint(0, 19, (n, 32, 32), generator=g),
        "sketch": (torch.rand(n, 32, 32, generator=g) < 0.1).float(),
        "keypoints": keypoints,
    }


def _batch(n: int = 4) -> dict:
    return {"image": torch.rand(n, 3, 32, 32) * 2 - 1, "caption": ["a face."] * n, **_raw(n)}


def test_each_condition_is_dropped_independently_at_its_rate():
    text, drops = sample_condition_dropout(200_000, 0.1, [0.2, 0.5, 0.0], torch.Generator().manual_seed(0))
    assert drops.shape == (3, 200_000)
    assert abs(text.float().mean() - 0.1) < 0.005 and abs(drops[0].float().mean() - 0.2) < 0.005
    assert abs(drops[1].float().mean() - 0.5) < 0.005 and not drops[2].any()
    both = (drops[0] & drops[1]).float().mean()
    assert abs(both - 0.1) < 0.005  # independent: P(both) = 0.2 x 0.5
    # One condition draws exactly what torch.rand(2, n) gives, as the one-condition model always has.
    u = torch.rand(2, 64, generator=torch.Generator().manual_seed(3))
    text, mask = sample_dropout(64, 0.3, 0.4, torch.Generator().manual_seed(3))
    assert torch.equal(text, u[0] < 0.3) and torch.equal(mask, u[1] < 0.4)


def test_one_forward_per_drop_pattern_every_condition_kept_first():
    drops = torch.tensor([[False, True, False, True, False], [False, False, True, True, False]])
    forwards = condition_forwards(drops, sharded=False, condition_tokens=True, device=torch.device("cpu"))
    assert [(f.dropped, f.samples) for f in forwards] == [
        ((False, False), [0, 4]),
        ((False, True), [2]),
        ((True, False), [1]),
        ((True, True), [3]),
    ]
    assert not keep_every_weight(drops, sharded=False, condition_tokens=True)
    sketch_never = torch.tensor([[False, True], [True, True]])  # no sample keeps the sketch: its path needs a zero
    assert keep_every_weight(sketch_never, sharded=False, condition_tokens=True)


def test_a_training_step_encodes_each_kept_condition_and_only_those(cfg, monkeypatch):
    seen, real = [], Pipeline.prepare
    monkeypatch.setattr(Pipeline, "prepare", lambda self, c, s=None, lat=None: seen.append(s) or real(self, c, s, lat))
    module = _module(cfg, THREE, "train.mask_dropout=0.5")
    loss = module.flow_matching_loss(_batch(8), step_generator(0, 1))
    assert torch.isfinite(loss)
    _, drops = sample_condition_dropout(8, 0.1, [0.5] * 3, step_generator(0, 1))  # the same generator's draws
    patterns = {tuple(d) for d in drops.T.tolist()}
    assert len(seen) == len(patterns)
    for spatial in seen:
        kept = tuple(kind not in (spatial or {}) for kind in ("mask", "sketch", "keypoints"))
        assert kept in patterns


def test_generation_from_any_subset_and_every_subset_differs(cfg):
    module = _module(cfg, THREE).eval()
    raw = _raw(2)
    images = {}
    for subset in (("mask",), ("sketch",), ("keypoints",), ("mask", "sketch"), ("mask", "sketch", "keypoints")):
        images[subset] = module.generate({k: raw[k] for k in subset}, ["a face."] * 2, steps=2, seed=0)
        assert images[subset].shape == (2, 3, 32, 32)
    text_only = module.generate({}, ["a face."] * 2, steps=2, seed=0)
    dropped = module.generate(raw, ["a face."] * 2, steps=2, seed=0, conditions="text")
    assert torch.equal(text_only, dropped)  # eval mode "text" drops every spatial condition
    assert all(not torch.equal(image, text_only) for image in images.values())


def test_bad_spatial_inputs_say_what_is_valid(cfg):
    module = _module(cfg, "model.conditions=[mask,sketch]")
    raw = _raw(1)
    with pytest.raises(ValueError, match="the model reads mask, sketch, not keypoints"):
        module.generate(raw, ["a face."], steps=1)
    with pytest.raises(ValueError, match=r"sketch batch must be \[B, 32, 32\]"):
        module.generate({"sketch": torch.zeros(1, 16, 16)}, ["a face."], steps=1)
    with pytest.raises(ValueError, match=r"values must be in \[0, 1\]"):
        module.generate({"sketch": torch.full((1, 32, 32), 2.0)}, ["a face."], steps=1)
    keypoints = _module(cfg, "model.conditions=[keypoints]")
    outside = raw["keypoints"].clone()
    outside[0, 3, 0] = 40.0
    with pytest.raises(KeypointError, match="l_eye_inner"):
        keypoints.generate({"keypoints": outside}, ["a face."], steps=1)
    with pytest.raises(KeyError, match="the batch has no sketch"):
        spatial_inputs({"mask": raw["mask"]}, ("mask", "sketch"))
