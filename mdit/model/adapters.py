"""Per-stream LoRA through peft: adapters injected once, switched on only for one stream's tokens.

W_M = W_X + B_M A_M: the mask stream runs the image stream's pretrained modules with the
"mask" adapter active. The image stream has its own "image" adapter (W_X + B_X A_X), so its
queries can learn to read the mask; like any FLUX LoRA it also acts on the text tokens in the
single blocks, whose weights text and image share.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch.nn as nn
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer

from mdit.variants import IMAGE_STREAM_TARGETS

MASK_ADAPTER = "mask"
IMAGE_ADAPTER = "image"


@dataclass(frozen=True)
class LoraSettings:
    """Rank, alpha and target modules (regexes over the backbone's module names) of an adapter."""

    rank: int = 8
    alpha: float = 8.0
    dropout: float = 0.0
    targets: tuple[str, ...] = field(default=IMAGE_STREAM_TARGETS)
    image_stream: bool = True  # the image tokens get an adapter too; False = the mask's tokens only

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.rank}")
        if not 0 < self.alpha < math.inf:
            raise ValueError(f"LoRA alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")

    def peft_config(self) -> LoraConfig:
        pattern = "|".join(f"(?:{t})" for t in self.targets)
        return LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=pattern)


def inject_lora(module: nn.Module, settings: LoraSettings, adapter: str, exclude: Sequence[str] = ()) -> list[str]:
    """Add a LoRA adapter to the modules of `module` that match the targets, except `exclude`
    (exact module names); returns the names adapted.

    Adapters start inactive everywhere (`deactivate_all`); base weights are left as they are
    (freezing is the trainer's decision).
    """
    config = settings.peft_config()
    config.exclude_modules = list(exclude) or None
    names = [
        n
        for n, m in module.named_modules()
        if isinstance(m, (nn.Linear, LoraLayer)) and re.fullmatch(config.target_modules, n) and n not in exclude
    ]
    if not names:
        raise ValueError(f"LoRA targets {settings.targets} match no nn.Linear in {type(module).__name__}")
    requires_grad = {n: p.requires_grad for n, p in module.named_parameters()}
    with warnings.catch_warnings():  # a second adapter on the same model is intended here
        warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
        inject_adapter_in_model(config, module, adapter_name=adapter)
    for n, p in module.named_parameters():  # peft freezes the base; restore, the trainer decides
        base_name = n.replace(".base_layer", "")
        if base_name in requires_grad:
            p.requires_grad_(requires_grad[base_name])
    deactivate_all(module)
    return names


def lora_layers(module: nn.Module) -> list[LoraLayer]:
    """All peft LoRA layers inside `module` (e.g. one transformer block)."""
    return [m for m in module.modules() if isinstance(m, LoraLayer)]


def deactivate_all(module: nn.Module) -> None:
    for layer in lora_layers(module):
        layer._active_adapter = []


@contextmanager
def active_adapters(layers: Sequence[LoraLayer], adapters: Sequence[str]) -> Iterator[None]:
    """Switch `adapters` on in `layers` for the duration of one stream's computation.

    peft's `set_adapter` also flips `requires_grad`, which would cut the mask adapter out of
    the autograd graph mid-forward; only the active list is swapped here.
    """
    if not adapters or not layers:
        yield
        return
    previous = [layer._active_adapter for layer in layers]
    for layer in layers:
        layer._active_adapter = list(adapters)
    try:
        yield
    finally:
        for layer, prev in zip(layers, previous):
            layer._active_adapter = prev
