"""Every strategy, adapters live and the mask present, against FLUX written out in plain torch (flux_reference.py).

The reference shares no code with mdit.model: LoRA merged into weight copies (W + alpha/r B A), RoPE as a complex
rotation, explicit softmax attention. It is first checked against diffusers' own forward.
"""

import pytest
import torch
from flux_reference import Reference, mlp, reference_of, time_embedding, weights_of
from model_helpers import empty_pooled, inputs, randomize_lora, run, run_reference, tiny_flux, wrap

from mdit.model import LoraSettings
from mdit.sampling import euler_sample, flux_sigmas, mdit_velocity

LORA = LoraSettings(rank=4, alpha=2.0)  # alpha / r = 0.5: the adapters' own scale must be kept, not forced to 1
MASK_VARIANTS = ["concat", "holistic", "hard_decoupled", "improved_decoupled"]
TOLERANCE = 1e-5  # fp32 model against the float64 reference


def _reference(model) -> Reference:
    return reference_of(model, LORA.alpha / LORA.rank, empty_pooled())


def _velocity(reference: Reference, x, cond, t: float, mask: bool = True) -> torch.Tensor:
    t = torch.full((x.shape[0],), t)
    return reference(
        x, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance, cond.mask if mask else None
    ).float()


@pytest.mark.parametrize("guidance", [False, True], ids=["schnell", "dev"])
@torch.no_grad()
def test_the_reference_is_diffusers_flux(guidance):
    base = tiny_flux(guidance)
    c = base.config
    reference = Reference(
        "none",
        weights_of(base),
        weights_of(base),
        {},
        tuple(c.axes_dims_rope),
        c.num_attention_heads,
        c.num_layers,
        c.num_single_layers,
        empty_pooled(),
    )
    x, cond = inputs(guidance)
    for t in (0.25, 0.7):
        expected = run_reference(base, x, cond, t)
        assert (_velocity(reference, x, cond, t, mask=False) - expected).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("guidance", [False, True], ids=["schnell", "dev"])
@pytest.mark.parametrize("attention", MASK_VARIANTS)
@torch.no_grad()
def test_every_variant_with_live_adapters_equals_the_reference(attention, guidance):
    model, _ = wrap(attention, guidance, lora=LORA)
    randomize_lora(model)
    if attention == "concat":  # its new input columns start at zero: make them count
        model.base.x_embedder.weight[:, -16:].normal_(0, 0.2)
    reference = _reference(model)
    x, cond = inputs(guidance)
    for t in (0.25, 0.7):
        ours = run(model, x, cond, t)
        assert (ours - _velocity(reference, x, cond, t)).abs().max().item() <= TOLERANCE
        assert (ours - _velocity(reference, x, cond, t, mask=False)).abs().max().item() > 1e-3  # the mask counts
    dropped = run(model, x, cond, 0.5, mask=False)  # mask dropped: the image adapter alone
    assert (dropped - _velocity(reference, x, cond, 0.5, mask=False)).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("attention", ["hard_decoupled", "improved_decoupled"])
@torch.no_grad()
def test_cached_sampling_equals_the_reference_sampler(attention):
    """The sampler's static pass once and its cache read at every step give the reference's samples, which
    recompute everything at every step."""
    model, _ = wrap(attention, True, lora=LORA)
    randomize_lora(model)
    reference = _reference(model)
    noise, cond = inputs(True)
    sigmas = flux_sigmas(4, noise.shape[1])
    ours = euler_sample(mdit_velocity(model, cond), noise, sigmas)
    assert model.static_passes == 1
    theirs = euler_sample(
        lambda x, t: reference(
            x, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance, cond.mask
        ).float(),
        noise,
        sigmas,
    )
    assert (ours - theirs).abs().max().item() <= TOLERANCE


def _static_kv(model, cond, text_tokens, pooled):
    cache = model.prepare_static_cache(cond.mask, text_tokens, pooled, cond.img_ids, cond.txt_ids, cond.guidance)
    return cache.entries("mask")


@pytest.mark.parametrize("static_modulation", ["reference_t", "reference_t_caption", "pooled_text"])
@pytest.mark.parametrize("attention", ["hard_decoupled", "improved_decoupled"])
@torch.no_grad()
def test_only_the_improved_variant_reads_the_caption_in_its_static_path(attention, static_modulation):
    """Hard decoupling is the mask alone: its cached K/V are bit-identical for two captions (tokens and pooled
    vector both differ). The improved variant's differ (T_s). Modulations that let the caption in say so."""
    model, _ = wrap(attention, True, static_modulation=static_modulation)
    randomize_lora(model)
    _, cond = inputs(True)
    _, other = inputs(True, seed=5)  # another caption: other tokens, other pooled vector
    first = _static_kv(model, cond, cond.text_tokens, cond.pooled)
    second = _static_kv(model, cond, other.text_tokens, other.pooled)
    identical = all(torch.equal(k0, k1) and torch.equal(v0, v1) for (k0, v0), (k1, v1) in zip(first, second))
    text_blind = attention == "hard_decoupled" and static_modulation == "reference_t"
    assert identical == text_blind


@pytest.mark.parametrize("static_modulation", ["reference_t", "reference_t_caption", "pooled_text"])
@pytest.mark.parametrize("guidance", [False, True], ids=["schnell", "dev"])
@torch.no_grad()
def test_static_modulations_are_their_definitions(static_modulation, guidance):
    """Each static modulation equals its formula (none takes t); only the default ignores the caption's pooled."""
    model, _ = wrap("improved_decoupled", guidance, static_modulation=static_modulation, reference_t=0.25)
    w = weights_of(model.base)
    g = torch.full((2,), 3.5, dtype=torch.float64) if guidance else None
    t_ref = torch.full((2,), 0.25)
    for seed in (1, 5):  # two captions' pooled vectors
        _, cond = inputs(guidance, seed=seed)
        pooled = cond.pooled.double()
        if static_modulation == "pooled_text":
            expected = mlp(w, "time_text_embed.text_embedder", pooled)
        else:
            caption_free = static_modulation == "reference_t"
            expected = time_embedding(w, t_ref, g, empty_pooled().double().expand(2, -1) if caption_free else pooled)
        got = model.static_embedding(cond.pooled, cond.guidance).double()
        assert (got - expected).abs().max().item() <= TOLERANCE
