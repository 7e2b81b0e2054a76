"""Sampling shortcuts of the MDiT transformer: the merged image adapter and the per-sampler RoPE cache."""

import pytest
import torch
from model_helpers import inputs, randomize_lora, run, wrap

from mdit.model.adapters import IMAGE_ADAPTER, lora_layers
from mdit.sampling import euler_sample, flux_sigmas, mdit_velocity

MASK_VARIANTS = ("concat", "holistic", "hard_decoupled", "improved_decoupled")


@pytest.mark.parametrize("attention", MASK_VARIANTS)
@pytest.mark.parametrize("with_mask", [True, False])
@torch.no_grad()
def test_merged_image_adapter_gives_the_same_velocity(attention, with_mask):
    model, _ = wrap(attention, guidance=True)
    randomize_lora(model)  # both adapters non-zero: a wrong sign or a missed stream shows
    x, cond = inputs(guidance=True)
    expected = run(model, x, cond, 0.6, mask=with_mask)
    weight = model.base.single_transformer_blocks[0].proj_mlp.base_layer.weight
    before = weight.clone()
    model.merge_image_adapter()
    assert not torch.equal(weight, before)  # the base weights really changed
    torch.testing.assert_close(run(model, x, cond, 0.6, mask=with_mask), expected, rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_merged_sampling_matches_unmerged_sampling_with_the_static_cache():
    model, _ = wrap("improved_decoupled", guidance=True)
    randomize_lora(model)
    noise, cond = inputs(guidance=True)
    sigmas = flux_sigmas(4, noise.shape[1])
    expected = euler_sample(mdit_velocity(model, cond), noise, sigmas)
    model.merge_image_adapter()
    model.merge_image_adapter()  # idempotent
    torch.testing.assert_close(euler_sample(mdit_velocity(model, cond), noise, sigmas), expected, rtol=1e-4, atol=1e-5)


def test_merged_model_refuses_to_train():
    model, _ = wrap("hard_decoupled")
    x, cond = inputs(guidance=False)
    model.merge_image_adapter()
    with pytest.raises(RuntimeError, match="merged for sampling"):
        run(model, x, cond, 0.5)


def test_merging_changes_only_the_image_side_weights_and_flips_the_adapter():
    model, _ = wrap("improved_decoupled")
    randomize_lora(model, adapter=IMAGE_ADAPTER)
    before = {n: p.clone() for n, p in model.named_parameters()}
    model.merge_image_adapter()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.endswith("base_layer.weight") and n.startswith("base.") for n in changed)
    layers = [layer for layer in lora_layers(model.base) if IMAGE_ADAPTER in layer.lora_A]
    assert len(changed) == len(layers) and all(layer.scaling[IMAGE_ADAPTER] < 0 for layer in layers)


def test_without_an_image_adapter_merging_is_a_no_op():
    from mdit.model import LoraSettings

    model, _ = wrap("holistic", lora=LoraSettings(image_stream=False))
    model.merge_image_adapter()
    assert not model.image_adapter_merged


@torch.no_grad()
def test_rope_is_computed_once_per_id_pair():
    model, _ = wrap("none")
    x, cond = inputs(guidance=False)
    calls = []
    model.base.pos_embed.register_forward_hook(lambda *a: calls.append(1))
    first = run(model, x, cond, 0.5)
    second = run(model, x, cond, 0.5)
    assert len(calls) == 1 and torch.equal(first, second)
    other = cond.__class__(**{**cond.__dict__, "img_ids": cond.img_ids.clone()})  # e.g. the unconditional branch
    run(model, x, other, 0.5)
    assert len(calls) == 2  # new id tensors: computed again
    run(model, x, cond, 0.5), run(model, x, other, 0.5)
    assert len(calls) == 2  # two guidance branches alternating: both kept
    run(model, x, cond.__class__(**{**cond.__dict__, "txt_ids": cond.txt_ids.clone()}), 0.5)
    run(model, x, cond, 0.5)
    assert len(calls) == 4  # a third pair evicted the oldest (`cond`)
