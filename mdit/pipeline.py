"""Generation in FLUX's shape: prepare the conditions, draw the noise, denoise, decode.

A `Pipeline` is a variant with its frozen conditioners; it holds no weights of its own. The LightningModule
uses `prepare` for its loss and `generate` (under its EMA weights) for samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mdit.conditioning import EMPTY_CAPTION, Autoencoder, TextConditioner, encode_mask, latent_image_ids
from mdit.conditioning import unpack_latents as unpack
from mdit.config import EVAL_MODES
from mdit.model import MDiTTransformer
from mdit.sampling import (
    Conditions,
    euler_sample,
    flux_sigmas,
    guided_velocity,
    mdit_velocity,
    two_scale_guided_velocity,
)

CONDITIONS = EVAL_MODES  # what `generate` conditions on: both, text only, mask only


def initial_noise(n: int, shape: tuple[int, ...], seed: int | Sequence[int]) -> torch.Tensor:
    """Packed noise [n, *shape] on the CPU: one seed for the batch, or one per sample (then sample i does not
    depend on the batch it is in)."""
    if isinstance(seed, int):
        return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))
    return torch.cat([torch.randn(1, *shape, generator=torch.Generator().manual_seed(s)) for s in seed])


@dataclass(frozen=True)
class Pipeline:
    """One variant over its text conditioner and autoencoder, at one resolution."""

    model: MDiTTransformer
    text: TextConditioner
    autoencoder: Autoencoder
    resolution: int
    guidance: float  # the guidance-embedding input of backbones that have one (FLUX.1-dev)

    @property
    def latent_side(self) -> int:
        return self.resolution // self.autoencoder.downsample

    @property
    def image_tokens(self) -> int:
        return (self.latent_side // 2) ** 2

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prepare(
        self, captions: Sequence[str], masks: torch.Tensor | None = None, mask_latents: torch.Tensor | None = None
    ) -> Conditions:
        """Captions ("" = text dropped) and label maps (None = mask dropped), or the maps' cached packed latents,
        -> transformer inputs."""
        emb = self.text(list(captions))
        mask = None
        if self.model.strategy.uses_mask:
            if mask_latents is not None:
                mask = mask_latents.to(emb.tokens)
            elif masks is not None:
                mask = encode_mask(masks, self.autoencoder)
        side, device = self.latent_side, self.device
        img_ids = latent_image_ids(side, side, device=device, dtype=emb.tokens.dtype)
        guidance = None
        if self.model.base.config.guidance_embeds:
            guidance = torch.full((len(captions),), self.guidance, device=device)
        return Conditions(emb.tokens, emb.pooled, emb.ids, img_ids, mask, guidance)

    def generate(
        self,
        masks: torch.Tensor,
        captions: Sequence[str],
        steps: int = 28,
        seed: int | Sequence[int] = 0,
        conditions: str = "both",
        guidance_scale: float = 1.0,
        mask_guidance_scale: float = 1.0,
        text_guidance_scale: float = 1.0,
        mask_strength: float = 1.0,
    ) -> torch.Tensor:
        """Images in [-1, 1] [B, 3, H, W] for label maps [B, H, W] and captions; `conditions` drops text or mask.

        Guidance (docs/MODEL.md): `guidance_scale` != 1 is classifier-free guidance against both conditions
        dropped; `mask_guidance_scale` s_m and `text_guidance_scale` s_t (not with `guidance_scale`) guide the mask,
        then the text given the mask. A condition that `conditions` drops is dropped in every branch, so only the
        other's scale is left. `mask_strength` weights the mask's keys in every branch that has the mask.
        """
        if conditions not in CONDITIONS:
            raise ValueError(f"conditions={conditions!r}; valid: {', '.join(CONDITIONS)}")
        two_scale = (mask_guidance_scale, text_guidance_scale) != (1.0, 1.0)
        if two_scale and guidance_scale != 1.0:
            raise ValueError(
                f"guidance_scale={guidance_scale} and mask/text_guidance_scale={mask_guidance_scale}/"
                f"{text_guidance_scale} are two kinds of guidance: set one (the other at 1)"
            )
        n = len(captions)
        seeds = [seed] if isinstance(seed, int) else list(seed)
        if masks.shape[0] != n or len(seeds) != (1 if isinstance(seed, int) else n):
            raise ValueError(f"{masks.shape[0]} masks, {n} captions and {len(seeds)} seeds: one of each per sample")
        captions = [EMPTY_CAPTION] * n if conditions == "mask" else list(captions)
        mask = None if conditions == "text" else masks.to(self.device)
        noise = initial_noise(n, (self.image_tokens, 4 * self.autoencoder.latent_channels), seed)
        cond = self.prepare(captions, mask)
        velocity = mdit_velocity(self.model, cond, mask_strength=mask_strength)
        dropped = [EMPTY_CAPTION] * n
        if two_scale and conditions == "both":  # three branches; the two with the mask have a static cache each
            mask_only = mdit_velocity(
                self.model, self.prepare(dropped, mask_latents=cond.mask), mask_strength=mask_strength
            )
            unconditional = mdit_velocity(self.model, self.prepare(dropped))
            velocity = two_scale_guided_velocity(
                velocity, mask_only, unconditional, mask_guidance_scale, text_guidance_scale
            )
        else:  # one scale: plain CFG, or the two scales with one condition dropped in every branch (its term is 0)
            scale = guidance_scale
            if two_scale:
                scale = text_guidance_scale if conditions == "text" else mask_guidance_scale
            if scale != 1.0:
                velocity = guided_velocity(velocity, mdit_velocity(self.model, self.prepare(dropped)), scale)
        sigmas = flux_sigmas(steps, self.image_tokens).to(self.device)
        latents = euler_sample(velocity, noise.to(cond.text_tokens), sigmas)
        side = self.latent_side
        return self.autoencoder.decode(unpack(latents, side, side)).clamp(-1, 1)
