"""Tiny FLUX transformers and inputs for the model tests (diffusers' own tiny test config, widened a bit)."""

from __future__ import annotations

import copy

import torch
from diffusers import FluxTransformer2DModel
from torch.utils.data import DataLoader

from mdit.conditioning import EmbeddedTextConditioner, PixelSpaceAutoencoder
from mdit.data.synthfaces import SynthFacesDataset, caption_vocabulary
from mdit.model import MDiTTransformer
from mdit.sampling import Conditions

LATENT = 16  # packed latent channels (FLUX: 64)
GRID = 4  # packed latent grid side: 16 image tokens
TEXT_LEN = 6


def tiny_flux(guidance: bool, seed: int = 0) -> FluxTransformer2DModel:
    torch.manual_seed(seed)
    model = FluxTransformer2DModel(
        patch_size=1,
        in_channels=LATENT,
        num_layers=2,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=guidance,
        axes_dims_rope=(4, 4, 8),
    )
    with torch.no_grad():  # FLUX zero-inits nothing here, but make modulation gates clearly non-trivial
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model.eval()


def wrap(attention: str, guidance: bool = False, **kwargs) -> tuple[MDiTTransformer, FluxTransformer2DModel]:
    """An MDiT over a tiny backbone, and an untouched copy of that backbone for reference."""
    base = tiny_flux(guidance)
    reference = copy.deepcopy(base)
    model = MDiTTransformer(base, attention, **kwargs).eval()
    model.set_empty_caption(empty_pooled())
    return model, reference


def empty_pooled() -> torch.Tensor:
    """A stand-in for the text encoder's pooled embedding of the empty caption (fixed, unlike the inputs' pooled)."""
    return torch.randn(1, 32, generator=torch.Generator().manual_seed(7))


def inputs(guidance: bool, batch: int = 2, seed: int = 1) -> tuple[torch.Tensor, Conditions]:
    g = torch.Generator().manual_seed(seed)
    n = GRID * GRID
    rows, cols = torch.meshgrid(torch.arange(GRID), torch.arange(GRID), indexing="ij")
    img_ids = torch.stack([torch.zeros_like(rows), rows, cols], dim=-1).reshape(n, 3).float()
    cond = Conditions(
        text_tokens=torch.randn(batch, TEXT_LEN, 32, generator=g),
        pooled=torch.randn(batch, 32, generator=g),
        txt_ids=torch.zeros(TEXT_LEN, 3),
        img_ids=img_ids,
        mask=torch.randn(batch, n, LATENT, generator=g),
        guidance=torch.full((batch,), 3.5) if guidance else None,
    )
    return torch.randn(batch, n, LATENT, generator=g), cond


def randomize_lora(model: torch.nn.Module, scale: float = 0.2, seed: int = 2, adapter: str | None = None) -> None:
    """Give every LoRA matrix (of `adapter`, or of all) non-zero values (peft starts B at zero)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name and (adapter is None or f".{adapter}." in name):
                p.copy_(torch.randn_like(p) * scale)


def run(model: MDiTTransformer, x: torch.Tensor, cond: Conditions, t: float | torch.Tensor, mask=True, cache=None):
    t = torch.full((x.shape[0],), t) if isinstance(t, float) else t
    return model(
        x,
        cond.text_tokens,
        cond.pooled,
        t,
        cond.img_ids,
        cond.txt_ids,
        cond.guidance,
        cond.mask if mask else None,
        cache,
    )


def run_reference(base: FluxTransformer2DModel, x: torch.Tensor, cond: Conditions, t: float) -> torch.Tensor:
    t = torch.full((x.shape[0],), t)
    return base(
        hidden_states=x,
        encoder_hidden_states=cond.text_tokens,
        pooled_projections=cond.pooled,
        timestep=t,
        img_ids=cond.img_ids,
        txt_ids=cond.txt_ids,
        guidance=cond.guidance,
        return_dict=False,
    )[0]


def synthfaces_parts(resolution: int = 32) -> tuple[PixelSpaceAutoencoder, EmbeddedTextConditioner, dict]:
    """A pixel-space autoencoder, a tiny caption encoder and a batch of two SynthFaces samples."""
    autoencoder = PixelSpaceAutoencoder(factor=2)
    text = EmbeddedTextConditioner.build(caption_vocabulary(), d_model=32, num_layers=1, num_heads=2)
    batch = next(iter(DataLoader(SynthFacesDataset(0, 2, resolution), batch_size=2)))
    return autoencoder, text, batch
