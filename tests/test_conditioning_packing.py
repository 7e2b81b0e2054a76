"""Packing and position ids must equal diffusers' FluxPipeline static methods exactly."""

import pytest
import torch
from diffusers import FluxPipeline

from mdit.conditioning import latent_image_ids, pack_latents, text_ids, unpack_latents


@pytest.mark.parametrize("shape", [(2, 16, 8, 6), (1, 4, 2, 2), (3, 12, 4, 10)])
def test_pack_matches_diffusers(shape):
    latents = torch.randn(shape)
    b, c, h, w = shape
    assert torch.equal(pack_latents(latents), FluxPipeline._pack_latents(latents, b, c, h, w))


@pytest.mark.parametrize("shape", [(2, 16, 8, 6), (3, 12, 4, 10)])
def test_unpack_matches_diffusers_and_inverts_pack(shape):
    latents = torch.randn(shape)
    h, w = shape[-2:]
    tokens = pack_latents(latents)
    vae_scale_factor = 8  # diffusers' _unpack_latents takes pixel sizes: latent size * vae_scale_factor
    expected = FluxPipeline._unpack_latents(tokens, h * vae_scale_factor, w * vae_scale_factor, vae_scale_factor)
    assert torch.equal(unpack_latents(tokens, h, w), expected)
    assert torch.equal(unpack_latents(tokens, h, w), latents)


@pytest.mark.parametrize("hw", [(8, 6), (2, 2), (4, 10)])
def test_image_ids_match_diffusers(hw):
    h, w = hw
    expected = FluxPipeline._prepare_latent_image_ids(1, h // 2, w // 2, "cpu", torch.float32)
    ids = latent_image_ids(h, w)
    assert ids.dtype == torch.float32 and torch.equal(ids, expected)
    assert ids[-1].tolist() == [0, h // 2 - 1, w // 2 - 1]  # row-major (0, row, col) on the half-resolution grid


def test_ids_dtype_device_and_text_ids():
    assert latent_image_ids(4, 4, device="cpu", dtype=torch.bfloat16).dtype == torch.bfloat16
    ids = text_ids(7, dtype=torch.float16)
    assert ids.shape == (7, 3) and ids.dtype == torch.float16 and not ids.any()


def test_odd_sizes_raise():
    with pytest.raises(ValueError, match="even"):
        pack_latents(torch.zeros(1, 4, 5, 4))
    with pytest.raises(ValueError, match="even"):
        latent_image_ids(4, 3)
    with pytest.raises(ValueError, match="even"):
        unpack_latents(torch.zeros(1, 4, 16), 3, 4)


def test_unpack_checks_token_count():
    with pytest.raises(ValueError, match="do not pack"):
        unpack_latents(torch.zeros(1, 5, 16), 4, 4)
