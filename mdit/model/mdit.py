"""The MDiT transformer: diffusers' FluxTransformer2DModel, untouched, driven by a multi-stream forward.

Streams: T (text), X (noisy image) and one per spatial condition (M the mask; S a sketch, K keypoints: see
`mdit.conditions`), each condition with its own embedder and adapter and the image's positions. The strategy (see
`mdit.variants`) decides whether condition streams exist, whether they are static (computed once per sample, K/V
cached, one entry per condition) and which tokens attend to which. With every condition absent and adapters at
zero, every strategy is exactly the base FLUX forward.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn as nn
from diffusers import FluxTransformer2DModel
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method
from torch.utils.checkpoint import checkpoint

from mdit.conditioning.visual_embedder import VisualEmbedder
from mdit.conditions import DEFAULT_CONDITIONS, check_conditions
from mdit.model.adapters import IMAGE_ADAPTER, LoraSettings, active_adapters, inject_lora, lora_layers
from mdit.model.blocks import KV, Extra, Rope, Stream, double_block, mask_key_bias, single_block
from mdit.model.cache import StaticKVCache, per_block
from mdit.model.compact import group_centres, group_tokens, token_grid
from mdit.model.widening import widen_x_embedder
from mdit.variants import MASK_READERS, STATIC_MODULATIONS, AttentionStrategy, get_strategy

DEFAULT_LORA = LoraSettings()

BlockRun = Callable[..., tuple[list[torch.Tensor], list[KV]]]  # (streams, extra_kv, layers, n_queries, bias, unread)
ConditionLatents = torch.Tensor | Mapping[str, torch.Tensor | None]  # one condition's latents, or {kind: latents}


def embedder_attribute(kind: str) -> str:
    """The attribute holding a condition's visual embedder: the mask's keeps its name of the one-condition model
    (`visual_embedder`), so its checkpoints load unchanged."""
    return "visual_embedder" if kind == "mask" else f"{kind}_embedder"


@dataclass(frozen=True)
class Positions:
    """RoPE (cos, sin) of the text, image and condition tokens, and the image-token grid the condition tokens group
    (every condition has the same positions: the image's, or its groups' centres)."""

    text: Rope
    image: Rope
    mask: Rope
    grid: tuple[int, int]


class MDiTTransformer(nn.Module):
    """Spatial-condition (mask, sketch, keypoints) + text conditioned FLUX transformer with one attention strategy.

    Args:
        base: a FluxTransformer2DModel (from `from_pretrained` or the constructor); composed, not copied.
        attention: a strategy name: none, concat, holistic, hard_decoupled, improved_decoupled.
        lora: the adapters' rank, alpha and targets (image-side modules): a "mask" adapter for the mask
            tokens and the visual embedder, an "image" adapter for the image tokens (`lora.image_stream`;
            `concat` has only this one); None = no adapter (full fine-tuning).
        static_modulation: timestep-free modulation of the static streams: "reference_t" (FLUX's time embedding
            at the fixed `reference_t` + guidance + the pooled projection of the empty caption: free of t and of
            the caption, so the static paths differ only by T_s), "reference_t_caption" (the same with the
            sample caption's pooled vector) or "pooled_text" (the caption's pooled projection alone). The last
            two let the caption into the static path of the hard variant too.
        reference_t: the fixed t in [0, 1] of the "reference_t*" modulations; 0 = clean, the mask is a clean signal.
        mask_token_stride: s; one mask token per s x s group of image tokens, at the group's centre (mask-token
            strategies; 1 = the paper's one per image token). The static cache and the mask's attention shrink by s².
        mask_readers: which dynamic queries attend to the mask's keys: "image_text" (the paper's) or "image" (the
            text's queries skip them; the static pass is unchanged).
        conditions: the spatial conditions read (`mdit.conditions`), in stream order: ("mask",) is the paper's model.
            Each has its own visual embedder and its own adapter, named like the kind (the mask's is "mask");
            stride and readers apply to all of them; `concat` stacks their channels in this order.
    """

    def __init__(
        self,
        base: FluxTransformer2DModel,
        attention: str = "improved_decoupled",
        lora: LoraSettings | None = DEFAULT_LORA,
        static_modulation: str = "reference_t",
        reference_t: float = 0.0,
        mask_token_stride: int = 1,
        mask_readers: str = "image_text",
        conditions: Sequence[str] = DEFAULT_CONDITIONS,
    ) -> None:
        super().__init__()
        self.conditions = check_conditions(conditions)
        if static_modulation not in STATIC_MODULATIONS:
            raise ValueError(f"unknown static_modulation {static_modulation!r}; valid: {', '.join(STATIC_MODULATIONS)}")
        if not 0.0 <= reference_t <= 1.0:
            raise ValueError(f"reference_t must be in [0, 1], got {reference_t}")
        if mask_readers not in MASK_READERS:
            raise ValueError(f"unknown mask_readers {mask_readers!r}; valid: {', '.join(MASK_READERS)}")
        if not isinstance(mask_token_stride, int) or mask_token_stride < 1:
            raise ValueError(f"mask_token_stride must be a positive integer, got {mask_token_stride!r}")
        self.strategy: AttentionStrategy = get_strategy(attention)
        if (mask_token_stride != 1 or mask_readers != "image_text") and not self.strategy.mask_tokens:
            raise ValueError(
                f"mask_token_stride and mask_readers shape the mask's tokens; attention {attention!r} has none "
                "(keep 1 and image_text)"
            )
        self.mask_token_stride = mask_token_stride
        self.mask_readers = mask_readers
        self.static_modulation = static_modulation
        self.reference_t = reference_t
        # The empty caption's pooled embedding [1, P], for the caption-free "reference_t" modulation: set by whoever
        # owns the text encoder (`set_empty_caption`); not saved with the weights, it is the encoder's.
        self.register_buffer("empty_pooled", None, persistent=False)
        self.base = base
        self.latent_channels = base.x_embedder.in_features
        self.gradient_checkpointing = False
        self.static_passes = 0  # static-path runs, for tests and profiling
        self.image_adapter_merged = False
        self._rope_cache: list[tuple[torch.Tensor, torch.Tensor, Positions]] = []

        if self.strategy.mask_channels:
            widen_x_embedder(base, self.latent_channels * len(self.conditions))
        if "mask" not in self.conditions or not self.strategy.mask_tokens:
            self.visual_embedder = None
        if self.strategy.mask_tokens:
            for kind in self.conditions:
                setattr(self, embedder_attribute(kind), VisualEmbedder(base.x_embedder, mask_token_stride))
        adapt_image = lora is not None and self.strategy.uses_mask and lora.image_stream
        adapt_conditions = lora is not None and self.strategy.mask_tokens
        if adapt_image:  # the image tokens learn to read the conditions (their channels, or their tokens' K/V)
            inject_lora(base, lora, IMAGE_ADAPTER)
        if adapt_conditions:
            for kind in self.conditions:
                inject_lora(base, lora, kind, exclude=_unread_on_mask_tokens(base))
                inject_lora(self.embedder(kind), replace(lora, targets=("proj",)), kind)
        self._image_adapters = (IMAGE_ADAPTER,) if adapt_image else ()
        self._injected = {*self._image_adapters, *(self.conditions if adapt_conditions else ())}
        self._blocks: list[tuple[BlockRun, nn.Module, list]] = [
            (partial(double_block, b), b, lora_layers(b)) for b in base.transformer_blocks
        ] + [(partial(single_block, b), b, lora_layers(b)) for b in base.single_transformer_blocks]
        self.sharded = False
        self._embedder_layers = (
            {kind: lora_layers(self.embedder(kind)) for kind in self.conditions} if self.strategy.mask_tokens else {}
        )

    @property
    def num_blocks(self) -> int:
        return len(self._blocks)

    def embedder(self, kind: str) -> VisualEmbedder:
        """The visual embedder of one condition's tokens (condition-token strategies)."""
        if kind not in self.conditions or not self.strategy.mask_tokens:
            raise KeyError(f"this {self.strategy.name} model has no {kind!r} tokens; it reads {list(self.conditions)}")
        return getattr(self, embedder_attribute(kind))

    def condition_latents(self, given: ConditionLatents | None) -> dict[str, torch.Tensor]:
        """The given conditions' packed latents by kind, in stream order; a tensor is the one condition's, a
        missing or None kind is dropped, an unknown kind is an error that names the model's."""
        if given is None:
            return {}
        if isinstance(given, torch.Tensor):
            if len(self.conditions) != 1:
                raise ValueError(
                    f"this model reads {len(self.conditions)} conditions ({', '.join(self.conditions)}): pass "
                    "{kind: latents}, not one tensor"
                )
            return {self.conditions[0]: given}
        unknown = [kind for kind in given if kind not in self.conditions]
        if unknown:
            raise ValueError(f"conditions {unknown} are not read by this model; it reads {', '.join(self.conditions)}")
        return {kind: given[kind] for kind in self.conditions if given.get(kind) is not None}

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        pooled_projections: torch.Tensor,
        timestep: torch.Tensor,
        img_ids: torch.Tensor,
        txt_ids: torch.Tensor,
        guidance: torch.Tensor | None = None,
        mask_hidden_states: ConditionLatents | None = None,
        static_cache: StaticKVCache | None = None,
        mask_strength: float = 1.0,
    ) -> torch.Tensor:
        """Velocity for packed latents `hidden_states` [B, N, C]; FLUX's argument names and units (t in [0, 1]).

        `mask_hidden_states` are the packed condition latents [B, N, C]: one tensor for a one-condition model, or
        {kind: latents} (a missing or None kind = that condition dropped; None = all dropped; ignored by `none`).
        `static_cache`: in write mode the forward fills it with each condition's per-block K/V; in read mode it
        takes no conditions and attends to the cached K/V instead. `mask_strength` γ multiplies the attention
        weight of the text and image queries on every condition key by γ (log γ on their logits; condition-token
        strategies only; 1 = no bias at all).
        """
        strategy = self.strategy
        if mask_strength != 1.0 and not strategy.mask_tokens:
            raise ValueError(
                f"mask_strength={mask_strength} weights the mask's tokens; attention {strategy.name!r} has none"
            )
        if not 0.0 < mask_strength < math.inf:
            raise ValueError(f"mask_strength must be in (0, inf), got {mask_strength}")
        conditions = self.condition_latents(mask_hidden_states) if strategy.uses_mask else {}
        reading = static_cache is not None and static_cache.mode == "read"
        if reading and conditions:
            raise ValueError("a read-mode static cache takes no conditions: its static path is already cached")
        for kind, latents in conditions.items():
            if latents.shape[:2] != hidden_states.shape[:2]:
                raise ValueError(
                    f"{kind} tokens {tuple(latents.shape)} do not match image tokens {tuple(hidden_states.shape)}"
                )
        if self.base.config.guidance_embeds and guidance is None:
            raise ValueError("this backbone has a guidance embedding (FLUX.1-dev style): pass `guidance`")
        if self.image_adapter_merged and torch.is_grad_enabled():
            raise RuntimeError("the image adapter is merged for sampling (merge_image_adapter): it cannot train")

        if strategy.mask_channels:  # a dropped condition = zero channels
            zeros = hidden_states.new_zeros(*hidden_states.shape[:2], self.latent_channels)
            channels = [conditions.get(kind, zeros) for kind in self.conditions]
            hidden_states, conditions = torch.cat([hidden_states, *channels], dim=-1), {}

        base = self.base
        x = base.x_embedder(hidden_states)
        temb = self._time_embedding(timestep, guidance, pooled_projections, x.dtype)
        txt = base.context_embedder(encoder_hidden_states)
        pos = self._positions(txt_ids, img_ids)
        n_txt = txt.shape[1]
        # Like a FLUX LoRA, the image adapter is on the image-side modules, which single blocks share with text.
        adapters = self._adapters(self._image_adapters)
        streams = [Stream(txt, temb, pos.text, "context", adapters), Stream(x, temb, pos.image, "image", adapters)]

        cached: list[Extra] | None = None
        n_mask = 0  # condition keys, all streams together
        if reading:
            cached = static_cache.load()
        elif conditions and strategy.static_mask:
            entries = self._static_pass(conditions, txt, pooled_projections, guidance, pos)
            if static_cache is not None:
                static_cache.store(entries)
            cached = per_block(entries)
        elif conditions:  # holistic: each condition is a dynamic stream like X
            extra = [self._condition_stream(kind, c, temb, pos) for kind, c in conditions.items()]
            n_mask = sum(c.hidden.shape[1] for c in extra)
            if all(self._live(c.adapters) == self._live(adapters) for c in extra) and static_cache is None:
                # No adapter tells a condition from X (none trained, or full fine-tuning): one stream [X; M; ...],
                # which is FLUX itself on the image and condition tokens, with no cost of composition.
                rope = tuple(torch.cat([r, *[r_m] * len(extra)], dim=0) for r, r_m in zip(pos.image, pos.mask))
                hidden = torch.cat([x, *(c.hidden for c in extra)], dim=1)
                streams[1] = replace(streams[1], hidden=hidden, rope=rope)
            else:
                streams += extra
        if cached is not None:
            n_mask = sum(k.shape[1] for k, _ in cached[0])

        bias = None
        if mask_strength != 1.0 and n_mask:  # the static pass gets no bias
            dtype = torch.promote_types(x.dtype, torch.float32)  # cast to the queries' dtype in the attention
            bias = mask_key_bias(n_txt + x.shape[1], n_mask, mask_strength, cached is None, x.device, dtype)
        # The text's queries come first and the conditions' keys last (the cache's extra keys, the last streams, or the
        # end of one [X; M; ...] stream), in every block: `unread` is a count of each.
        unread = (n_txt, n_mask) if self.mask_readers == "image" and n_mask else None
        record = static_cache is not None and not reading and len(streams) > 2
        streams, recorded = self._run_blocks(streams, cached, record=record, bias=bias, unread=unread)
        if record:  # frozen holistic K/V: only the negative control of the cache tests does this
            static_cache.store(recorded)
        n_img = hidden_states.shape[1]  # the final streams are [T;X] (or T, X; or [T;X;M;...] from one [X; M] stream)
        x = torch.cat([s.hidden for s in streams], dim=1)[:, n_txt : n_txt + n_img]
        return base.proj_out(base.norm_out(x, temb))

    def prepare_static_cache(
        self,
        mask_hidden_states: ConditionLatents,
        encoder_hidden_states: torch.Tensor,
        pooled_projections: torch.Tensor,
        img_ids: torch.Tensor,
        txt_ids: torch.Tensor,
        guidance: torch.Tensor | None = None,
    ) -> StaticKVCache:
        """Run the static path once over the given conditions (decoupled strategies) and return the filled,
        read-mode cache: one entry per condition stream."""
        if not self.strategy.static_mask:
            raise ValueError(f"attention {self.strategy.name!r} has no static path to cache")
        conditions = self.condition_latents(mask_hidden_states)
        if not conditions:
            raise ValueError(f"no condition to cache: give at least one of {', '.join(self.conditions)}")
        txt = self.base.context_embedder(encoder_hidden_states) if self.strategy.static_text else None
        cache = StaticKVCache()
        cache.store(self._static_pass(conditions, txt, pooled_projections, guidance, self._positions(txt_ids, img_ids)))
        return cache

    def merge_image_adapter(self) -> None:
        """For sampling only: fold the image adapter into the base weights (W + B_X A_X), so that the dynamic
        steps run FLUX's plain layers; streams on those weights that must not see it (mask tokens, the static
        text) get it subtracted instead. One-way (merging is not exactly undone in bf16); a merged model
        refuses to train. A no-op without an image adapter."""
        if not self._image_adapters or self.image_adapter_merged:
            return
        with torch.no_grad():
            for layer in lora_layers(self.base):
                if IMAGE_ADAPTER in layer.lora_A:
                    weight = layer.get_base_layer().weight
                    weight += layer.get_delta_weight(IMAGE_ADAPTER).to(weight.dtype)
                    layer.scaling[IMAGE_ADAPTER] = -layer.scaling[IMAGE_ADAPTER]
        self.image_adapter_merged = True

    def shard(self, mesh: DeviceMesh) -> None:
        """FSDP (PyTorch's fully_shard) over `mesh`: each FLUX block one unit, the rest of the model the root unit.

        The multi-stream forward never calls a block's `forward`, so each block's run is registered as an FSDP
        forward method (`multi_stream`): its weights are gathered before it, freed after it and gathered again
        for its backward. `prepare_static_cache` is registered on the root for the same reason.
        """
        if self.sharded:
            return
        # Block outputs are views (of the attention split, of k and v); FSDP warns in case one is changed in
        # place, which this forward never does.
        warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")
        for i, (run, block, layers) in enumerate(self._blocks):
            block.multi_stream = run
            fully_shard(block, mesh=mesh)
            register_fsdp_forward_method(block, "multi_stream")
            self._blocks[i] = (block.multi_stream, block, layers)
        fully_shard(self, mesh=mesh)
        register_fsdp_forward_method(self, "prepare_static_cache")
        self.sharded = True

    def _live(self, adapters: tuple[str, ...]) -> tuple[str, ...]:
        """Those of `adapters` this model has (a stream's adapters are named even when no LoRA was injected)."""
        return tuple(a for a in adapters if a in self._injected)

    def _adapters(self, wanted: tuple[str, ...]) -> tuple[str, ...]:
        """The adapters to switch on for a stream that wants `wanted` (see merge_image_adapter)."""
        if not self.image_adapter_merged:
            return wanted
        if IMAGE_ADAPTER in wanted:
            return tuple(a for a in wanted if a != IMAGE_ADAPTER)
        return (*wanted, IMAGE_ADAPTER)

    def _positions(self, txt_ids: torch.Tensor, img_ids: torch.Tensor) -> Positions:
        """RoPE of the text, image and mask positions; mask tokens sit at their groups' centres (stride 1: the
        image positions themselves).

        Kept for the last two (txt_ids, img_ids) pairs: a sampler passes the same id tensors at every step, once
        per classifier-free guidance branch.
        """
        for cached_txt, cached_img, pos in self._rope_cache:
            if cached_txt is txt_ids and cached_img is img_ids:
                return pos
        stride = self.mask_token_stride
        grid = token_grid(img_ids) if stride != 1 else (0, 0)
        mask_ids = [group_centres(img_ids, grid, stride)] if stride != 1 else []
        cos, sin = self.base.pos_embed(torch.cat([txt_ids, img_ids, *mask_ids], dim=0))
        n_txt, n_img = txt_ids.shape[0], img_ids.shape[0]
        rope_t, rope_x = (cos[:n_txt], sin[:n_txt]), (cos[n_txt : n_txt + n_img], sin[n_txt : n_txt + n_img])
        rope_m = (cos[n_txt + n_img :], sin[n_txt + n_img :]) if stride != 1 else rope_x
        pos = Positions(rope_t, rope_x, rope_m, grid)
        self._rope_cache = [*self._rope_cache[-1:], (txt_ids, img_ids, pos)]
        return pos

    def _time_embedding(
        self, timestep: torch.Tensor, guidance: torch.Tensor | None, pooled: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor:
        """FLUX's timestep (+ guidance) + pooled-text embedding; t and guidance scaled by 1000 as diffusers does."""
        embed = self.base.time_text_embed
        t = timestep.to(dtype) * 1000
        if guidance is None:
            return embed(t, pooled)
        return embed(t, guidance.to(dtype) * 1000, pooled)

    def set_empty_caption(self, pooled: torch.Tensor) -> None:
        """The pooled embedding of the empty caption ([1, P] or [P]), from the text encoder the model is used with."""
        expected = self.base.config.pooled_projection_dim
        if pooled.shape[-1] != expected or pooled.numel() != expected:
            raise ValueError(f"the empty caption's pooled embedding has {expected} values, not {tuple(pooled.shape)}")
        self.empty_pooled = pooled.detach().reshape(1, expected).to(self.base.dtype)

    def static_embedding(self, pooled: torch.Tensor, guidance: torch.Tensor | None) -> torch.Tensor:
        """Timestep-free modulation of the static streams (t is not an input); `pooled` (the caption's) is read only
        by the modulations that let the caption in."""
        if self.static_modulation == "pooled_text":
            return self.base.time_text_embed.text_embedder(pooled)
        if self.static_modulation == "reference_t":
            if self.empty_pooled is None:
                raise RuntimeError(
                    "static_modulation 'reference_t' needs the empty caption's pooled embedding: call "
                    "model.set_empty_caption(text_encoder(['']).pooled) (MDiTModule does)"
                )
            pooled = self.empty_pooled.to(pooled).expand(pooled.shape[0], -1)
        t_ref = torch.full((pooled.shape[0],), self.reference_t, device=pooled.device)
        return self._time_embedding(t_ref, guidance, pooled, pooled.dtype)

    def _condition_stream(self, kind: str, latents: torch.Tensor, emb: torch.Tensor, pos: Positions) -> Stream:
        """Packed latents [B, N, C] of one condition -> its stream of tokens [B, N/s², D], one per s x s group of
        image tokens, through its own embedder and with its own adapter."""
        with active_adapters(self._embedder_layers[kind], (kind,)):
            tokens = self.embedder(kind)(group_tokens(latents, pos.grid, self.mask_token_stride))
        return Stream(tokens, emb, pos.mask, "image", self._adapters((kind,)), final=False, condition=kind)

    def _static_pass(
        self,
        conditions: Mapping[str, torch.Tensor],
        txt: torch.Tensor | None,
        pooled: torch.Tensor,
        guidance: torch.Tensor | None,
        pos: Positions,
    ) -> dict[str, list[KV]]:
        """The conditions' path, once per sample: [M; S; ...] over itself (hard: nothing of the caption, with the
        default modulation) or [T_s; M; S; ...] over itself (improved: the caption's tokens T_s, on the pretrained
        weights); each condition's per-block K/V."""
        self.static_passes += 1
        emb = self.static_embedding(pooled, guidance)
        streams = [self._condition_stream(kind, c, emb, pos) for kind, c in conditions.items()]
        if self.strategy.static_text:
            streams.insert(0, Stream(txt, emb, pos.text, "context", self._adapters(()), final=False))
        _, kv = self._run_blocks(streams, None, record=True)
        return kv

    def _run_blocks(
        self,
        streams: list[Stream],
        extra_kv: Sequence[Extra] | None,
        record: bool,
        bias: torch.Tensor | None = None,
        unread: tuple[int, int] | None = None,
    ) -> tuple[list[Stream], dict[str, list[KV]]]:
        """All double then single blocks; `record` collects each condition stream's (k, v) per block; `bias` is added
        to every attention's logits; `unread` = (q, k): the first q queries skip the last k keys.

        In the last block, streams that are not `final` only lend keys and values (their outputs
        would never be read); with no final stream (the static pass) only the recorded ones run.
        """
        recorded: dict[str, list[KV]] = {}
        n_double, last = len(self.base.transformer_blocks), len(self._blocks) - 1
        for i, (run, _, layers) in enumerate(self._blocks):
            if i == n_double:
                streams = _merge_shared(streams)
            n_queries = len(streams)
            if i == last:
                finals = [s for s in streams if s.final]
                lenders = [s for s in streams if not s.final]
                if not finals:  # nobody queries: only the recorded streams' K/V are needed
                    lenders = [s for s in lenders if s.condition] if record else []
                streams, n_queries = finals + lenders, len(finals)
            extra = extra_kv[i] if extra_kv is not None else None
            if self.gradient_checkpointing and torch.is_grad_enabled():
                hiddens, kvs = checkpoint(run, streams, extra, layers, n_queries, bias, unread, use_reentrant=False)
            else:
                hiddens, kvs = run(streams, extra, layers, n_queries, bias, unread)
            if record:
                for s, kv in zip(streams, kvs):
                    if s.condition:
                        recorded.setdefault(s.condition, []).append(kv)
            streams = [replace(s, hidden=h) for s, h in zip(streams, hiddens)]
        return _merge_shared(streams), recorded


def _merge_shared(streams: list[Stream]) -> list[Stream]:
    """Join adjacent streams with the same modulation and adapters into one (FLUX's [T;X] in single blocks)."""
    merged: list[Stream] = []
    for s in streams:
        last = merged[-1] if merged else None
        if last is not None and s.emb is last.emb and s.adapters == last.adapters:
            rope = tuple(torch.cat([a, b], dim=0) for a, b in zip(last.rope, s.rope))
            merged[-1] = Stream(
                torch.cat([last.hidden, s.hidden], dim=1),
                s.emb,
                rope,
                "image",
                s.adapters,
                final=last.final and s.final,
            )
        else:
            merged.append(s)
    return merged


def _unread_on_mask_tokens(base: FluxTransformer2DModel) -> list[str]:
    """The last block's modules whose outputs on condition tokens are never read (only its K/V are):
    an adapter there would be a dead parameter."""
    if len(base.single_transformer_blocks):
        last = f"single_transformer_blocks.{len(base.single_transformer_blocks) - 1}."
        return [last + n for n in ("attn.to_q", "proj_mlp", "proj_out")]
    last = f"transformer_blocks.{len(base.transformer_blocks) - 1}."
    return [last + n for n in ("attn.to_q", "attn.to_out.0", "ff.net.0.proj", "ff.net.2")]
