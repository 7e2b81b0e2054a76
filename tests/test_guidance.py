"""Two-condition classifier-free guidance and the mask strength, against formulas written out here.

Guidance: v = v(∅,∅) + s_m (v(m,∅) - v(∅,∅)) + s_t (v(m,t) - v(m,∅)) from three unguided forwards. Strength γ: each
mask key's unnormalised attention weight exp(q·k/√d) times γ for the text and image queries, checked on one
attention and, through the float64 FLUX of flux_reference.py, on the whole transformer.
"""

import math

import pytest
import torch
from diffusers import FluxTransformer2DModel
from flux_reference import reference_of
from model_helpers import empty_pooled, inputs, randomize_lora, run, synthfaces_parts, wrap

from mdit.conditioning import EMPTY_CAPTION, unpack_latents
from mdit.config import ConfigError, load_config
from mdit.model import LoraSettings, MDiTTransformer, blocks
from mdit.model.blocks import _attend, mask_key_bias
from mdit.pipeline import Pipeline, initial_noise
from mdit.sampling import euler_sample, flux_sigmas, mdit_velocity

RESOLUTION = 32
SEEDS = [3, 4]
MASK_TOKENS = ["holistic", "hard_decoupled", "improved_decoupled"]
DECOUPLED = ["hard_decoupled", "improved_decoupled"]
LORA = LoraSettings(rank=4, alpha=2.0)
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def parts():
    return synthfaces_parts(RESOLUTION)


def _pipeline(parts, attention: str) -> Pipeline:
    """A tiny pipeline whose adapters (and concat's widened columns) are non-zero, so the mask counts."""
    autoencoder, text, _ = parts
    torch.manual_seed(0)
    backbone = FluxTransformer2DModel(
        in_channels=4 * autoencoder.latent_channels,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=text.joint_attention_dim,
        pooled_projection_dim=text.joint_attention_dim,
        axes_dims_rope=(4, 4, 8),
    )
    model = MDiTTransformer(backbone, attention).eval()
    model.set_empty_caption(text([EMPTY_CAPTION]).pooled)
    randomize_lora(model)
    if attention == "concat":
        with torch.no_grad():
            model.base.x_embedder.weight[:, model.latent_channels :].normal_(0, 0.2)
    return Pipeline(model, text, autoencoder, RESOLUTION, guidance=1.0)


def _decode(pipe: Pipeline, latents: torch.Tensor) -> torch.Tensor:
    side = pipe.latent_side
    return pipe.autoencoder.decode(unpack_latents(latents, side, side)).clamp(-1, 1)


# ----------------------------------------------------------------------------------------------------------------
# Two-condition guidance
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention", ["concat", *MASK_TOKENS])
@torch.no_grad()
def test_unit_scales_and_strength_are_unguided_sampling(parts, attention):
    """Both scales and the strength at 1 are today's unguided sampler, bit for bit."""
    pipe = _pipeline(parts, attention)
    _, _, batch = parts
    masks, captions = batch["mask"], list(batch["caption"])
    noise = initial_noise(2, (pipe.image_tokens, 4 * pipe.autoencoder.latent_channels), SEEDS)
    expected = _decode(
        pipe,
        euler_sample(
            mdit_velocity(pipe.model, pipe.prepare(captions, masks)), noise, flux_sigmas(2, pipe.image_tokens)
        ),
    )
    for settings in ({}, {"mask_guidance_scale": 1.0, "text_guidance_scale": 1.0, "mask_strength": 1.0}):
        assert torch.equal(pipe.generate(masks, captions, 2, SEEDS, **settings), expected)


