"""Autoencoders between images in [-1, 1] and the transformer's normalised latents."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .frozen import Frozen
from .local import FLUX_HINT, require_model_folder, resolve_dtype


class Autoencoder(nn.Module, ABC):
    """Images [B, 3, H, W] in [-1, 1] <-> latents [B, latent_channels, H/downsample, W/downsample].

    Latents come out already normalised for the transformer (FLUX's shift and scale applied).
    """

    latent_channels: int
    downsample: int

    @abstractmethod
    def encode(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images -> normalised latents; `generator` is used only by stochastic encoders."""

    @abstractmethod
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> images in [-1, 1] (approximately, for learned decoders)."""

    def _check_images(self, images: torch.Tensor) -> None:
        multiple = 2 * self.downsample
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W], got shape {tuple(images.shape)}")
        if images.shape[-2] % multiple or images.shape[-1] % multiple:
            raise ValueError(
                f"image size {images.shape[-2]}x{images.shape[-1]} must be divisible by {multiple} "
                f"(downsample {self.downsample} x the transformer's 2x2 packing)"
            )

    def _check_latents(self, latents: torch.Tensor) -> None:
        if latents.ndim != 4 or latents.shape[1] != self.latent_channels:
            raise ValueError(f"expected latents [B, {self.latent_channels}, h, w], got shape {tuple(latents.shape)}")


class PixelSpaceAutoencoder(Autoencoder):
    """Weightless space-to-depth: each factor x factor pixel block becomes 3*factor^2 channels.

    The embedded default's autoencoder: exact, instant, and shaped like a VAE latent.
    """

    def __init__(self, factor: int = 2) -> None:
        super().__init__()
        if factor < 1:
            raise ValueError(f"factor must be a positive integer, got {factor}")
        self.downsample = factor
        self.latent_channels = 3 * factor * factor

    def encode(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self._check_images(images)
        return F.pixel_unshuffle(images, self.downsample)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        self._check_latents(latents)
        return F.pixel_shuffle(latents, self.downsample)


class FluxAutoencoder(Autoencoder, Frozen):
    """FLUX.1's frozen AutoencoderKL; latents = (z - shift_factor) * scaling_factor from its config.

    `sample=False` (default) encodes with the posterior mode, so encoding is deterministic.
    """

    def __init__(self, vae: nn.Module, sample: bool = False) -> None:
        super().__init__()
        self.vae = vae
        self.sample = sample
        config = vae.config
        self.latent_channels = config.latent_channels
        self.downsample = 2 ** (len(config.block_out_channels) - 1)
        self.scaling_factor = float(config.scaling_factor)
        self.shift_factor = float(config.shift_factor or 0.0)
        self.freeze()

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path,
        subfolder: str | None = "vae",
        torch_dtype: torch.dtype | str = torch.float32,
        sample: bool = False,
    ) -> FluxAutoencoder:
        """Load `folder/subfolder` (the `vae/` of a FLUX.1 folder) from local files only."""
        from diffusers import AutoencoderKL

        path = Path(folder) / subfolder if subfolder else Path(folder)
        require_model_folder(path, f"the vae/ folder (AutoencoderKL) of {FLUX_HINT}")
        vae = AutoencoderKL.from_pretrained(path, torch_dtype=resolve_dtype(torch_dtype), local_files_only=True)
        return cls(vae, sample=sample)

    def encode(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self._check_images(images)
        posterior = self.vae.encode(images.to(self.vae.dtype)).latent_dist
        z = posterior.sample(generator) if self.sample else posterior.mode()
        return ((z - self.shift_factor) * self.scaling_factor).to(images.dtype)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        self._check_latents(latents)
        z = latents.to(self.vae.dtype) / self.scaling_factor + self.shift_factor
        return self.vae.decode(z).sample.to(latents.dtype)


AUTOENCODERS: dict[str, Callable[..., Autoencoder]] = {
    "pixel": PixelSpaceAutoencoder,
    "flux_vae": lambda path, **kwargs: FluxAutoencoder.from_pretrained(path, **kwargs),
}


def build_autoencoder(kind: str, **kwargs: Any) -> Autoencoder:
    """Build an autoencoder from config values: `kind="pixel", factor=2` or `kind="flux_vae", path=...`."""
    if kind not in AUTOENCODERS:
        raise ValueError(f"unknown autoencoder kind {kind!r}; valid kinds: {sorted(AUTOENCODERS)}")
    return AUTOENCODERS[kind](**kwargs)
