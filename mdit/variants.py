"""The vocabulary of configs, sweeps and tables: the attention strategies, the static modulations, the LoRA
targets and the weight dtypes, keyed by the labels that appear in the paper's tables.

Plain data with no torch import, so that a config is read and checked in a fraction of a second. A strategy says
how the mask enters the transformer and which tokens are static; `mdit.model.mdit.MDiTTransformer` reads its
flags. The same string is a config value, a sweep value and a table row.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnknownStrategyError(ValueError):
    """An attention strategy name that is not in the registry."""


@dataclass(frozen=True)
class AttentionStrategy:
    """How the mask condition enters the MDiT transformer."""

    name: str
    description: str
    mask_tokens: bool = False  # the mask is its own token stream M
    mask_channels: bool = False  # the mask latent is concatenated to the image latent's channels
    static_mask: bool = False  # M is timestep-free and computed once per sample (K/V cached)
    static_text: bool = False  # the static pass also carries a timestep-free text stream T_s

    @property
    def uses_mask(self) -> bool:
        return self.mask_tokens or self.mask_channels


STRATEGIES: dict[str, AttentionStrategy] = {
    s.name: s
    for s in (
        AttentionStrategy("none", "text only: base FLUX, no mask (the baseline for cost deltas)"),
        AttentionStrategy(
            "concat",
            "channel concat: mask latent appended to the image latent's channels, x_embedder widened",
            mask_channels=True,
        ),
        AttentionStrategy(
            "holistic",
            "holistic tri-stream: [T;X;M] attend jointly, M modulated by the timestep, every step",
            mask_tokens=True,
        ),
        AttentionStrategy(
            "hard_decoupled",
            "hard-decoupled: static M over M once per sample; dynamic [T;X] over [T;X;M_cached]",
            mask_tokens=True,
            static_mask=True,
        ),
        AttentionStrategy(
            "improved_decoupled",
            "improved-decoupled: static [T_s;M] over [T_s;M] once per sample; dynamic [T;X] over [T;X;M_cached]",
            mask_tokens=True,
            static_mask=True,
            static_text=True,
        ),
    )
}


def get_strategy(name: str) -> AttentionStrategy:
    """Look a strategy up by its table label; unknown names list the valid ones."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        valid = ", ".join(STRATEGIES)
        raise UnknownStrategyError(f"unknown attention strategy {name!r}; valid: {valid}") from None


# Timestep-free modulation of the static streams: name -> whether the sample's caption enters it. `reference_t`, the
# default of both decoupled variants, is caption-free, so the hard variant's static path never sees the text.
STATIC_MODULATIONS = {"reference_t": False, "reference_t_caption": True, "pooled_text": True}

# The image-side modules of FLUX's blocks (regexes over FluxTransformer2DModel's module names): where the LoRA
# adapters go, and the weights the mask stream inherits.
IMAGE_STREAM_TARGETS: tuple[str, ...] = (
    r"transformer_blocks\.\d+\.attn\.(to_q|to_k|to_v|to_out\.0)",
    r"transformer_blocks\.\d+\.ff\.net\.(0\.proj|2)",
    r"transformer_blocks\.\d+\.norm1\.linear",
    r"single_transformer_blocks\.\d+\.attn\.(to_q|to_k|to_v)",
    r"single_transformer_blocks\.\d+\.(proj_mlp|proj_out|norm\.linear)",
)

WEIGHT_DTYPES = ("float32", "bfloat16", "float16", "float64")  # model.dtype, with or without a "torch." prefix

# The shape attributes the conflict and agree sets contest (mdit.data.synthfaces.conflict), in the order of the
# pairs and of the conflict table's columns.
CONFLICT_ATTRIBUTES = ("hat", "eyeglasses", "earrings", "hair_length", "open_mouth")

# model.mask_token_stride: one mask token per s x s group of image tokens (1 = the paper's, one per image token).
MASK_TOKEN_STRIDES = (1, 2, 4)
# model.mask_readers: which dynamic queries attend to the mask's keys (the paper's: the image's and the text's).
MASK_READERS = ("image_text", "image")