@pytest.mark.parametrize("scales", [(2.0, 3.5), (1.0, 3.0), (2.5, 1.0)], ids=["both", "text_only", "mask_only"])
@pytest.mark.parametrize("attention", ["concat", *MASK_TOKENS])
@torch.no_grad()
def test_two_scale_guidance_is_the_formula_over_three_unguided_forwards(parts, attention, scales):
    """One Euler step of the guided sampler = the formula over v(∅,∅), v(m,∅), v(m,t), each an unguided forward."""
    s_m, s_t = scales
    pipe = _pipeline(parts, attention)
    _, _, batch = parts
    masks, captions, empty = batch["mask"], list(batch["caption"]), [EMPTY_CAPTION] * 2
    noise = initial_noise(2, (pipe.image_tokens, 4 * pipe.autoencoder.latent_channels), SEEDS)
    sigmas = flux_sigmas(1, pipe.image_tokens)
    t = sigmas[0].expand(2)
    v_mt = mdit_velocity(pipe.model, pipe.prepare(captions, masks))(noise, t)
    v_m = mdit_velocity(pipe.model, pipe.prepare(empty, masks))(noise, t)
    v_0 = mdit_velocity(pipe.model, pipe.prepare(empty))(noise, t)
    guided = v_0 + s_m * (v_m - v_0) + s_t * (v_mt - v_m)
    expected = _decode(pipe, noise + (sigmas[1] - sigmas[0]) * guided)
    got = pipe.generate(masks, captions, 1, SEEDS, mask_guidance_scale=s_m, text_guidance_scale=s_t)
    assert (got - expected).abs().max().item() <= TOLERANCE
    unguided = pipe.generate(masks, captions, 1, SEEDS)
    assert (got - unguided).abs().max().item() > 1e-2  # the guidance does something
    # Text first, then the mask given the text, is another formula: the order is part of the definition.
    v_t = mdit_velocity(pipe.model, pipe.prepare(captions))(noise, t)
    if s_m != s_t:
        other = _decode(pipe, noise + (sigmas[1] - sigmas[0]) * (v_0 + s_t * (v_t - v_0) + s_m * (v_mt - v_t)))
        assert (got - other).abs().max().item() > 1e-3


@pytest.mark.parametrize("conditions", ["text", "mask"])
@torch.no_grad()
def test_a_dropped_condition_leaves_the_other_scale(parts, conditions):
    """With one condition dropped in every branch its term is 0: v(∅,∅) + s (v(given) - v(∅,∅))."""
    s_m, s_t = 2.0, 3.0
    pipe = _pipeline(parts, "improved_decoupled")
    _, _, batch = parts
    masks, captions, empty = batch["mask"], list(batch["caption"]), [EMPTY_CAPTION] * 2
    noise = initial_noise(2, (pipe.image_tokens, 4 * pipe.autoencoder.latent_channels), SEEDS)
    sigmas = flux_sigmas(1, pipe.image_tokens)
    t = sigmas[0].expand(2)
    given = pipe.prepare(captions) if conditions == "text" else pipe.prepare(empty, masks)
    v_c, v_0 = mdit_velocity(pipe.model, given)(noise, t), mdit_velocity(pipe.model, pipe.prepare(empty))(noise, t)
    scale = s_t if conditions == "text" else s_m
    expected = _decode(pipe, noise + (sigmas[1] - sigmas[0]) * (v_0 + scale * (v_c - v_0)))
    got = pipe.generate(masks, captions, 1, SEEDS, conditions, mask_guidance_scale=s_m, text_guidance_scale=s_t)
    assert (got - expected).abs().max().item() <= TOLERANCE


def test_one_kind_of_guidance_at_a_time(parts):
    pipe = _pipeline(parts, "holistic")
    _, _, batch = parts
    with pytest.raises(ValueError, match="two kinds of guidance"):
        pipe.generate(batch["mask"], list(batch["caption"]), 1, 0, "both", 2.0, text_guidance_scale=2.0)


def _counted(monkeypatch, pipe: Pipeline) -> tuple[list[int], list[int]]:
    """Counters of static-cache preparations and of transformer forwards."""
    caches, forwards = [0], [0]
    prepare = MDiTTransformer.prepare_static_cache

    def counting(self, *args, **kwargs):
        caches[0] += 1
        return prepare(self, *args, **kwargs)

    monkeypatch.setattr(MDiTTransformer, "prepare_static_cache", counting)
    pipe.model.register_forward_hook(lambda *_: forwards.__setitem__(0, forwards[0] + 1))
    return caches, forwards


@pytest.mark.parametrize(
    "settings, conditions, caches, forwards_per_step",
    [
        ({}, "both", 1, 1),
        ({"mask_guidance_scale": 2.0, "text_guidance_scale": 3.0}, "both", 2, 3),  # (m,∅) and (m,t)
        ({"mask_guidance_scale": 1.0, "text_guidance_scale": 3.0}, "both", 2, 2),  # v(∅,∅) cancels
        ({"guidance_scale": 3.0}, "both", 1, 2),  # the dropped branch has no mask
        ({"mask_guidance_scale": 2.0, "text_guidance_scale": 3.0}, "text", 0, 2),
        ({"mask_guidance_scale": 2.0, "text_guidance_scale": 3.0}, "mask", 1, 2),
        ({"mask_strength": 2.0}, "both", 1, 1),  # strength: no extra pass
    ],
    ids=["unguided", "two_scale", "text_scale_only", "plain_cfg", "two_scale_text_mode", "two_scale_mask_mode", "γ"],
)
@pytest.mark.parametrize("attention", ["holistic", *DECOUPLED])
@torch.no_grad()
def test_one_static_cache_per_branch_with_the_mask(
    parts, monkeypatch, attention, settings, conditions, caches, forwards_per_step
):
    pipe = _pipeline(parts, attention)
    _, _, batch = parts
    counted_caches, counted_forwards = _counted(monkeypatch, pipe)
    pipe.generate(batch["mask"], list(batch["caption"]), 2, SEEDS, conditions, **settings)
    assert counted_caches[0] == (caches if attention in DECOUPLED else 0)
    assert counted_forwards[0] == 2 * forwards_per_step


