"""The LightningModule: flow matching on an MDiT variant, condition dropout, LoRA or full fine-tuning.

All per-step randomness (t, noise, dropout) comes from a generator seeded by (seed, step), so a
run resumed from a checkpoint continues exactly as an uninterrupted one would on CPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch.distributed.fsdp import FSDPModule

from mdit.backbone import Backbone, backbone_of
from mdit.condition_forwards import condition_forwards, keep_every_weight
from mdit.conditioning import EMPTY_CAPTION, encode_image
from mdit.ema import EMA
from mdit.model import build_transformer
from mdit.pipeline import Pipeline
from mdit.sampling import shift_times

# Checkpoints hold only the trainable weights (on_save_checkpoint): the frozen rest comes from the backbone.
warnings.filterwarnings("ignore", message="Found keys that are in the model state dict but not in the checkpoint")


def step_generator(seed: int, step: int, stream: int = 0, shard: int = 0) -> torch.Generator:
    """A CPU generator that depends only on (seed, step, stream) and the micro-batch of the step (`shard`: rank x
    accumulation + micro-batch; 0 on one device without accumulation, which adds nothing)."""
    state = np.random.SeedSequence([seed, step, stream, *([shard] if shard else [])]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def sample_condition_dropout(
    batch: int, p_text: float, p_conditions: Sequence[float], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent per-sample drops of the text (bool [batch]) and of each spatial condition (bool [conditions,
    batch]), so that any subset of the conditions is seen in training and works at sampling time."""
    u = torch.rand(1 + len(p_conditions), batch, generator=generator)
    return u[0] < p_text, u[1:] < torch.tensor(p_conditions, dtype=u.dtype)[:, None]


