"""The parts fit end to end: SynthFaces -> conditioning -> MDiT -> flow-matching loss and sampling, every strategy."""

import pytest
import torch
from diffusers import FluxTransformer2DModel
from model_helpers import synthfaces_parts

from mdit.conditioning import (
    EMPTY_CAPTION,
    encode_image,
    encode_mask,
    latent_image_ids,
    unpack_latents,
)
from mdit.model import STRATEGIES, MDiTTransformer
from mdit.sampling import Conditions, euler_sample, flux_sigmas, mdit_velocity

RESOLUTION = 32


@pytest.fixture(scope="module")
def parts():
    return synthfaces_parts(RESOLUTION)


def _backbone(latent_channels: int, text_dim: int) -> FluxTransformer2DModel:
    torch.manual_seed(0)
    return FluxTransformer2DModel(
        in_channels=latent_channels,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=text_dim,
        pooled_projection_dim=text_dim,
        axes_dims_rope=(4, 4, 8),
    )


@pytest.mark.parametrize("attention", list(STRATEGIES))
def test_train_step_and_sampling_on_synthfaces(parts, attention):
    autoencoder, text, batch = parts
    x0 = encode_image(batch["image"], autoencoder)
    mask = encode_mask(batch["mask"], autoencoder)
    emb = text(batch["caption"])
    side = RESOLUTION // autoencoder.downsample
    cond = Conditions(emb.tokens, emb.pooled, emb.ids, latent_image_ids(side, side), mask)
    model = MDiTTransformer(_backbone(x0.shape[-1], text.joint_attention_dim), attention)
    model.set_empty_caption(text([EMPTY_CAPTION]).pooled)

    # One flow-matching step: x_t = (1 - t) x0 + t eps, target eps - x0.
    t = torch.tensor([0.3, 0.8])
    eps = torch.randn_like(x0)
    x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
    v = model(x_t, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, mask_hidden_states=cond.mask)
    loss = torch.nn.functional.mse_loss(v, eps - x0)
    loss.backward()
    assert torch.isfinite(loss)

    with torch.no_grad():
        latents = euler_sample(mdit_velocity(model, cond), torch.randn_like(x0), flux_sigmas(2, x0.shape[1]))
        images = autoencoder.decode(unpack_latents(latents, side, side))
        assert images.shape == batch["image"].shape and torch.isfinite(images).all()
        # Unimodal conditions: text dropped (empty caption) and mask dropped (None).
        empty = text([EMPTY_CAPTION, EMPTY_CAPTION])
        text_only = Conditions(empty.tokens, empty.pooled, empty.ids, cond.img_ids, None)
        assert torch.isfinite(
            euler_sample(mdit_velocity(model, text_only), torch.randn_like(x0), flux_sigmas(2, x0.shape[1]))
        ).all()
