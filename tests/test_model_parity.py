"""Every strategy is exactly diffusers' FLUX forward when the mask is absent and adapters are at zero."""

import pytest
import torch
from model_helpers import inputs, randomize_lora, run, run_reference, wrap

from mdit.model import IMAGE_ADAPTER, MASK_ADAPTER, STRATEGIES, LoraSettings, UnknownStrategyError, get_strategy

ALL = list(STRATEGIES)
TOKEN_VARIANTS = [n for n, s in STRATEGIES.items() if s.mask_tokens]


@pytest.mark.parametrize("guidance", [False, True], ids=["schnell", "dev"])
@pytest.mark.parametrize("attention", ALL)
@torch.no_grad()
def test_mask_absent_equals_diffusers_forward(attention, guidance):
    model, reference = wrap(attention, guidance)
    x, cond = inputs(guidance)
    for t in (0.9, 0.3):
        ours = run(model, x, cond, t, mask=False)
        theirs = run_reference(reference, x, cond, t)
        assert (ours - theirs).abs().max().item() <= 1e-5


@pytest.mark.parametrize("guidance", [False, True], ids=["schnell", "dev"])
@pytest.mark.parametrize("attention", TOKEN_VARIANTS)
@torch.no_grad()
def test_mask_adapter_leaves_text_and_image_tokens_untouched(attention, guidance):
    model, reference = wrap(attention, guidance)
    randomize_lora(model, adapter=MASK_ADAPTER)
    x, cond = inputs(guidance)
    # A live, non-zero mask adapter is off for T and X: without mask tokens the output is the base's.
    assert (run(model, x, cond, 0.5, mask=False) - run_reference(reference, x, cond, 0.5)).abs().max() <= 1e-5
    # ... and on for M: the same adapter changes the output once mask tokens are present.
    with_adapter = run(model, x, cond, 0.5)
    model_zero, _ = wrap(attention, guidance)
    assert (with_adapter - run(model_zero, x, cond, 0.5)).abs().max() > 1e-4


@pytest.mark.parametrize("attention", ["concat", *TOKEN_VARIANTS])
@torch.no_grad()
def test_image_adapter_is_live_on_image_tokens_and_optional(attention):
    model, reference = wrap(attention)
    randomize_lora(model, adapter=IMAGE_ADAPTER)
    x, cond = inputs(False)
    # The image tokens' own adapter changes the output even without a mask ...
    assert (run(model, x, cond, 0.5, mask=False) - run_reference(reference, x, cond, 0.5)).abs().max() > 1e-4
    # ... and `image_stream=False` leaves the image tokens on the pretrained weights (mask-stream LoRA only).
    mask_only, _ = wrap(attention, lora=LoraSettings(image_stream=False))
    assert not [n for n, _ in mask_only.named_parameters() if f".{IMAGE_ADAPTER}." in n]
    assert [n for n, _ in model.named_parameters() if f".{IMAGE_ADAPTER}." in n]


@pytest.mark.parametrize("attention", TOKEN_VARIANTS)
@torch.no_grad()
def test_mask_tokens_change_the_output(attention):
    model, reference = wrap(attention)
    x, cond = inputs(False)
    assert (run(model, x, cond, 0.5) - run_reference(reference, x, cond, 0.5)).abs().max() > 1e-4


@torch.no_grad()
def test_concat_starts_as_the_backbone_with_a_mask_present():
    model, reference = wrap("concat")
    x, cond = inputs(False)
    assert (run(model, x, cond, 0.5) - run_reference(reference, x, cond, 0.5)).abs().max() <= 1e-5
    with torch.no_grad():
        model.base.x_embedder.weight[:, 16:].normal_()
    assert (run(model, x, cond, 0.5) - run_reference(reference, x, cond, 0.5)).abs().max() > 1e-3


def test_concat_widening_matches_diffusers_control_lora_expansion():
    from diffusers.loaders.lora_pipeline import FluxLoraLoaderMixin

    model, reference = wrap("concat")
    inner = reference.inner_dim
    lora = {"x_embedder.lora_A.weight": torch.zeros(4, 2 * 16), "x_embedder.lora_B.weight": torch.zeros(inner, 4)}
    assert FluxLoraLoaderMixin._maybe_expand_transformer_param_shape_or_error_(reference, lora_state_dict=lora)
    ours, theirs = model.base.x_embedder, reference.x_embedder
    assert ours.weight.shape == theirs.weight.shape == (inner, 32)
    assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    assert model.base.config.in_channels == reference.config.in_channels == 32
    assert model.base.config.out_channels == 16  # the output stays a velocity of the image latent


def test_mask_tokens_of_another_size_are_rejected():
    model, _ = wrap("holistic")
    x, cond = inputs(False)
    with pytest.raises(ValueError, match="do not match image tokens"):
        model(
            x, cond.text_tokens, cond.pooled, torch.full((2,), 0.5), cond.img_ids, cond.txt_ids, None, cond.mask[:, :8]
        )


def test_dev_backbone_requires_guidance():
    model, _ = wrap("none", guidance=True)
    x, cond = inputs(False)
    with pytest.raises(ValueError, match="guidance"):
        run(model, x, cond, 0.5, mask=False)


def test_unknown_strategy_lists_the_valid_ones():
    with pytest.raises(UnknownStrategyError) as err:
        get_strategy("decoupled")
    for name in STRATEGIES:
        assert name in str(err.value)
    with pytest.raises(UnknownStrategyError):
        wrap("Holistic")


@pytest.mark.parametrize("guidance", [False, True])
def test_holistic_without_adapters_is_flux_on_twice_the_image_tokens(guidance):
    """No adapter tells the mask tokens from the image tokens: holistic is then diffusers' forward on [T; X; M]
    (M at X's positions, embedded by a copy of x_embedder), whose first N outputs are the velocity."""
    model, reference = wrap("holistic", guidance, lora=None)
    x, cond = inputs(guidance)
    n = x.shape[1]
    t = torch.full((x.shape[0],), 0.4)
    expected = reference(
        hidden_states=torch.cat([x, cond.mask], dim=1),
        encoder_hidden_states=cond.text_tokens,
        pooled_projections=cond.pooled,
        timestep=t,
        img_ids=torch.cat([cond.img_ids, cond.img_ids]),
        txt_ids=cond.txt_ids,
        guidance=cond.guidance,
        return_dict=False,
    )[0][:, :n]
    torch.testing.assert_close(run(model, x, cond, 0.4), expected, rtol=1e-5, atol=1e-5)
    with_zero_adapters, _ = wrap("holistic", guidance)  # peft starts B at zero: the same function, separate streams
    torch.testing.assert_close(run(with_zero_adapters, x, cond, 0.4), expected, rtol=1e-5, atol=1e-5)
