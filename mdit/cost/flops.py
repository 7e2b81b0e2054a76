"""The cost of the spatial conditions (the mask, and any others) in FLOPs, under two conventions, for one whole
generation.

- counted: torch's FlopCounterMode over the sampler's work (static pass once + every Euler step),
  every matrix multiply, attention included, 1 multiply-add = 2 FLOPs. CPU attention is counted
  too: torch has no formula for its CPU flash kernel and would silently count 0 there.
- paper: the multiply-adds of the linear layers that the *extra* tokens pass through (the mask
  tokens at every step for `holistic`; the static [T_s;M] tokens once for the decoupled variants;
  N/s² mask tokens at stride s; N/s² more per extra condition; who reads them is attention, which this
  convention leaves out),
  attention products, LoRA and per-sample modulation excluded, every block's full layer stack (the
  paper's 185.79 / 9.95 "TFLOPs" for FLUX.1-dev, 512 px, 28 steps, 512 text tokens are these
  multiply-adds, reported as FLOPs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from mdit.conditioning import latent_image_ids, text_ids
from mdit.model import MDiTTransformer
from mdit.sampling import Conditions, euler_sample, flux_sigmas, mdit_velocity

aten = torch.ops.aten
TERA = 1e12


def _cpu_flash_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_flash_attention_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    return 2 * sdpa_flop_count(query_shape, key_shape, value_shape)  # dQ, dK, dV, dP: twice the forward's matmuls


CPU_ATTENTION_FORMULAS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_attention_flops,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_flash_attention_backward_flops,
}


def flop_counter() -> FlopCounterMode:
    """FlopCounterMode that also counts attention on CPU tensors."""
    return FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FORMULAS)


@dataclass(frozen=True)
class GenerationShape:
    """What one generation's cost depends on: token counts, feature sizes, steps."""

    image_tokens: int  # packed latent tokens per image (= mask tokens at stride 1)
    text_tokens: int
    latent_features: int  # features of a packed latent token (4 x latent channels)
    text_dim: int
    pooled_dim: int
    steps: int
    guidance: float | None = None  # FLUX.1-dev's embedded guidance; None for backbones without it


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of running `fn()` (no autograd), attention on CPU included."""
    with torch.no_grad(), flop_counter() as counter:
        fn()
    return counter.get_total_flops()


def generation_inputs(model: MDiTTransformer, shape: GenerationShape) -> tuple[Conditions, torch.Tensor]:
    """Random conditions and noise of batch 1 with the generation's shapes, on the model's device
    (every spatial condition of the model, for variants that use them)."""
    device = next(model.parameters()).device
    side = int(round(shape.image_tokens**0.5))
    if side * side != shape.image_tokens:
        raise ValueError(f"image_tokens must be a square grid, got {shape.image_tokens}")
    guidance = None if shape.guidance is None else torch.full((1,), shape.guidance, device=device)

    def latents() -> torch.Tensor:
        return torch.randn(1, shape.image_tokens, shape.latent_features, device=device)

    cond = Conditions(
        text_tokens=torch.randn(1, shape.text_tokens, shape.text_dim, device=device),
        pooled=torch.randn(1, shape.pooled_dim, device=device),
        txt_ids=text_ids(shape.text_tokens, device=device),
        img_ids=latent_image_ids(2 * side, 2 * side, device=device),
        mask=_condition_latents(model, latents) if model.strategy.uses_mask else None,
        guidance=guidance,
    )
    return cond, latents()


def _condition_latents(model: MDiTTransformer, latents: Callable[[], torch.Tensor]) -> object:
    """One condition's latents as a tensor (the one-condition model's input), several as {kind: latents}."""
    if len(model.conditions) == 1:
        return latents()
    return {kind: latents() for kind in model.conditions}


def generation_parts(model: MDiTTransformer, shape: GenerationShape) -> tuple[int, int]:
    """FLOPs of one generation (batch 1) as (once per sample: the static pass; per denoising step).

    Every step has the same shapes, so one step is counted (the tests check static + steps x step against
    counting the whole Euler sampler). Runs on the model's device; meta needs no memory.
    """
    cond, noise = generation_inputs(model, shape)
    built = []
    static = count_flops(lambda: built.append(mdit_velocity(model, cond)))  # decoupled: the static pass, once
    t = torch.ones(1, device=noise.device)
    return static, count_flops(lambda: built[0](noise, t))


def generation_flops(model: MDiTTransformer, shape: GenerationShape) -> int:
    """FLOPs of one generation (batch 1): the static pass once + `steps` x one denoising step."""
    static, step = generation_parts(model, shape)
    return static + shape.steps * step


def sampler_flops(model: MDiTTransformer, shape: GenerationShape) -> int:
    """FLOPs of the real Euler sampler end to end (slow on big models; the reference for `generation_flops`)."""
    cond, noise = generation_inputs(model, shape)
    sigmas = flux_sigmas(shape.steps, shape.image_tokens).to(noise.device)
    return count_flops(lambda: euler_sample(mdit_velocity(model, cond), noise, sigmas))


def _linear_macs(modules: list[nn.Module]) -> int:
    """Multiply-adds per token of a stack of nn.Linear layers (peft-wrapped layers: their base layer)."""
    total = 0
    for module in modules:
        layer = getattr(module, "base_layer", module)
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"expected a linear layer, got {type(layer).__name__}")
        total += layer.in_features * layer.out_features
    return total


def token_path_macs(model: MDiTTransformer, side: str) -> int:
    """Linear multiply-adds per token through every block, on the image-side ("image") or text-side weights."""
    base = model.base
    total = 0
    for block in base.transformer_blocks:
        attn = block.attn
        if side == "image":
            layers = [attn.to_q, attn.to_k, attn.to_v, attn.to_out[0], block.ff.net[0].proj, block.ff.net[2]]
        else:
            layers = [
                attn.add_q_proj,
                attn.add_k_proj,
                attn.add_v_proj,
                attn.to_add_out,
                block.ff_context.net[0].proj,
                block.ff_context.net[2],
            ]
        total += _linear_macs(layers)
    for block in base.single_transformer_blocks:
        total += _linear_macs([block.attn.to_q, block.attn.to_k, block.attn.to_v, block.proj_mlp, block.proj_out])
    return total


def paper_convention_macs(model: MDiTTransformer, shape: GenerationShape) -> int:
    """The extra tokens' linear multiply-adds over one generation (see the module docstring)."""
    strategy = model.strategy
    n_conditions = len(model.conditions)
    if strategy.mask_channels:  # only the widened input projection's new columns
        columns = n_conditions * shape.latent_features
        return shape.image_tokens * columns * model.base.x_embedder.out_features * shape.steps
    if not strategy.mask_tokens:
        return 0
    mask_token = _linear_macs([model.embedder(model.conditions[0]).proj]) + token_path_macs(model, "image")
    mask_tokens = n_conditions * shape.image_tokens // model.mask_token_stride**2  # every condition, same embedder size
    if not strategy.static_mask:
        return mask_tokens * mask_token * shape.steps
    text_token = _linear_macs([model.base.context_embedder]) + token_path_macs(model, "context")
    return mask_tokens * mask_token + (shape.text_tokens * text_token if strategy.static_text else 0)
