"""Compact mask tokens (model.mask_token_stride) and who reads them (model.mask_readers), against the plain-torch
reference (flux_reference.py: blocks gathered by explicit loops, readers as zero attention weight) and against
the outputs stored before either option existed."""

from pathlib import Path

import pytest
import torch
from flux_reference import compact_mask, reference_of
from model_helpers import GRID, LATENT, empty_pooled, inputs, randomize_lora, run, wrap

from mdit.config import ConfigError, load_config
from mdit.model import LoraSettings
from mdit.model.compact import group_centres, token_grid
from mdit.sampling import euler_sample, flux_sigmas, mdit_velocity

LORA = LoraSettings(rank=4, alpha=2.0)
TOKEN_VARIANTS = ["holistic", "hard_decoupled", "improved_decoupled"]
SETTINGS = [(2, "image_text"), (4, "image"), (2, "image"), (1, "image")]  # (stride, readers) beyond the paper's
TOLERANCE = 1e-5
GOLDEN = Path(__file__).parent / "data" / "paper_setting_outputs.pt"


def _model(attention: str, stride: int = 1, readers: str = "image_text", guidance: bool = True):
    model, _ = wrap(attention, guidance, lora=LORA, mask_token_stride=stride, mask_readers=readers)
    randomize_lora(model)
    return model


def _velocity(model, x, cond, t: float, strength: float = 1.0) -> torch.Tensor:
    t = torch.full((x.shape[0],), t)
    args = (x, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance, cond.mask)
    return model(*args, mask_strength=strength)