# ----------------------------------------------------------------------------------------------------------------
# Mask strength
# ----------------------------------------------------------------------------------------------------------------


def _explicit_attention(q, k, v, weighted_queries: int, mask_keys: int, gamma: float) -> torch.Tensor:
    """exp(q·k/√d), times γ on the last `mask_keys` keys for the first `weighted_queries` queries, normalised."""
    weights = torch.exp(torch.einsum("bnhd,bmhd->bhnm", q, k) / math.sqrt(q.shape[-1]))
    weights[:, :, :weighted_queries, k.shape[1] - mask_keys :] *= gamma
    return torch.einsum("bhnm,bmhd->bnhd", weights / weights.sum(-1, keepdim=True), v).flatten(2)


@pytest.mark.parametrize("gamma", [0.25, 3.0])
@torch.no_grad()
def test_strength_multiplies_each_mask_keys_weight_before_normalisation(gamma):
    g = torch.Generator().manual_seed(0)
    t, x, m = (torch.randn(2, n, 2, 8, generator=g, dtype=torch.float64) for n in (3, 5, 4))
    k_t, k_x, k_m = (torch.randn(2, n, 2, 8, generator=g, dtype=torch.float64) for n in (3, 5, 4))
    v_t, v_x, v_m = (torch.randn(2, n, 2, 8, generator=g, dtype=torch.float64) for n in (3, 5, 4))
    q = torch.cat([t, x], dim=1)
    k, v = torch.cat([k_t, k_x, k_m], dim=1), torch.cat([v_t, v_x, v_m], dim=1)

    # Decoupled: the mask's K/V come from the cache, every query is T or X.
    cached = mask_key_bias(8, 4, gamma, mask_queries=False, dtype=torch.float64)
    out = torch.cat(_attend([t, x], [k_t, k_x], [v_t, v_x], ((k_m, v_m),), cached), dim=1)
    assert (out - _explicit_attention(q, k, v, 8, 4, gamma)).abs().max().item() <= 1e-12
    # Holistic: M's own queries follow and are not weighted; in the last block they are absent.
    live = mask_key_bias(8, 4, gamma, mask_queries=True, dtype=torch.float64)
    out = torch.cat(_attend([t, x, m], [k_t, k_x, k_m], [v_t, v_x, v_m], None, live), dim=1)
    assert (out - _explicit_attention(torch.cat([q, m], dim=1), k, v, 8, 4, gamma)).abs().max().item() <= 1e-12
    out = torch.cat(_attend([t, x], [k_t, k_x, k_m], [v_t, v_x, v_m], None, live), dim=1)
    assert (out - _explicit_attention(q, k, v, 8, 4, gamma)).abs().max().item() <= 1e-12
    unweighted = _explicit_attention(q, k, v, 8, 4, 1.0)
    assert (out - unweighted).abs().max().item() > 1e-3


@pytest.mark.parametrize("attention", MASK_TOKENS)
@torch.no_grad()
def test_unit_strength_passes_no_attention_mask(monkeypatch, attention):
    """γ = 1 is today's attention call: no bias tensor at all (which could cost a faster kernel), not a zero one."""
    masks: list = []
    dispatch = blocks.dispatch_attention_fn

    def recording(*args, **kwargs):
        masks.append(kwargs.get("attn_mask"))
        return dispatch(*args, **kwargs)

    monkeypatch.setattr(blocks, "dispatch_attention_fn", recording)
    model, _ = wrap(attention)
    x, cond = inputs(False)
    euler_sample(mdit_velocity(model, cond), x, flux_sigmas(2, x.shape[1]))
    assert masks and all(m is None for m in masks)
    masks.clear()
    euler_sample(mdit_velocity(model, cond, mask_strength=2.0), x, flux_sigmas(2, x.shape[1]))
    static = model.num_blocks - 1 if attention in DECOUPLED else 0  # the static pass (no queries in its last block)
    assert sum(m is None for m in masks) == static and len(masks) == static + 2 * model.num_blocks


