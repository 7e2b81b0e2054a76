"""Several spatial conditions (model.conditions): against diffusers with every condition absent, against the
plain-torch twin (flux_reference.py: one stream per condition, each on its own merged weights, all at the image's
positions), and against the one-condition model for a dropped condition."""

from dataclasses import replace

import pytest
import torch
from flux_reference import reference_of
from model_helpers import GRID, LATENT, empty_pooled, inputs, randomize_lora, run, run_reference, wrap

from mdit.conditions import UnknownConditionError
from mdit.config import ConfigError, load_config
from mdit.model import STRATEGIES, LoraSettings
from mdit.sampling import euler_sample, flux_sigmas, mdit_velocity

LORA = LoraSettings(rank=4, alpha=2.0)
TOKEN_VARIANTS = ["holistic", "hard_decoupled", "improved_decoupled"]
SETS = [("mask", "sketch"), ("sketch",), ("mask", "sketch", "keypoints"), ("keypoints", "mask")]
TOLERANCE = 1e-5


def _latents(seed: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, GRID * GRID, LATENT, generator=torch.Generator().manual_seed(seed))


def _given(conditions, drop=()) -> dict:
    return {kind: _latents(10 + i) for i, kind in enumerate(conditions) if kind not in drop}


def _model(attention: str, conditions, guidance: bool = True, **kwargs):
    model, _ = wrap(attention, guidance, lora=LORA, conditions=conditions, **kwargs)
    randomize_lora(model)
    return model


def _velocity(model, x, cond, t: float) -> torch.Tensor:
    t = torch.full((x.shape[0],), t)
    return model(x, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance, cond.mask)


@pytest.mark.parametrize("conditions", SETS, ids="+".join)
@pytest.mark.parametrize("attention", list(STRATEGIES))
@torch.no_grad()
def test_every_condition_absent_equals_diffusers_forward(attention, conditions):
    model, reference = wrap(attention, True, conditions=conditions)
    x, cond = inputs(True)
    for given in (None, {kind: None for kind in conditions}):
        ours = run(model, x, replace(cond, mask=given), 0.4)
        assert (ours - run_reference(reference, x, cond, 0.4)).abs().max().item() <= 1e-5


@pytest.mark.parametrize("conditions", SETS, ids="+".join)
@pytest.mark.parametrize("attention", ["concat", *TOKEN_VARIANTS])
@torch.no_grad()
def test_every_condition_and_subset_matches_the_plain_torch_twin(attention, conditions):
    """Each condition its own stream (holistic) or cached K/V (decoupled) or channels (concat), with its own
    embedder and adapter at the image's positions; any subset given, the others dropped."""
    model = _model(attention, conditions)
    twin = reference_of(model, LORA.alpha / LORA.rank, empty_pooled())
    x, cond = inputs(True)
    for drop in ((), conditions[:1], conditions[1:]):
        given = _given(conditions, drop)
        t = torch.full((x.shape[0],), 0.6)
        ours = _velocity(model, x, replace(cond, mask=given), 0.6)
        theirs = twin(x, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance, given).float()
        assert (ours - theirs).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("attention", TOKEN_VARIANTS)
@torch.no_grad()
def test_each_condition_reads_its_own_adapter_and_embedder(attention):
    """Swapping two conditions' latents changes the output: each kind is read through its own weights."""
    model = _model(attention, ("mask", "sketch"))
    x, cond = inputs(True)
    a, b = _latents(1), _latents(2)
    one = _velocity(model, x, replace(cond, mask={"mask": a, "sketch": b}), 0.5)
    other = _velocity(model, x, replace(cond, mask={"mask": b, "sketch": a}), 0.5)
    assert (one - other).abs().max().item() > 1e-4