def _reference_velocity(model, cond, strength: float = 1.0):
    """The plain-torch twin's v(x, t) (t a float or a batch of equal t)."""
    reference = reference_of(model, LORA.alpha / LORA.rank, empty_pooled())

    def velocity(x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        t = torch.full((x.shape[0],), float(t if isinstance(t, float) else t[0]))
        return reference(
            x, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance, cond.mask, strength
        ).float()

    return velocity


@torch.no_grad()
def test_the_paper_setting_is_bit_identical_to_the_outputs_before_the_options():
    """Stride 1 and image_text: every variant's velocity (with and without mask strength) and a cached sample
    equal, bit for bit, what the model computed before these options existed (stored by that version)."""
    golden = torch.load(GOLDEN)
    for name, expected in golden.items():
        attention, what = name.split("/")
        model = _model(attention, 1, "image_text")
        x, cond = inputs(True)
        if what == "sample":
            got = euler_sample(mdit_velocity(model, cond), x, flux_sigmas(4, x.shape[1]))
        else:
            strength = 1.0 if what == "velocity" else 2.0
            got = _velocity(model, x, cond, 0.7, strength)
        assert torch.equal(got, expected), name


@pytest.mark.parametrize("stride,readers", SETTINGS, ids=[f"s{s}-{r}" for s, r in SETTINGS])
@pytest.mark.parametrize("attention", TOKEN_VARIANTS)
@torch.no_grad()
def test_every_new_setting_equals_the_reference(attention, stride, readers):
    model = _model(attention, stride, readers)
    x, cond = inputs(True)
    for t, strength in ((0.25, 1.0), (0.7, 2.0)):
        ours = _velocity(model, x, cond, t, strength)
        assert (ours - _reference_velocity(model, cond, strength)(x, t)).abs().max().item() <= TOLERANCE
    if stride == 1:  # same weights as the paper's setting: the text not reading the mask changes the output
        paper = _model(attention)
        assert (run(paper, x, cond, 0.5) - run(model, x, cond, 0.5)).abs().max().item() > 1e-4


SAMPLED = [(2, "image_text", 4), (4, "image", 8), (2, "image", 4), (1, "image", 8)]  # (stride, readers, steps)


@pytest.mark.parametrize("stride,readers,steps", SAMPLED, ids=[f"s{s}-{r}-{n}steps" for s, r, n in SAMPLED])
@pytest.mark.parametrize("attention", ["hard_decoupled", "improved_decoupled"])
@torch.no_grad()
def test_cached_sampling_equals_recomputed_sampling(attention, stride, readers, steps):
    """The static pass once per sample at 4 or 8 steps, and its cache (N/s² tokens per block) read instead of
    recomputing it, give the same samples (and at 4 steps the reference sampler's)."""
    model = _model(attention, stride, readers)
    noise, cond = inputs(True)
    sigmas = flux_sigmas(steps, noise.shape[1])
    cached = euler_sample(mdit_velocity(model, cond), noise, sigmas)
    assert model.static_passes == 1
    recomputed = euler_sample(mdit_velocity(model, cond, use_cache=False), noise, sigmas)
    assert model.static_passes == 1 + steps
    assert (cached - recomputed).abs().max().item() <= TOLERANCE
    assert (cached - noise).abs().max().item() > 1e-2
    if steps == 4:
        reference = euler_sample(_reference_velocity(model, cond), noise, sigmas)
        assert (cached - reference).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("stride", [1, 2, 4])
@torch.no_grad()
def test_the_static_cache_shrinks_by_the_stride_squared(stride):
    model = _model("improved_decoupled", stride)
    _, cond = inputs(True)
    cache = model.prepare_static_cache(
        cond.mask, cond.text_tokens, cond.pooled, cond.img_ids, cond.txt_ids, cond.guidance
    )
    tokens = GRID * GRID // stride**2
    assert cache.entries("mask")[0][0].shape[1] == tokens
    # blocks x (k, v) x batch x tokens/s² x hidden x 4 bytes (float32)
    assert cache.nbytes == model.num_blocks * 2 * 2 * tokens * model.base.inner_dim * 4


def test_a_stride_2_token_sits_at_the_mean_of_its_groups_ids():
    _, cond = inputs(False)  # a 4x4 grid of ids (0, row, col)
    centres = group_centres(cond.img_ids, token_grid(cond.img_ids), 2)
    by_hand = torch.tensor([[0, 0.5, 0.5], [0, 0.5, 2.5], [0, 2.5, 0.5], [0, 2.5, 2.5]])
    assert torch.equal(centres, by_hand)
    assert torch.equal(compact_mask(cond.mask, cond.img_ids, 2)[1].float(), by_hand)  # the reference agrees


@torch.no_grad()
def test_the_compact_embedder_starts_as_the_image_embedder_of_the_groups_mean():
    model = _model("improved_decoupled", 2)
    x_embedder, proj = model.base.x_embedder, model.visual_embedder.proj.base_layer
    uniform = torch.randn(3, LATENT)
    assert torch.allclose(proj(uniform.repeat(1, 4)), x_embedder(uniform), atol=1e-6)
    parts = torch.randn(3, 4, LATENT)
    assert torch.allclose(proj(parts.flatten(1)), x_embedder(parts.mean(1)), atol=1e-6)
    same = _model("improved_decoupled", 1).visual_embedder.proj.base_layer
    assert torch.equal(same.weight, x_embedder.weight) and torch.equal(same.bias, x_embedder.bias)


def test_a_stride_that_does_not_tile_the_grid_is_an_error():
    model = _model("improved_decoupled", 3)
    x, cond = inputs(True)
    with pytest.raises(ValueError, match="does not divide the 4x4 image-token grid"):
        run(model, x, cond, 0.5)


@pytest.mark.parametrize(
    "overrides,fragment",
    [
        (["model.mask_token_stride=3"], "does not divide the 8x8 image-token grid.*valid: 1, 2, 4, 8"),
        (["model.mask_token_stride=0"], "model.mask_token_stride must be >= 1"),
        (["model.mask_readers=text"], "model.mask_readers='text'; valid: image_text, image"),
        (["model.attention=concat", "model.mask_token_stride=2"], "model.attention=concat has none"),
        (["model.attention=none", "model.mask_readers=image"], "model.attention=none has none"),
    ],
)
def test_bad_options_are_config_errors_that_name_the_valid_ones(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config("experiments/synthfaces.yaml", overrides)


@pytest.mark.parametrize("attention", ["none", "concat"])
def test_variants_without_mask_tokens_refuse_the_options(attention):
    with pytest.raises(ValueError, match="has none"):
        wrap(attention, mask_token_stride=2)
