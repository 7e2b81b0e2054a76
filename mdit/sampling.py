"""Sampling as pure functions: FLUX's shifted sigma schedule, Euler steps, the static cache once per sample,
classifier-free guidance over one or two dropped conditions."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers.pipelines.flux.pipeline_flux import calculate_shift

from mdit.model.cache import StaticKVCache
from mdit.model.mdit import ConditionLatents, MDiTTransformer

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def shift_times(
    t: torch.Tensor,
    image_seq_len: int,
    base_shift: float = 0.5,
    max_shift: float = 1.15,
    base_seq_len: int = 256,
    max_seq_len: int = 4096,
) -> torch.Tensor:
    """FLUX's resolution-dependent time shift, t -> e^mu / (e^mu + 1/t - 1), for training and sampling alike."""
    mu = calculate_shift(image_seq_len, base_seq_len, max_seq_len, base_shift, max_shift)
    return math.exp(mu) / (math.exp(mu) + (1.0 / t - 1.0))


def flux_sigmas(num_steps: int, image_seq_len: int, **shift: float) -> torch.Tensor:
    """num_steps + 1 noise levels from 1 to 0, shifted by FLUX's resolution-dependent mu."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    t = torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64)
    return torch.cat([shift_times(t[:-1], image_seq_len, **shift), t[-1:]]).float()


def euler_sample(velocity: Velocity, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from sigmas[0] (noise) to sigmas[-1] (data)."""
    x = noise
    for t, t_next in zip(sigmas[:-1], sigmas[1:]):
        x = x + (t_next - t) * velocity(x, t.expand(x.shape[0]).to(x))
    return x


@dataclass(frozen=True)
class Conditions:
    """Everything but the noisy latents that a forward needs; `mask` holds the spatial conditions' packed latents as
    the model's forward takes them (one tensor for a one-condition model, else {kind: latents}); None = dropped."""

    text_tokens: torch.Tensor
    pooled: torch.Tensor
    txt_ids: torch.Tensor
    img_ids: torch.Tensor
    mask: ConditionLatents | None = None
    guidance: torch.Tensor | None = None


def mdit_velocity(
    model: MDiTTransformer, cond: Conditions, use_cache: bool | None = None, mask_strength: float = 1.0
) -> Velocity:
    """The model as v(x, t). Decoupled strategies run their static path here, once, before any step.

    `use_cache=False` recomputes the static path at every step (the reference the cache is
    tested against); `use_cache=True` on `holistic` freezes its step-0 mask K/V (a negative control).
    `mask_strength` γ weights the mask keys in every step (see `MDiTTransformer.forward`); the cache is
    the same for every γ.
    """
    strategy = model.strategy
    use_cache = strategy.static_mask if use_cache is None else use_cache
    cache = None
    if use_cache and model.condition_latents(cond.mask) and strategy.mask_tokens:
        cache = (
            model.prepare_static_cache(
                cond.mask, cond.text_tokens, cond.pooled, cond.img_ids, cond.txt_ids, cond.guidance
            )
            if strategy.static_mask
            else StaticKVCache()
        )

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        mask = cond.mask if cache is None or cache.mode == "write" else None
        return model(
            x, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance, mask, cache, mask_strength
        )

    return velocity


def guided_velocity(conditional: Velocity, unconditional: Velocity, scale: float) -> Velocity:
    """Classifier-free guidance: v_u + scale (v_c - v_u). Each branch keeps its own static cache."""
    if scale == 1.0:
        return conditional

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        v_u = unconditional(x, t)
        return v_u + scale * (conditional(x, t) - v_u)

    return velocity


def two_scale_guided_velocity(
    full: Velocity, mask_only: Velocity, unconditional: Velocity, mask_scale: float, text_scale: float
) -> Velocity:
    """Two-condition guidance (InstructPix2Pix's two scales), the mask first, then the text given the mask:
    v(∅,∅) + s_m (v(m,∅) - v(∅,∅)) + s_t (v(m,t) - v(m,∅)). s_m = 1 cancels v(∅,∅): two forwards, not three."""
    if mask_scale == 1.0:
        return guided_velocity(full, mask_only, text_scale)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        v_u, v_m = unconditional(x, t), mask_only(x, t)
        return v_u + mask_scale * (v_m - v_u) + text_scale * (full(x, t) - v_m)

    return velocity
