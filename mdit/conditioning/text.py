"""The text-conditioning interface shared by the embedded and the FLUX text encoders.

Caption semantics (the same for every conditioner):
- an empty or whitespace-only caption means "text dropped" and is encoded exactly as the
  empty prompt `EMPTY_CAPTION` (FLUX's unconditional text), so text dropout = replace by "";
- a caption longer than a tokenizer's limit is truncated with a `CaptionTruncatedWarning`
  that states the limit and how many tokens were dropped;
- a caption that is not a str raises TypeError naming its index.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import BatchEncoding, PreTrainedTokenizerBase

from .frozen import Frozen
from .packing import text_ids

EMPTY_CAPTION = ""


class CaptionTruncatedWarning(UserWarning):
    """A caption had more tokens than the tokenizer's limit and was cut (filterable by category)."""


@dataclass
class TextEmbeddings:
    """What the transformer reads from a caption batch."""

    tokens: torch.Tensor  # [B, L, joint_attention_dim]: the text stream (FLUX: T5 hidden states)
    pooled: torch.Tensor  # [B, pooled_projection_dim]: the global vector (FLUX: CLIP pooled output)
    ids: torch.Tensor  # [L, 3]: RoPE ids of the text tokens, all zeros


def normalise_captions(captions: Sequence[str]) -> list[str]:
    """Validate a caption batch and map whitespace-only captions to `EMPTY_CAPTION`."""
    if isinstance(captions, str):
        raise TypeError("captions must be a sequence of str, got a single str: wrap it in a list")
    prompts = list(captions)
    if not prompts:
        raise ValueError("captions is empty: a batch needs at least one caption")
    for index, caption in enumerate(prompts):
        if not isinstance(caption, str):
            raise TypeError(f"caption at index {index} is {type(caption).__name__}, expected str")
        try:
            caption.encode("utf-8")
        except UnicodeEncodeError as err:  # e.g. a lone surrogate from undecodable bytes on a command line
            raise ValueError(
                f"caption at index {index} is not valid Unicode text ({err.reason} at position "
                f"{err.start}): pass it as UTF-8"
            ) from None
    return [caption if caption.strip() else EMPTY_CAPTION for caption in prompts]


def tokenize_padded(
    tokenizer: PreTrainedTokenizerBase, prompts: list[str], max_length: int, name: str
) -> BatchEncoding:
    """Tokenize to exactly `max_length` tokens (pad and truncate, as FLUX does), warning on truncation."""
    lengths = [len(ids) for ids in tokenizer(prompts, verbose=False).input_ids]
    dropped = {index: n - max_length for index, n in enumerate(lengths) if n > max_length}
    if dropped:
        detail = ", ".join(f"caption {index}: {count}" for index, count in dropped.items())
        warnings.warn(
            f"{name} tokenizer limit is {max_length} tokens; truncated {len(dropped)} caption(s), "
            f"tokens dropped per caption: {detail}",
            CaptionTruncatedWarning,
            stacklevel=2,
        )
    return tokenizer(prompts, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")


class TextConditioner(Frozen, ABC):
    """Frozen captions -> `TextEmbeddings` module; subclasses implement `encode`."""

    max_length: int
    joint_attention_dim: int
    pooled_projection_dim: int

    @abstractmethod
    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Validated prompts -> (tokens [B, max_length, joint_dim], pooled [B, pooled_dim])."""

    @torch.no_grad()
    def forward(self, captions: Sequence[str]) -> TextEmbeddings:
        tokens, pooled = self.encode(normalise_captions(captions))
        return TextEmbeddings(tokens, pooled, text_ids(tokens.shape[1], device=tokens.device, dtype=tokens.dtype))
