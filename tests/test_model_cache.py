"""The static pathway of the decoupled variants: cached == recomputed, run once, free of t and of the noisy image."""

import pytest
import torch
from model_helpers import inputs, randomize_lora, run, wrap

from mdit.model import StaticKVCache
from mdit.sampling import euler_sample, flux_sigmas, mdit_velocity

DECOUPLED = ["hard_decoupled", "improved_decoupled"]
STEPS = 4


def _sample(model, noise, cond, use_cache):
    return euler_sample(mdit_velocity(model, cond, use_cache), noise, flux_sigmas(STEPS, noise.shape[1]))


def _count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("guidance", [False, True], ids=["schnell", "dev"])
@pytest.mark.parametrize("attention", DECOUPLED)
@torch.no_grad()
def test_cached_sampling_equals_recomputing_the_static_path(attention, guidance):
    model, _ = wrap(attention, guidance)
    randomize_lora(model)
    noise, cond = inputs(guidance)
    embedder_calls = _count_calls(model.visual_embedder)

    cached = _sample(model, noise, cond, use_cache=True)
    assert model.static_passes == 1 and embedder_calls[0] == 1  # once per sample, not per step

    recomputed = _sample(model, noise, cond, use_cache=False)
    assert model.static_passes == 1 + STEPS and embedder_calls[0] == 1 + STEPS
    assert (cached - recomputed).abs().max().item() <= 1e-5
    assert (cached - noise).abs().max().item() > 1e-2  # the sampler did move


@pytest.mark.parametrize("attention", DECOUPLED)
@torch.no_grad()
def test_cache_is_written_once_and_read_every_step(attention):
    model, _ = wrap(attention)
    noise, cond = inputs(False)
    cache = model.prepare_static_cache(cond.mask, cond.text_tokens, cond.pooled, cond.img_ids, cond.txt_ids)
    assert cache.mode == "read" and cache.writes == model.num_blocks
    sigmas = flux_sigmas(STEPS, noise.shape[1])
    euler_sample(lambda x, t: run(model, x, cond, t, mask=False, cache=cache), noise, sigmas)
    assert cache.writes == model.num_blocks and cache.reads == model.num_blocks * STEPS
    assert cache.nbytes == model.num_blocks * 2 * noise.shape[0] * noise.shape[1] * model.base.inner_dim * 4
    with pytest.raises(ValueError, match="takes no conditions"):  # read mode cannot recompute by construction
        run(model, noise, cond, 0.5, mask=True, cache=cache)
    with pytest.raises(RuntimeError, match="already written"):
        cache.store([])


@pytest.mark.parametrize("attention", DECOUPLED)
@torch.no_grad()
def test_static_path_does_not_change_with_t_or_the_noisy_image(attention):
    model, _ = wrap(attention, guidance=True)
    randomize_lora(model)
    noise, cond = inputs(True)
    entries = []
    for t, x in ((0.05, noise), (0.95, noise), (0.5, torch.randn_like(noise))):
        cache = StaticKVCache()
        run(model, x, cond, t, cache=cache)  # write mode: the forward fills the cache
        entries.append(cache.entries("mask"))
    for other in entries[1:]:
        for (k0, v0), (k1, v1) in zip(entries[0], other):
            assert torch.equal(k0, k1) and torch.equal(v0, v1)


@torch.no_grad()
def test_holistic_with_frozen_mask_kv_differs_negative_control():
    """Proves the cache test can fail: holistic's mask K/V depend on t and X, so freezing them changes samples."""
    model, _ = wrap("holistic")
    randomize_lora(model)
    noise, cond = inputs(False)
    true = _sample(model, noise, cond, use_cache=False)
    frozen = _sample(model, noise, cond, use_cache=True)
    assert (true - frozen).abs().max().item() > 1e-3


@pytest.mark.parametrize("attention", ["none", "concat", "holistic"])
def test_only_decoupled_strategies_have_a_static_path(attention):
    model, _ = wrap(attention)
    _, cond = inputs(False)
    with pytest.raises(ValueError, match="no static path"):
        model.prepare_static_cache(cond.mask, cond.text_tokens, cond.pooled, cond.img_ids, cond.txt_ids)
