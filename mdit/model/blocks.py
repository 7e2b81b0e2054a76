"""Multi-stream forward of diffusers' FLUX blocks, reading their sub-modules by name.

`block.forward` is not called: its signature changed across diffusers releases and it
knows only two streams. Here a block runs any list of streams with one attention call
over the concatenation of their keys, plus optional extra (cached) keys and values of the condition streams, an
optional additive bias on the logits (the mask strength) and optional queries that skip
the last keys (the text's, when only the image reads the mask).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.embeddings import apply_rotary_emb
from peft.tuners.lora import LoraLayer

from mdit.model.adapters import active_adapters

KV = tuple[torch.Tensor, torch.Tensor]
Rope = tuple[torch.Tensor, torch.Tensor]
Extra = tuple[KV, ...]  # cached (k, v) of one block, one per condition stream, attended after the streams' own keys


@dataclass
class Stream:
    """Tokens of one stream and what they are computed with.

    `weights` picks the block's text-side ("context") or image-side ("image") modules in
    double blocks; single blocks share one set. `adapters` are the LoRA adapters active for
    these tokens only. `emb` is the adaLN modulation input ([B, D]).
    """

    hidden: torch.Tensor
    emb: torch.Tensor
    rope: Rope
    weights: str = "image"
    adapters: tuple[str, ...] = ()
    final: bool = True  # its hidden states are wanted after the last block (False for condition streams)
    condition: str | None = None  # the spatial condition these tokens carry (mask, sketch, keypoints); None: T or X


@dataclass(frozen=True)
class _DoubleModules:
    norm1: nn.Module
    to_q: nn.Module
    to_k: nn.Module
    to_v: nn.Module
    norm_q: nn.Module
    norm_k: nn.Module
    to_out: nn.Module
    norm2: nn.Module
    ff: nn.Module


def _double_modules(block: nn.Module, weights: str) -> _DoubleModules:
    attn = block.attn
    if weights == "image":
        return _DoubleModules(
            block.norm1,
            attn.to_q,
            attn.to_k,
            attn.to_v,
            attn.norm_q,
            attn.norm_k,
            attn.to_out[0],
            block.norm2,
            block.ff,
        )
    if weights == "context":
        return _DoubleModules(
            block.norm1_context,
            attn.add_q_proj,
            attn.add_k_proj,
            attn.add_v_proj,
            attn.norm_added_q,
            attn.norm_added_k,
            attn.to_add_out,
            block.norm2_context,
            block.ff_context,
        )
    raise ValueError(f"unknown stream weights {weights!r}; valid: image, context")


def _project(
    to_q: nn.Module,
    to_k: nn.Module,
    to_v: nn.Module,
    norm_q: nn.Module,
    norm_k: nn.Module,
    normed: torch.Tensor,
    rope: Rope,
    head_dim: int,
    query: bool,
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Heads of q (if `query`), k, v with QK-norm and RoPE, as FLUX's attention processor computes them."""
    k = apply_rotary_emb(norm_k(to_k(normed).unflatten(-1, (-1, head_dim))), rope, sequence_dim=1)
    v = to_v(normed).unflatten(-1, (-1, head_dim))
    q = apply_rotary_emb(norm_q(to_q(normed).unflatten(-1, (-1, head_dim))), rope, sequence_dim=1) if query else None
    return q, k, v


def mask_key_bias(
    n_context: int,
    n_mask: int,
    strength: float,
    mask_queries: bool,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Attention bias for keys [T;X;M]: log(strength) where a [T;X] query meets a mask key, 0 elsewhere, so each
    mask key's weight is multiplied by `strength` before normalisation (OminiControl's condition strength).

    [1, 1, 1, keys], broadcast over the queries; with `mask_queries` (holistic: the mask's own queries follow
    [T;X], and get no bias) [1, 1, queries, keys].
    """
    bias = torch.zeros(n_context + n_mask if mask_queries else 1, n_context + n_mask, device=device, dtype=dtype)
    bias[:n_context, n_context:] = math.log(strength)
    return bias[None, None]


def _attend(
    qs: Sequence[torch.Tensor],
    ks: Sequence[torch.Tensor],
    vs: Sequence[torch.Tensor],
    extra_kv: Extra | None,
    bias: torch.Tensor | None = None,
    unread: tuple[int, int] | None = None,
) -> list[torch.Tensor]:
    """All query streams over all keys (+ extra), plus `bias` on the logits (its first rows, one per query); output
    split per query stream. `unread` = (q, k): the first q queries do not see the last k keys, computed as two
    attention calls (one without those keys), so that nothing is spent on logits that would be masked away."""
    if not qs:
        return []
    if extra_kv:
        ks, vs = [*ks, *(k for k, _ in extra_kv)], [*vs, *(v for _, v in extra_kv)]
    q, k, v = torch.cat(list(qs), dim=1), torch.cat(list(ks), dim=1), torch.cat(list(vs), dim=1)
    bias = None if bias is None else bias[:, :, : q.shape[1]].to(q.dtype)
    if unread is None:
        out = dispatch_attention_fn(q, k, v, attn_mask=bias)
    else:
        n_q, n_k = unread
        blind, seeing = _bias_rows(bias, n_q)
        blind = None if blind is None else blind[..., :-n_k]
        out = torch.cat(
            [
                dispatch_attention_fn(q[:, :n_q], k[:, :-n_k], v[:, :-n_k], attn_mask=blind),
                dispatch_attention_fn(q[:, n_q:], k, v, attn_mask=seeing),
            ],
            dim=1,
        )
    out = out.flatten(2, 3).to(q.dtype)
    return list(out.split([x.shape[1] for x in qs], dim=1))


def _bias_rows(bias: torch.Tensor | None, n: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The bias of the first `n` queries and of the rest (a one-row bias is broadcast over both)."""
    if bias is None or bias.shape[2] == 1:
        return bias, bias
    return bias[:, :, :n], bias[:, :, n:]


