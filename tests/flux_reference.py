"""A FLUX forward in plain torch, written from the equations, and the MDiT variants on top of it.

The outside reference of the model tests: it shares no code with `mdit.model` or diffusers' forward, only reads
their weights (a state dict). RoPE is a complex rotation of the (even, odd) pairs, attention an explicit softmax,
every layer an explicit `x @ W.T + b`. LoRA is merged into copies of the weights, W + (alpha / r) B A, one copy per
adapter, so a stream's adapter is simply which copy it reads. Float64 throughout: its own rounding is negligible.

FLUX (black-forest-labs/flux, diffusers' FluxTransformer2DModel):
    temb = MLP_t(sinusoid(t)) [+ MLP_g(sinusoid(g))] + MLP_y(pooled), sinusoid(t) = [cos | sin](1000 t f_i)
    double block, per stream s with its own weights: (shift, scale, gate) x 2 = W_mod silu(temb)
        h = LN(x_s) (1 + scale1) + shift1;  q, k, v = RMSNorm(W_q h), RMSNorm(W_k h), W_v h, then RoPE on q, k
        joint attention over every stream's keys; x_s += gate1 W_o a_s;  x_s += gate2 FF(LN(x_s) (1 + scale2) + shift2)
    single block: one weight set; h as above (one shift, scale, gate); x += gate W_out [a ; gelu(W_mlp h)]
    out = W_proj (LN(x) (1 + scale) + shift), (scale, shift) = W_norm_out silu(temb)
Mask strength γ (OminiControl): each T and X query's unnormalised weight exp(q k / sqrt(d)) on a mask key times γ.
Mask readers "image": each T query's weight on a mask key times 0. Mask token stride s: one mask token per s x s
block of image tokens, its latents side by side (row-major in the block), at the block's mean position.
Several conditions (mask, sketch, keypoints): one such stream each, with its own merged weights, all at the same
positions, their keys after the streams' own in the conditions' order (this twin: at strength 1, both readers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from peft.tuners.lora import LoraLayer

EPS = 1e-6  # FLUX's LayerNorm and QK RMSNorm
THETA = 10_000  # FLUX's RoPE base
Weights = dict[str, torch.Tensor]


def weights_of(base: torch.nn.Module) -> Weights:
    """The backbone's weights in float64 by their diffusers names (peft's `.base_layer` folded away, no LoRA)."""
    return {k.replace(".base_layer", ""): v.double() for k, v in base.state_dict().items() if "lora_" not in k}


def merged(module: torch.nn.Module, adapter: str, scale: float) -> Weights:
    """A copy of `module`'s weights with `adapter` merged: W + scale B A in every layer that has it."""
    weights = weights_of(module)
    for name, layer in module.named_modules():
        if isinstance(layer, LoraLayer) and adapter in layer.lora_A:
            a, b = layer.lora_A[adapter].weight.double(), layer.lora_B[adapter].weight.double()
            weights[f"{name}.weight"] = weights[f"{name}.weight"] + scale * b @ a
    return weights


def linear(w: Weights, name: str, x: torch.Tensor) -> torch.Tensor:
    y = x @ w[f"{name}.weight"].T
    return y + w[f"{name}.bias"] if f"{name}.bias" in w else y


def layer_norm(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + EPS)


