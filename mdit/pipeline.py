"""Generation in FLUX's shape: prepare the conditions, draw the noise, denoise, decode.

A `Pipeline` is a variant with its frozen conditioners; it holds no weights of its own. The LightningModule
uses `prepare` for its loss and `generate` (under its EMA weights) for samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mdit.conditioning import EMPTY_CAPTION, Autoencoder, TextConditioner, latent_image_ids
from mdit.conditioning import unpack_latents as unpack
from mdit.conditioning.spatial import encode_condition
from mdit.config import EVAL_MODES
from mdit.model import MDiTTransformer
from mdit.model.mdit import ConditionLatents
from mdit.sampling import (
    Conditions,
    euler_sample,
    flux_sigmas,
    guided_velocity,
    mdit_velocity,
    two_scale_guided_velocity,
)

CONDITIONS = EVAL_MODES  # what `generate` conditions on: both, text only, the spatial conditions only ("mask")
Spatial = torch.Tensor | Mapping[str, torch.Tensor]  # label maps (a mask model's), or {kind: raw batch}


def spatial_inputs(batch: Mapping[str, Any], conditions: Sequence[str]) -> dict[str, torch.Tensor]:
    """The raw inputs of `conditions` in a collated batch (its keys are the kinds' names); a kind the batch lacks
    is an error that says which it has."""
    missing = [kind for kind in conditions if kind not in batch]
    if missing:
        held = [kind for kind in ("mask", "sketch", "keypoints") if kind in batch]
        raise KeyError(
            f"the batch has no {', '.join(missing)} (the model reads {', '.join(conditions)}); it has {held}"
        )
    return {kind: batch[kind] for kind in conditions}


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

    def spatial(self, spatial: Spatial | None) -> dict[str, torch.Tensor]:
        """Raw spatial inputs by kind (a tensor: label maps, the mask's), checked against the model's conditions."""
        if spatial is None:
            return {}
        if isinstance(spatial, torch.Tensor):
            spatial = {"mask": spatial}
        unknown = [kind for kind in spatial if kind not in self.model.conditions]
        if unknown:
            raise ValueError(f"the model reads {', '.join(self.model.conditions)}, not {', '.join(unknown)}")
        return {kind: spatial[kind] for kind in self.model.conditions if spatial.get(kind) is not None}

    def prepare(
        self, captions: Sequence[str], spatial: Spatial | None = None, latents: ConditionLatents | None = None
    ) -> Conditions:
        """Captions ("" = text dropped) and raw spatial inputs (label maps, or {kind: raw batch}; a kind left out or
        None = dropped), or their cached packed latents, -> transformer inputs."""
        emb = self.text(list(captions))
        given: ConditionLatents | None = None
        if self.model.strategy.uses_mask:
            if latents is not None:
                given = latents.to(emb.tokens) if isinstance(latents, torch.Tensor) else latents
            elif spatial is not None:
                size = (self.resolution, self.resolution)
                encoded = {
                    kind: encode_condition(kind, raw, self.autoencoder, size)
                    for kind, raw in self.spatial(spatial).items()
                }
                given = encoded.get(self.model.conditions[0]) if len(self.model.conditions) == 1 else encoded
        side, device = self.latent_side, self.device
        img_ids = latent_image_ids(side, side, device=device, dtype=emb.tokens.dtype)
        guidance = None
        if self.model.base.config.guidance_embeds:
            guidance = torch.full((len(captions),), self.guidance, device=device)
        return Conditions(emb.tokens, emb.pooled, emb.ids, img_ids, given, guidance)

    def generate(
        self,
        spatial: Spatial,
        captions: Sequence[str],
        steps: int = 28,
        seed: int | Sequence[int] = 0,
        conditions: str = "both",
        guidance_scale: float = 1.0,
        mask_guidance_scale: float = 1.0,
        text_guidance_scale: float = 1.0,
        mask_strength: float = 1.0,
    ) -> torch.Tensor:
        """Images in [-1, 1] [B, 3, H, W] for label maps [B, H, W] (a mask model) or {kind: raw batch} (any subset of
        the model's conditions; a kind left out is dropped) and captions; `conditions` drops the text ("mask") or
        every spatial condition ("text").

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
        given = self.spatial(spatial)
        counts = {kind: raw.shape[0] for kind, raw in given.items()}
        if any(c != n for c in counts.values()) or len(seeds) != (1 if isinstance(seed, int) else n):
            raise ValueError(f"{counts} spatial inputs, {n} captions and {len(seeds)} seeds: one of each per sample")
        captions = [EMPTY_CAPTION] * n if conditions == "mask" else list(captions)
        given = {} if conditions == "text" else {kind: raw.to(self.device) for kind, raw in given.items()}
        noise = initial_noise(n, (self.image_tokens, 4 * self.autoencoder.latent_channels), seed)
        cond = self.prepare(captions, given)
        velocity = mdit_velocity(self.model, cond, mask_strength=mask_strength)
        dropped = [EMPTY_CAPTION] * n
        if two_scale and conditions == "both":  # three branches; the two with the mask have a static cache each
            mask_only = mdit_velocity(self.model, self.prepare(dropped, latents=cond.mask), mask_strength=mask_strength)
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