def double_block(
    block: nn.Module,
    streams: Sequence[Stream],
    extra_kv: Extra | None = None,
    layers: Sequence[LoraLayer] = (),
    n_queries: int | None = None,
    bias: torch.Tensor | None = None,
    unread: tuple[int, int] | None = None,
) -> tuple[list[torch.Tensor], list[KV]]:
    """FluxTransformerBlock over any streams; returns new hidden states of the first `n_queries` streams
    (default all) and every stream's (k, v). The other streams only lend keys and values.

    `layers` are the block's LoRA layers (precomputed once by the caller); `bias` is added to the attention
    logits (see `mask_key_bias`); `unread` = (q, k): the first q queries skip the last k keys (see `_attend`).
    """
    n_queries = len(streams) if n_queries is None else n_queries
    head_dim = block.attn.head_dim
    qs, ks, vs, kvs, post = [], [], [], [], []
    for i, s in enumerate(streams):
        mods = _double_modules(block, s.weights)
        with active_adapters(layers, s.adapters):
            normed, gate_msa, shift_mlp, scale_mlp, gate_mlp = mods.norm1(s.hidden, emb=s.emb)
            q, k, v = _project(
                mods.to_q, mods.to_k, mods.to_v, mods.norm_q, mods.norm_k, normed, s.rope, head_dim, query=i < n_queries
            )
        if q is not None:
            qs.append(q)
            post.append((s, mods, gate_msa, shift_mlp, scale_mlp, gate_mlp))
        ks.append(k), vs.append(v), kvs.append((k, v))

    outs = []
    for attn_out, (s, mods, gate_msa, shift_mlp, scale_mlp, gate_mlp) in zip(
        _attend(qs, ks, vs, extra_kv, bias, unread), post
    ):
        with active_adapters(layers, s.adapters):
            h = s.hidden + gate_msa.unsqueeze(1) * mods.to_out(attn_out.contiguous())
            normed = mods.norm2(h) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
            h = h + gate_mlp.unsqueeze(1) * mods.ff(normed)
        if h.dtype == torch.float16:
            h = h.clip(-65504, 65504)
        outs.append(h)
    return outs, kvs


def single_block(
    block: nn.Module,
    streams: Sequence[Stream],
    extra_kv: Extra | None = None,
    layers: Sequence[LoraLayer] = (),
    n_queries: int | None = None,
    bias: torch.Tensor | None = None,
    unread: tuple[int, int] | None = None,
) -> tuple[list[torch.Tensor], list[KV]]:
    """FluxSingleTransformerBlock over any streams (shared weights, per-stream modulation and adapters);
    `n_queries`, `bias` and `unread` as in `double_block`."""
    n_queries = len(streams) if n_queries is None else n_queries
    attn = block.attn
    head_dim = attn.head_dim
    qs, ks, vs, kvs, post = [], [], [], [], []
    for i, s in enumerate(streams):
        with active_adapters(layers, s.adapters):
            normed, gate = block.norm(s.hidden, emb=s.emb)
            q, k, v = _project(
                attn.to_q, attn.to_k, attn.to_v, attn.norm_q, attn.norm_k, normed, s.rope, head_dim, query=i < n_queries
            )
            if q is not None:
                post.append((s, block.act_mlp(block.proj_mlp(normed)), gate))
        if q is not None:
            qs.append(q)
        ks.append(k), vs.append(v), kvs.append((k, v))

    outs = []
    for attn_out, (s, mlp, gate) in zip(_attend(qs, ks, vs, extra_kv, bias, unread), post):
        with active_adapters(layers, s.adapters):
            h = s.hidden + gate.unsqueeze(1) * block.proj_out(torch.cat([attn_out, mlp], dim=2))
        if h.dtype == torch.float16:
            h = h.clip(-65504, 65504)
        outs.append(h)
    return outs, kvs