def rms_norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return x / torch.sqrt((x**2).mean(-1, keepdim=True) + EPS) * weight


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def sinusoid(t: torch.Tensor, dim: int = 256) -> torch.Tensor:
    """[cos | sin] of 1000 t times frequencies 10000^(-i / (dim/2)), i < dim/2: FLUX's timestep_embedding, which
    defines it in float32 (angles up to 1000 rad: their float32 rounding is part of the model)."""
    freqs = torch.exp(-math.log(10_000) * torch.arange(dim // 2, dtype=torch.float32) / (dim // 2))
    angles = (1000 * t.float())[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1).double()


def mlp(w: Weights, name: str, x: torch.Tensor) -> torch.Tensor:
    return linear(w, f"{name}.linear_2", F.silu(linear(w, f"{name}.linear_1", x)))


def time_embedding(w: Weights, t: torch.Tensor, guidance: torch.Tensor | None, pooled: torch.Tensor) -> torch.Tensor:
    """temb: the timestep, guidance (if the backbone has it) and pooled-text embeddings summed."""
    emb = mlp(w, "time_text_embed.timestep_embedder", sinusoid(t))
    if guidance is not None:
        emb = emb + mlp(w, "time_text_embed.guidance_embedder", sinusoid(guidance))
    return emb + mlp(w, "time_text_embed.text_embedder", pooled.double())


def rope_angles(ids: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """[N, head_dim / 2] rotation angles: per axis a of size d_a, position_a x THETA^(-2j / d_a), j < d_a / 2."""
    parts = []
    for axis, dim in enumerate(axes):
        omega = THETA ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
        parts.append(ids[:, axis].double()[:, None] * omega[None])
    return torch.cat(parts, dim=-1)


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """RoPE: each (even, odd) pair of x [B, N, H, D] as a complex number times e^(i angle)."""
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())
    turned = pairs * torch.polar(torch.ones_like(angles), angles)[None, :, None, :]
    return torch.view_as_real(turned).flatten(-2)


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v per head; [B, N, H, D] in, [B, N, H * D] out. `key_weight` [N, M] multiplies each
    query's unnormalised weight exp(q k^T / sqrt(d)) on each key before the normalisation (the mask strength)."""
    scores = torch.einsum("bnhd,bmhd->bhnm", q, k) / math.sqrt(q.shape[-1])
    if key_weight is None:
        probs = scores.softmax(-1)
    else:
        weights = torch.exp(scores - scores.amax(-1, keepdim=True)) * key_weight
        probs = weights / weights.sum(-1, keepdim=True)
    return torch.einsum("bhnm,bmhd->bnhd", probs, v).flatten(2)


@dataclass
class Stream:
    """Tokens, their modulation input, RoPE angles, the weights they read and, in double blocks, which side."""

    x: torch.Tensor
    temb: torch.Tensor
    angles: torch.Tensor
    w: Weights
    side: str = "image"  # "image" or "context" (the double blocks' text-side modules)


DOUBLE_NAMES = {
    "image": (
        "norm1.linear",
        "attn.to_q",
        "attn.to_k",
        "attn.to_v",
        "attn.norm_q",
        "attn.norm_k",
        "attn.to_out.0",
        "ff",
    ),
    "context": (
        "norm1_context.linear",
        "attn.add_q_proj",
        "attn.add_k_proj",
        "attn.add_v_proj",
        "attn.norm_added_q",
        "attn.norm_added_k",
        "attn.to_add_out",
        "ff_context",
    ),
}


def _qkv(s: Stream, names: tuple[str, ...], h: torch.Tensor, heads: int) -> tuple[torch.Tensor, ...]:
    to_q, to_k, to_v, norm_q, norm_k = names
    split = lambda y: y.unflatten(-1, (heads, -1))  # noqa: E731
    q = rotate(rms_norm(split(linear(s.w, to_q, h)), s.w[f"{norm_q}.weight"]), s.angles)
    k = rotate(rms_norm(split(linear(s.w, to_k, h)), s.w[f"{norm_k}.weight"]), s.angles)
    return q, k, split(linear(s.w, to_v, h))


def _joint(
    qs: list, ks: list, vs: list, extra: tuple | None, strength: float = 1.0, blind: int = 0
) -> list[torch.Tensor]:
    """Every stream's queries over every stream's keys (+ extra cached ones), split back per stream.

    `strength` != 1: the mask's keys (the extra ones, else the last stream's) weigh `strength` times more for the
    queries of T and X (every stream but a last mask stream). `blind`: the first `blind` queries (the text's) give
    the mask's keys no weight at all.
    """
    k, v = torch.cat(ks + ([extra[0]] if extra else []), 1), torch.cat(vs + ([extra[1]] if extra else []), 1)
    key_weight = None
    if strength != 1.0 or blind:
        n_q, n_mask = sum(q.shape[1] for q in qs), (extra[0] if extra else ks[-1]).shape[1]
        n_tx = n_q if extra else n_q - qs[-1].shape[1]
        key_weight = torch.ones(n_q, k.shape[1], dtype=torch.float64)
        key_weight[:n_tx, k.shape[1] - n_mask :] = strength
        key_weight[:blind, k.shape[1] - n_mask :] = 0.0
    out = attention(torch.cat(qs, 1), k, v, key_weight)
    return list(out.split([q.shape[1] for q in qs], dim=1))


def double_block(
    i: int, streams: list[Stream], heads: int, extra: tuple | None = None, strength: float = 1.0, blind: int = 0
) -> tuple[list, list]:
    """New states of every stream and each stream's (k, v) after RoPE."""
    prefix = f"transformer_blocks.{i}."
    qs, ks, vs, mods = [], [], [], []
    for s in streams:
        names = [prefix + n for n in DOUBLE_NAMES[s.side]]
        mod = linear(s.w, names[0], F.silu(s.temb))[:, None].chunk(6, dim=-1)
        h = layer_norm(s.x) * (1 + mod[1]) + mod[0]
        q, k, v = _qkv(s, tuple(names[1:6]), h, heads)
        qs.append(q), ks.append(k), vs.append(v), mods.append((names, mod))
    out = []
    for s, a, (names, mod) in zip(streams, _joint(qs, ks, vs, extra, strength, blind), mods):
        x = s.x + mod[2] * linear(s.w, names[6], a)
        h = layer_norm(x) * (1 + mod[4]) + mod[3]
        ff = linear(s.w, f"{names[7]}.net.2", gelu_tanh(linear(s.w, f"{names[7]}.net.0.proj", h)))
        out.append(x + mod[5] * ff)
    return out, list(zip(ks, vs))


def single_block(
    i: int, streams: list[Stream], heads: int, extra: tuple | None = None, strength: float = 1.0, blind: int = 0
) -> tuple[list, list]:
    """As `double_block`, for FLUX's single blocks (one weight set, attention and MLP in parallel)."""
    p = f"single_transformer_blocks.{i}."
    qs, ks, vs, parts = [], [], [], []
    for s in streams:
        shift, scale, gate = linear(s.w, p + "norm.linear", F.silu(s.temb))[:, None].chunk(3, dim=-1)
        h = layer_norm(s.x) * (1 + scale) + shift
        q, k, v = _qkv(
            s, tuple(p + n for n in ("attn.to_q", "attn.to_k", "attn.to_v", "attn.norm_q", "attn.norm_k")), h, heads
        )
        qs.append(q), ks.append(k), vs.append(v), parts.append((gate, gelu_tanh(linear(s.w, p + "proj_mlp", h))))
    out = [
        s.x + gate * linear(s.w, p + "proj_out", torch.cat([a, m], dim=-1))
        for s, a, (gate, m) in zip(streams, _joint(qs, ks, vs, extra, strength, blind), parts)
    ]
    return out, list(zip(ks, vs))


def run_blocks(
    streams: list[Stream],
    n_double: int,
    n_single: int,
    heads: int,
    extra: list | None = None,
    strength: float = 1.0,
    blind: int = 0,
    record: int = 1,
):
    """Every block in order; returns the final streams and, per block, the last `record` streams' (k, v) joined."""
    recorded = []
    for i in range(n_double + n_single):
        block, index = (double_block, i) if i < n_double else (single_block, i - n_double)
        xs, kvs = block(index, streams, heads, extra[i] if extra else None, strength, blind)
        streams = [Stream(x, s.temb, s.angles, s.w, s.side) for s, x in zip(streams, xs)]
        recorded.append(tuple(torch.cat(part, 1) for part in zip(*kvs[-record:])))
    return streams, recorded


def compact_mask(latents: torch.Tensor, img_ids: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask tokens [B, N/s², s² C] and their ids [N/s², 3]: block by block, row-major, from a row-major grid."""
    rows, cols = int(img_ids[:, 1].max()) + 1, int(img_ids[:, 2].max()) + 1
    tokens, ids = [], []
    for r in range(0, rows, stride):
        for c in range(0, cols, stride):
            members = [(r + i) * cols + (c + j) for i in range(stride) for j in range(stride)]
            tokens.append(torch.cat([latents[:, m] for m in members], dim=-1))
            ids.append(sum(img_ids[m].double() for m in members) / len(members))
    return torch.stack(tokens, dim=1), torch.stack(ids)


@dataclass
class Reference:
    """An MDiT variant in plain torch. `base`: the pretrained weights; `image` / `mask`: copies with that adapter
    merged (the visual embedder's `proj` in `mask` too); `empty_pooled`: the empty caption's pooled embedding."""

    attention: str
    base: Weights
    image: Weights
    mask: Weights
    axes: tuple[int, ...]
    heads: int
    n_double: int
    n_single: int
    empty_pooled: torch.Tensor
    reference_t: float = 0.0
    stride: int = 1
    readers: str = "image_text"
    conditions: tuple[str, ...] = ("mask",)
    others: dict[str, Weights] | None = None  # the weights of each condition but the mask, its adapter merged

    def weights(self, kind: str) -> Weights:
        return self.mask if kind == "mask" else self.others[kind]

    def given(self, latents) -> dict:
        """{kind: latents} of the conditions given (a tensor: the one condition's), in the conditions' order."""
        if latents is None or isinstance(latents, torch.Tensor):
            return {} if latents is None else {self.conditions[0]: latents}
        return {kind: latents[kind] for kind in self.conditions if latents.get(kind) is not None}

    def mask_tokens(
        self, mask_latents: torch.Tensor, img_ids: torch.Tensor, temb: torch.Tensor, kind: str = "mask"
    ) -> Stream:
        """A condition's tokens through its visual embedder, at their blocks' centres."""
        latents, ids = compact_mask(mask_latents.double(), img_ids, self.stride)
        w = self.weights(kind)
        return Stream(linear(w, "proj", latents), temb, rope_angles(ids, self.axes), w)

    def static_kv(self, mask_latents, text, pooled, txt_ids, img_ids, guidance) -> list:
        """The decoupled variants' static pass: per block, the condition tokens' (k, v)."""
        given = self.given(mask_latents)
        batch = next(iter(given.values())).shape[0]
        empty = self.empty_pooled.double().expand(batch, -1)
        t_ref = torch.full((batch,), self.reference_t, dtype=torch.float64)
        emb = time_embedding(self.base, t_ref, guidance, empty)  # free of t and of the caption
        streams = [self.mask_tokens(c, img_ids, emb, kind) for kind, c in given.items()]
        if self.attention == "improved_decoupled":  # T_s: the caption's tokens on the pretrained weights
            t_s = linear(self.base, "context_embedder", text.double())
            streams = [Stream(t_s, emb, rope_angles(txt_ids, self.axes), self.base, "context"), *streams]
        return run_blocks(streams, self.n_double, self.n_single, self.heads, record=len(given))[1]

    def __call__(
        self, x, text, pooled, t, img_ids, txt_ids, guidance=None, mask_latents=None, mask_strength=1.0
    ) -> torch.Tensor:
        """The velocity, as MDiTTransformer.forward computes it (mask_latents None = mask dropped); `mask_strength`
        weighs the mask keys for the T and X queries of the denoising pass (not in the static pass)."""
        g = guidance.double() if guidance is not None else None
        temb = time_embedding(self.base, t, g, pooled)
        x = x.double()
        given = self.given(mask_latents)
        assert len(self.conditions) == 1 or (mask_strength == 1.0 and self.readers == "image_text")
        if self.attention == "concat":
            x = torch.cat([x, *(given[k].double() if k in given else torch.zeros_like(x) for k in self.conditions)], -1)
        mask_latents = mask_latents if given else None
        # The image adapter: on X, and on the text tokens in the single blocks, which share the image-side weights
        # (the double blocks' text-side modules carry no adapter, so the `image` copy is the base there).
        txt = Stream(
            linear(self.base, "context_embedder", text.double()),
            temb,
            rope_angles(txt_ids, self.axes),
            self.image,
            "context",
        )
        img = Stream(linear(self.base, "x_embedder", x), temb, rope_angles(img_ids, self.axes), self.image)
        streams, extra, strength, blind = [txt, img], None, 1.0, 0
        if mask_latents is not None and self.attention == "holistic":
            streams += [self.mask_tokens(c, img_ids, temb, kind) for kind, c in given.items()]
            strength = mask_strength
        elif mask_latents is not None and self.attention in ("hard_decoupled", "improved_decoupled"):
            extra = self.static_kv(mask_latents, text, pooled, txt_ids, img_ids, g)
            strength = mask_strength
        if mask_latents is not None and self.attention != "concat" and self.readers == "image":
            blind = txt.x.shape[1]
        streams, _ = run_blocks(streams, self.n_double, self.n_single, self.heads, extra, strength, blind)
        scale, shift = linear(self.base, "norm_out.linear", F.silu(temb))[:, None].chunk(2, dim=-1)
        return linear(self.base, "proj_out", layer_norm(streams[1].x) * (1 + scale) + shift)


def reference_of(model, scale: float, empty_pooled: torch.Tensor) -> Reference:
    """The plain-torch twin of an MDiTTransformer: its weights, adapters merged with `scale` = alpha / r."""
    base = model.base
    mask = merged(base, "mask", scale)
    if model.visual_embedder is not None:
        mask.update(merged(model.visual_embedder, "mask", scale))
    others = {}
    for kind in model.conditions:
        if kind != "mask":
            others[kind] = merged(base, kind, scale)
            if model.strategy.mask_tokens:
                others[kind].update(merged(model.embedder(kind), kind, scale))
    c = base.config
    return Reference(
        model.strategy.name,
        weights_of(base),
        merged(base, "image", scale),
        mask,
        tuple(c.axes_dims_rope),
        c.num_attention_heads,
        c.num_layers,
        c.num_single_layers,
        empty_pooled,
        model.reference_t,
        model.mask_token_stride,
        model.mask_readers,
        model.conditions,
        others,
    )