@pytest.mark.parametrize("gamma", [0.4, 2.5])
@pytest.mark.parametrize("lora", [LORA, None], ids=["lora", "no_adapters"])  # holistic without: one [X; M] stream
@pytest.mark.parametrize("attention", MASK_TOKENS)
@torch.no_grad()
def test_strength_on_the_whole_transformer_equals_the_reference(attention, lora, gamma):
    model, _ = wrap(attention, True, lora=lora)
    if lora is not None:
        randomize_lora(model)
    reference = reference_of(model, LORA.alpha / LORA.rank, empty_pooled())
    x, cond = inputs(True)
    t = torch.full((2,), 0.6)
    args = (x, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance)
    ours = model(*args, cond.mask, mask_strength=gamma)
    assert (ours - reference(*args, cond.mask, mask_strength=gamma).float()).abs().max().item() <= TOLERANCE
    assert (ours - run(model, x, cond, 0.6)).abs().max().item() > 1e-3  # γ changes the output
    # No mask, no mask keys: γ changes nothing.
    assert torch.equal(model(*args, None, mask_strength=gamma), run(model, x, cond, 0.6, mask=False))


@pytest.mark.parametrize("attention", DECOUPLED)
@torch.no_grad()
def test_strength_reads_the_cached_mask_kv(attention):
    """The sampler's cached K/V, weighted, give the reference's samples (which run the static pass every step)."""
    model, _ = wrap(attention, True, lora=LORA)
    randomize_lora(model)
    reference = reference_of(model, LORA.alpha / LORA.rank, empty_pooled())
    noise, cond = inputs(True)
    sigmas = flux_sigmas(3, noise.shape[1])
    ours = euler_sample(mdit_velocity(model, cond, mask_strength=2.0), noise, sigmas)
    assert model.static_passes == 1
    theirs = euler_sample(
        lambda x, t: reference(
            x, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance, cond.mask, 2.0
        ).float(),
        noise,
        sigmas,
    )
    assert (ours - theirs).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("attention", ["none", "concat"])
def test_strength_without_mask_tokens_is_an_error(parts, attention):
    pipe = _pipeline(parts, attention)
    _, _, batch = parts
    with pytest.raises(ValueError, match="has none"):
        pipe.generate(batch["mask"], list(batch["caption"]), 1, 0, mask_strength=2.0)
    x, cond = inputs(False)
    model, _ = wrap(attention)
    with pytest.raises(ValueError, match="has none"):
        model(x, cond.text_tokens, cond.pooled, torch.full((2,), 0.5), cond.img_ids, cond.txt_ids, mask_strength=2.0)


@pytest.mark.parametrize("gamma", [0.0, -1.0, math.nan, math.inf])
def test_the_model_refuses_a_strength_outside_zero_to_infinity(gamma):
    model, _ = wrap("holistic")
    x, cond = inputs(False)
    with pytest.raises(ValueError, match="mask_strength must be in"):
        run_args = (x, cond.text_tokens, cond.pooled, torch.full((2,), 0.5), cond.img_ids, cond.txt_ids)
        model(*run_args, None, cond.mask, mask_strength=gamma)


# ----------------------------------------------------------------------------------------------------------------
# The config fields
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["eval.mask_guidance_scale", "eval.text_guidance_scale", "eval.mask_strength"])
def test_the_eval_fields_are_positive_and_default_to_off(key):
    assert load_config(None).eval[key.split(".")[1]] == 1.0
    for value in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ConfigError) as err:
            load_config(None, [f"{key}={value!r}"])
        assert str(err.value) == f"{key} must be > 0, got {value}"
    assert load_config(None, ["model.attention=holistic", f"{key}=0.5"]).eval[key.split(".")[1]] == 0.5


def test_the_eval_fields_rules_across_fields():
    with pytest.raises(ConfigError, match="choose one kind of guidance"):
        load_config(None, ["eval.guidance_scale=2.0", "eval.text_guidance_scale=3.0"])
    load_config(None, ["eval.mask_guidance_scale=2.0", "eval.text_guidance_scale=3.0"])
    for attention in ("none", "concat"):
        with pytest.raises(ConfigError, match=f"model.attention={attention} has none"):
            load_config(None, [f"model.attention={attention}", "eval.mask_strength=2.0"])