def sample_dropout(
    batch: int, p_text: float, p_mask: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent per-sample drops of the text and of the mask (bool [batch] each): one condition's draws."""
    text, conditions = sample_condition_dropout(batch, p_text, [p_mask], generator)
    return text, conditions[0]


def sample_times(batch: int, image_tokens: int, mean: float, std: float, generator: torch.Generator) -> torch.Tensor:
    """t = FLUX-shift(sigmoid(N(mean, std))): logit-normal, shifted towards noise for more tokens."""
    t = torch.sigmoid(mean + std * torch.randn(batch, generator=generator, dtype=torch.float64))
    return shift_times(t.clamp(1e-5, 1 - 1e-5), image_tokens).float()


class MDiTModule(L.LightningModule):
    """Trains one attention variant on a backbone; `generate` samples from it.

    `MDiTModule.load_from_checkpoint(path)` rebuilds it from the config saved in the checkpoint, with the backbone
    that config names (which must exist: `mdit.pretraining.backbone_for` builds the embedded one).
    """

    def __init__(self, cfg: DictConfig | dict, backbone: Backbone | None = None) -> None:
        super().__init__()
        cfg = OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg
        self.save_hyperparameters({"cfg": OmegaConf.to_container(cfg)}, logger=False)
        self.cfg = cfg
        backbone = backbone if backbone is not None else backbone_of(cfg)
        self.text, self.autoencoder = backbone.text, backbone.autoencoder
        self.model = build_transformer(backbone.transformer, cfg.model)
        if self.model.strategy.static_mask:  # the caption-free static modulation needs the text encoder's ""
            self.model.set_empty_caption(self.text([EMPTY_CAPTION]).pooled)
        self.model.gradient_checkpointing = cfg.train.gradient_checkpointing
        self.pipeline = Pipeline(self.model, self.text, self.autoencoder, cfg.data.resolution, cfg.model.guidance)
        self._set_trainable()
        self.ema = EMA(cfg.train.ema_decay, self._trainable()) if cfg.train.ema_decay else None
        self.strict_loading = False  # checkpoints hold only the trainable weights (see on_save_checkpoint)

    # -- what trains -----------------------------------------------------------------------------------------
    def _set_trainable(self) -> None:
        """lora: adapters + new weights (concat's widened x_embedder); full: the whole transformer + embedder."""
        self.model.requires_grad_(self.cfg.model.finetune == "full")
        if self.cfg.model.finetune == "lora":
            for name, param in self.model.named_parameters():
                if "lora_" in name:
                    param.requires_grad_(True)
            if self.model.strategy.mask_channels:
                self.model.base.x_embedder.requires_grad_(True)
        self.text.requires_grad_(False)
        self.autoencoder.requires_grad_(False)
        for _, param in self.trainable_parameters():  # over a bf16 base: adapters and new weights train in fp32
            if param.dtype in (torch.float16, torch.bfloat16):
                param.data = param.data.float()

    def trainable_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        """The trainable weights; under FSDP their shards (the root unit keeps its weights gathered after a
        forward: they are put back first, so these are the DTensors the optimizer and the EMA hold)."""
        if self.model.sharded:
            for module in self.model.modules():
                if isinstance(module, FSDPModule):
                    module.reshard()
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for _, p in self.trainable_parameters()]
        return torch.optim.AdamW(params, lr=self.cfg.train.lr, weight_decay=self.cfg.train.weight_decay)

    # -- the method ----------------------------------------------------------------------------------------------
    def flow_matching_loss(
        self, batch: dict[str, Any], generator: torch.Generator, mask_dropout: float | None = None
    ) -> torch.Tensor:
        """MSE between the predicted velocity and eps - x0 at x_t = (1 - t) x0 + t eps, with condition dropout: the
        text and each spatial condition independently (`mask_dropout` overrides train.mask_dropout, the probability
        of each; the same generator draws the same t, noise and text drops)."""
        cached = "latent" in batch  # `mdit cache-embeddings` latents (mdit.data.cached) instead of images and masks
        x0 = batch["latent"].float() if cached else encode_image(batch["image"], self.autoencoder)
        n = x0.shape[0]
        kinds = self.model.conditions
        p_condition = self.cfg.train.mask_dropout if mask_dropout is None else mask_dropout
        text_drop, drops = sample_condition_dropout(
            n, self.cfg.train.text_dropout, [p_condition] * len(kinds), generator
        )
        t = sample_times(n, x0.shape[1], self.cfg.train.logit_mean, self.cfg.train.logit_std, generator).to(x0)
        eps = torch.randn(x0.shape, generator=generator).to(x0)
        x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
        captions = [EMPTY_CAPTION if drop else c for c, drop in zip(batch["caption"], text_drop.tolist())]
        loss = x0.new_zeros(())
        sharded, tokens = self.model.sharded, self.model.strategy.mask_tokens
        if keep_every_weight(drops, sharded, tokens):
            loss = loss + 0.0 * sum(p.sum() for _, p in self.trainable_parameters())
        for forward in condition_forwards(drops, sharded, tokens, self.device):  # a dropped condition has no tokens
            idx = forward.samples
            kept = [kind for kind, dropped in zip(kinds, forward.dropped) if not dropped]
            spatial = {kind: batch[kind][idx] for kind in kept} if kept and not cached else None
            latents = batch["mask_latent"][idx] if cached and kept else None  # cached latents: the mask's only
            cond = self.pipeline.prepare([captions[i] for i in idx], spatial, latents)
            v = self.model(
                x_t[idx], cond.text_tokens, cond.pooled, t[idx], cond.img_ids, cond.txt_ids, cond.guidance, cond.mask
            )
            loss = loss + forward.weight * F.mse_loss(v.float(), (eps - x0)[idx].float(), reduction="sum")
        return loss / x0.numel()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        accumulate = self.cfg.train.accumulate
        shard = self.global_rank * accumulate + batch_idx % accumulate
        loss = self.flow_matching_loss(batch, step_generator(self.cfg.seed, self.global_step, shard=shard))
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["caption"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """Loss with (t, noise, dropout) fixed per batch index, so values are comparable across steps; and the
        loss without the mask, whose excess over it is how much the model reads the mask."""
        n = len(batch["caption"])
        with self.ema_weights():  # swapped per batch: a checkpoint saved during validation keeps the trained weights
            loss = self.flow_matching_loss(batch, step_generator(self.cfg.seed, batch_idx, stream=1))
            if self.model.strategy.uses_mask:  # the same t, noise and captions with every mask dropped
                without = self.flow_matching_loss(batch, step_generator(self.cfg.seed, batch_idx, stream=1), 1.0)
                self.log("val/loss_without_mask", without, batch_size=n, logger=False)
        self.log("val/loss", loss, prog_bar=True, batch_size=n, logger=False)
        return loss

    def on_validation_end(self) -> None:
        """The validation losses to the logger at the step of this validation's sample grid and checkpoint
        (Lightning's own logging would put them one step earlier)."""
        metrics = self.trainer.callback_metrics
        if self.logger is not None and not self.trainer.sanity_checking:
            values = {k: float(metrics[k]) for k in ("val/loss", "val/loss_without_mask") if k in metrics}
            self.logger.log_metrics(values, step=self.global_step)

    # -- FSDP and the EMA ----------------------------------------------------------------------------------------
    def configure_model(self) -> None:
        """train.strategy=fsdp: shard the transformer over the data-parallel ranks (Lightning's
        ModelParallelStrategy calls this on every rank before the optimizer exists)."""
        if self.cfg.train.strategy == "fsdp" and not self.model.sharded:
            self.model.shard(self.device_mesh["data_parallel"])
            if self.ema is not None:
                self.ema.place(self._trainable())

    def on_fit_start(self) -> None:
        """The EMA where the weights are (created on the CPU, before Lightning moved the module; under FSDP
        configure_model has placed it)."""
        if self.ema is not None and not self.model.sharded:
            self.ema.place(self._trainable())

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The optimizer step, then the EMA update (before any checkpoint of this step is written)."""
        super().optimizer_step(*args, **kwargs)
        if self.ema is not None:
            self.ema.update(self._trainable(), self.global_step)

    def _trainable(self) -> dict[str, torch.nn.Parameter]:
        return dict(self.trainable_parameters())

    def ema_weights(self) -> AbstractContextManager:
        """Context manager: the EMA weights in place of the trained ones (a no-op without EMA)."""
        return self.ema.swapped_in(self._trainable) if self.ema is not None else nullcontext()

    # -- checkpoints: only what trains ---------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        keep = {n for n, _ in self.trainable_parameters()}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
        if self.ema is not None:  # whole tensors; under FSDP gathered by every rank, kept by rank 0 (the writer)
            checkpoint["ema"] = self.ema.whole(keep=self.global_rank == 0)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        expected = {n for n, _ in self.trainable_parameters()}
        # Under FSDP the strategy has already loaded the state dict into the shards and removed it (unchecked).
        missing = sorted(expected - set(checkpoint["state_dict"])) if "state_dict" in checkpoint else []
        if missing:
            raise KeyError(f"checkpoint lacks {len(missing)} trainable weights of this variant, e.g. {missing[:3]}")
        if self.ema is not None and "ema" in checkpoint:
            self.ema.place(self._trainable(), checkpoint["ema"])

    def load_trained(self, checkpoint: str | Path) -> MDiTModule:
        """This module with a checkpoint's trainable weights (and EMA), in place (`load_from_checkpoint` builds a
        new module, which would wrap an already-wrapped backbone)."""
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        self.on_load_checkpoint(state)
        self.load_state_dict(state["state_dict"], strict=False)
        return self

    # -- sampling ------------------------------------------------------------------------------------------------
    def for_sampling(self) -> MDiTModule:
        """Sampling only, for good: the EMA weights in place of the trained ones, the image adapter merged into
        the base (`MDiTTransformer.merge_image_adapter`: the denoising steps run FLUX's plain layers)."""
        if self.ema is not None:
            self.ema.copy_to(self._trainable())
            self.ema = None
        self.requires_grad_(False)
        self.model.merge_image_adapter()
        return self.eval()

    def autocast(self) -> torch.autocast:
        """Mixed precision over a half-precision base (what bf16-mixed training runs under), for sampling outside
        the Trainer; a no-op over a float32 base."""
        dtype = self.model.base.dtype
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32)

    @torch.no_grad()
    def generate(
        self,
        spatial: torch.Tensor | Mapping[str, torch.Tensor],
        captions: Sequence[str],
        steps: int = 28,
        seed: int | Sequence[int] = 0,
        conditions: str = "both",
        guidance_scale: float = 1.0,
        mask_guidance_scale: float = 1.0,
        text_guidance_scale: float = 1.0,
        mask_strength: float = 1.0,
    ) -> torch.Tensor:
        """`Pipeline.generate` under the EMA weights (the static path's too) and mixed precision over a bf16 base:
        images in [-1, 1] [B, 3, H, W] for label maps (a mask model) or {kind: raw batch}; `seed` one for the batch
        or one per sample."""
        with self.ema_weights(), self.autocast():
            return self.pipeline.generate(
                spatial,
                captions,
                steps,
                seed,
                conditions,
                guidance_scale,
                mask_guidance_scale=mask_guidance_scale,
                text_guidance_scale=text_guidance_scale,
                mask_strength=mask_strength,
            )
