"""The backbone: transformer, text encoder and autoencoder from one FLUX-layout folder.

Real FLUX.1 and the embedded backbone load through the same `load_backbone(folder)`: the
embedded one is a folder written by `mdit pretrain-base` with `transformer/`, `text_encoder/`,
`tokenizer/` and `autoencoder.json` (a weightless pixel-space autoencoder) instead of `vae/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import FluxTransformer2DModel
from omegaconf import DictConfig

from mdit import atomic
from mdit.conditioning import (
    Autoencoder,
    EmbeddedTextConditioner,
    FluxAutoencoder,
    FluxTextConditioner,
    PixelSpaceAutoencoder,
    TextConditioner,
    build_autoencoder,
)
from mdit.conditioning.local import FLUX_HINT, require_model_folder, resolve_dtype
from mdit.conditioning.text_flux import FLUX_MAX_T5_LENGTH
from mdit.data.synthfaces.captions import caption_vocabulary
from mdit.embeddings.text import CachedTextConditioner
from mdit.paths import embedded_backbone_dir, embeddings_dir

EMBEDDED_AUTOENCODER = "autoencoder.json"


@dataclass
class Backbone:
    """What a variant is built on: the pretrained transformer and its frozen conditioners."""

    transformer: FluxTransformer2DModel
    text: TextConditioner
    autoencoder: Autoencoder


def load_backbone(
    folder: str | Path,
    dtype: torch.dtype | str = torch.float32,
    text_max_length: int | None = None,
    text: TextConditioner | None = None,
) -> Backbone:
    """Load a FLUX.1 checkout (vae/, text_encoder_2/) or an embedded backbone folder, local files only.

    `text_max_length`: text tokens per caption (None = the encoder's own: FLUX.1's T5 512). `text`: a
    conditioner to use instead of the folder's text encoders (the cached embeddings of `mdit cache-embeddings`).
    """
    folder = Path(folder)
    require_model_folder(folder / "transformer", f"the transformer/ folder of {FLUX_HINT} or of `mdit pretrain-base`")
    text, autoencoder = load_conditioners(folder, dtype, text_max_length, text)
    transformer = FluxTransformer2DModel.from_pretrained(
        folder, subfolder="transformer", torch_dtype=resolve_dtype(dtype), local_files_only=True
    )
    return Backbone(transformer, text, autoencoder)


def backbone_folder(cfg: DictConfig) -> Path:
    """The backbone folder of a config: model.pretrained, else the embedded one (`mdit pretrain-base` builds it)."""
    return Path(cfg.model.pretrained).expanduser() if cfg.model.pretrained else embedded_backbone_dir(cfg)


def backbone_of(cfg: DictConfig) -> Backbone:
    """The backbone of a config, loaded, never built: its folder, weights dtype and text length; with
    data.embeddings the cached text embeddings stand in for the text encoders, which are then never loaded."""
    text = CachedTextConditioner(embeddings_dir(cfg)) if cfg.data.embeddings else None
    return load_backbone(backbone_folder(cfg), cfg.model.dtype, cfg.model.text_max_length or None, text)


def load_conditioners(
    folder: str | Path,
    dtype: torch.dtype | str = torch.float32,
    text_max_length: int | None = None,
    text: TextConditioner | None = None,
) -> tuple[TextConditioner, Autoencoder]:
    """The text conditioner (unless given) and the autoencoder of a backbone folder, without its transformer."""
    folder = Path(folder)
    dtype = resolve_dtype(dtype)
    if text is None and (folder / "text_encoder_2").is_dir():
        length = text_max_length or FLUX_MAX_T5_LENGTH
        text = FluxTextConditioner.from_pretrained(folder, torch_dtype=dtype, max_length=length)
    elif text is None:
        text = EmbeddedTextConditioner.from_pretrained(folder, torch_dtype=dtype, max_length=text_max_length)
    if (folder / "vae").is_dir():
        autoencoder: Autoencoder = FluxAutoencoder.from_pretrained(folder, torch_dtype=dtype)
    elif (folder / EMBEDDED_AUTOENCODER).is_file():
        autoencoder = build_autoencoder(**json.loads((folder / EMBEDDED_AUTOENCODER).read_text()))
    else:
        raise FileNotFoundError(f"{folder} has neither vae/ ({FLUX_HINT}) nor {EMBEDDED_AUTOENCODER} (embedded)")
    return text, autoencoder


def embedded_transformer_kwargs(cfg: DictConfig) -> dict:
    """FluxTransformer2DModel arguments of the tiny backbone (cfg = the `backbone` section)."""
    head_dim = cfg.hidden // cfg.heads
    # FLUX splits 128 as (16, 56, 56): a small first axis, equal even row/column axes.
    space_axis = (head_dim - max(2, head_dim // 8)) // 4 * 2
    time_axis = head_dim - 2 * space_axis
    return dict(
        in_channels=4 * PixelSpaceAutoencoder(cfg.autoencoder_factor).latent_channels,
        num_layers=cfg.double_blocks,
        num_single_layers=cfg.single_blocks,
        attention_head_dim=head_dim,
        num_attention_heads=cfg.heads,
        joint_attention_dim=cfg.text_dim,
        pooled_projection_dim=cfg.text_dim,
        axes_dims_rope=(time_axis, space_axis, space_axis),
    )


def new_embedded_backbone(cfg: DictConfig, seed: int) -> Backbone:
    """A randomly initialised tiny FLUX-shaped backbone for `mdit pretrain-base` (cfg = the `backbone` section)."""
    text = EmbeddedTextConditioner.build(
        caption_vocabulary(),
        d_model=cfg.text_dim,
        num_layers=cfg.text_layers,
        num_heads=max(1, cfg.text_dim // 16),
        max_length=cfg.text_max_length,
        seed=seed,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = FluxTransformer2DModel(**embedded_transformer_kwargs(cfg))
    return Backbone(transformer, text, PixelSpaceAutoencoder(cfg.autoencoder_factor))


def save_backbone(backbone: Backbone, folder: str | Path) -> Path:
    """Write a backbone folder that `load_backbone` reads (atomically: a half-written folder never appears)."""
    if not isinstance(backbone.autoencoder, PixelSpaceAutoencoder) or not isinstance(
        backbone.text, EmbeddedTextConditioner
    ):
        raise TypeError("save_backbone writes embedded backbones; a FLUX.1 checkout is already a folder")
    with atomic.folder(folder) as tmp:
        backbone.transformer.save_pretrained(tmp / "transformer")
        backbone.text.save_pretrained(tmp)
        spec = {"kind": "pixel", "factor": backbone.autoencoder.downsample}
        (tmp / EMBEDDED_AUTOENCODER).write_text(json.dumps(spec) + "\n")
    return Path(folder)