@pytest.mark.parametrize("attention", ["concat", *TOKEN_VARIANTS])
@torch.no_grad()
def test_dropping_one_condition_drops_only_its_tokens(attention):
    """A [mask, sketch] model given the mask alone is the [mask] model with the same weights (the sketch's
    embedder and adapter, or under concat its channels, change nothing while it is dropped)."""
    alone = _model(attention, ("mask",))
    both = _model(attention, ("mask", "sketch"))
    state = alone.state_dict()
    if attention == "concat":  # the one-condition model's x_embedder: the first two thirds of the widened one
        wide = both.base.x_embedder.weight.detach().clone()
        old = state["base.x_embedder.weight"].shape[1]
        wide[:, :old] = state["base.x_embedder.weight"]
        wide[:, old:] = torch.randn_like(wide[:, old:])  # the sketch's channels: live, not at their zero init
        state["base.x_embedder.weight"] = wide
    missing, unexpected = both.load_state_dict(state, strict=False)
    assert not unexpected and all(".sketch." in n or n.startswith("sketch_embedder") for n in missing)
    x, cond = inputs(True)
    expected = _velocity(alone, x, cond, 0.5)
    assert (_velocity(both, x, replace(cond, mask={"mask": cond.mask}), 0.5) - expected).abs().max() <= TOLERANCE
    with_sketch = _velocity(both, x, replace(cond, mask={"mask": cond.mask, "sketch": _latents(3)}), 0.5)
    assert (with_sketch - expected).abs().max() > 1e-4


@pytest.mark.parametrize("attention", ["hard_decoupled", "improved_decoupled"])
@torch.no_grad()
def test_the_cache_holds_one_entry_per_condition_and_cached_sampling_equals_recomputed(attention):
    model = _model(attention, ("mask", "sketch", "keypoints"))
    x, cond = inputs(True)
    cond = replace(cond, mask=_given(model.conditions, drop=("sketch",)))
    cache = model.prepare_static_cache(
        cond.mask, cond.text_tokens, cond.pooled, cond.img_ids, cond.txt_ids, cond.guidance
    )
    assert cache.conditions == ("mask", "keypoints")  # the dropped sketch has no entry
    for kind in cache.conditions:
        entries = cache.entries(kind)
        assert len(entries) == model.num_blocks and all(k.shape[1] == GRID * GRID for k, _ in entries)
    assert cache.nbytes == 2 * model.num_blocks * 2 * 2 * GRID * GRID * model.base.inner_dim * 4
    sigmas = flux_sigmas(4, x.shape[1])
    before = model.static_passes
    cached = euler_sample(mdit_velocity(model, cond), x, sigmas)
    assert model.static_passes == before + 1  # one static pass over every condition, for all four steps
    recomputed = euler_sample(mdit_velocity(model, cond, use_cache=False), x, sigmas)
    assert model.static_passes == before + 1 + 4
    assert (cached - recomputed).abs().max().item() <= 1e-5


@torch.no_grad()
def test_condition_tokens_sit_at_the_image_positions():
    """Every condition's tokens get the image tokens' RoPE (the twin test checks the values against ids built
    from the image's; here: the very same tensors, and one shared set of group centres when compact)."""
    model, _ = wrap("hard_decoupled", False, conditions=("mask", "sketch"))
    x, cond = inputs(False)
    pos = model._positions(cond.txt_ids, cond.img_ids)
    assert pos.mask is pos.image  # stride 1: the very same RoPE tensors as the image tokens
    compact, _ = wrap("hard_decoupled", False, conditions=("mask", "sketch"), mask_token_stride=2)
    pos2 = compact._positions(cond.txt_ids, cond.img_ids)
    assert pos2.mask[0].shape[0] == GRID * GRID // 4  # one position per group, shared by every condition


def test_bad_condition_inputs_are_errors_that_say_what_is_valid():
    model = _model("improved_decoupled", ("mask", "sketch"))
    x, cond = inputs(True)
    with pytest.raises(ValueError, match="pass {kind: latents}"):
        _velocity(model, x, cond, 0.5)  # one tensor for two conditions
    with pytest.raises(ValueError, match="not read by this model; it reads mask, sketch"):
        _velocity(model, x, replace(cond, mask={"keypoints": cond.mask}), 0.5)
    with pytest.raises(ValueError, match="sketch tokens"):
        _velocity(model, x, replace(cond, mask={"sketch": cond.mask[:, :3]}), 0.5)
    with pytest.raises(UnknownConditionError, match="valid: mask, sketch, keypoints"):
        wrap("holistic", conditions=("mask", "depth"))
    with pytest.raises(UnknownConditionError, match="twice"):
        wrap("holistic", conditions=("mask", "mask"))
    with pytest.raises(ConfigError, match="model.conditions: unknown condition"):
        load_config(None, ["model.conditions=[mask,edges]"])
    with pytest.raises(ConfigError, match="model.conditions: conditions is empty"):
        load_config(None, ["model.conditions=[]"])
    with pytest.raises(ConfigError, match="data.embeddings=true caches the mask's latents only"):
        load_config(None, ["model.conditions=[mask,sketch]", "data.embeddings=true"])
