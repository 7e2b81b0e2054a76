"""The pixel-space autoencoder, FLUX's VAE wrapper (on a tiny AutoencoderKL) and the builder."""

import pytest
import torch
from flux_folder import SCALE, SHIFT, tiny_vae

from mdit.conditioning import (
    Autoencoder,
    FluxAutoencoder,
    PixelSpaceAutoencoder,
    build_autoencoder,
    encode_image,
    pack_latents,
)


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_pixel_round_trip_is_exact(factor):
    ae = PixelSpaceAutoencoder(factor)
    images = torch.rand(2, 3, 16, 24) * 2 - 1
    latents = ae.encode(images)
    assert latents.shape == (2, 3 * factor**2, 16 // factor, 24 // factor)
    assert ae.latent_channels == 3 * factor**2 and ae.downsample == factor
    assert torch.equal(ae.decode(latents), images)


def test_pixel_requires_size_divisible_by_twice_the_factor():
    with pytest.raises(ValueError, match="divisible by 4"):
        PixelSpaceAutoencoder(2).encode(torch.zeros(1, 3, 6, 8))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        PixelSpaceAutoencoder(2).encode(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\[B, 12, h, w\]"):
        PixelSpaceAutoencoder(2).decode(torch.zeros(1, 3, 4, 4))


@pytest.fixture(scope="module")
def flux_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flux")
    tiny_vae().save_pretrained(folder / "vae")
    return folder


def test_flux_vae_applies_shift_and_scale(flux_folder):
    ae = FluxAutoencoder.from_pretrained(flux_folder, subfolder="vae")
    assert isinstance(ae, Autoencoder) and ae.latent_channels == 16 and ae.downsample == 2
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    latents = ae.encode(images)
    assert latents.shape == (2, 16, 8, 8)
    raw = ae.vae.encode(images).latent_dist.mode()
    torch.testing.assert_close(latents, (raw - SHIFT) * SCALE)
    torch.testing.assert_close(ae.decode(latents), ae.vae.decode(raw).sample)
    assert torch.equal(encode_image(images, ae), pack_latents(latents))


def test_flux_vae_sampling_uses_generator(flux_folder):
    ae = FluxAutoencoder.from_pretrained(flux_folder, sample=True)
    images = torch.rand(1, 3, 8, 8) * 2 - 1
    first = ae.encode(images, generator=torch.Generator().manual_seed(3))
    again = ae.encode(images, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again) and not torch.equal(first, FluxAutoencoder(ae.vae).encode(images))


def test_flux_vae_is_frozen_even_after_train(flux_folder):
    ae = FluxAutoencoder.from_pretrained(flux_folder, torch_dtype="bfloat16")
    ae.train()
    assert not ae.training and not ae.vae.training
    assert not any(p.requires_grad for p in ae.parameters())
    assert next(ae.parameters()).dtype == torch.bfloat16
    assert ae.encode(torch.zeros(1, 3, 8, 8)).dtype == torch.float32  # returned in the input's dtype


def test_flux_vae_missing_paths_name_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="vae") as missing:
        FluxAutoencoder.from_pretrained(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere" / "vae") in str(missing.value) and "FLUX.1-dev" in str(missing.value)
    (tmp_path / "vae").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json") as missing:
        FluxAutoencoder.from_pretrained(tmp_path)
    assert str(tmp_path / "vae" / "config.json") in str(missing.value)


def test_build_autoencoder(flux_folder):
    assert build_autoencoder(kind="pixel", factor=4).downsample == 4
    assert isinstance(build_autoencoder(kind="flux_vae", path=flux_folder), FluxAutoencoder)
    with pytest.raises(ValueError, match=r"\['flux_vae', 'pixel'\]"):
        build_autoencoder(kind="sdxl")
