"""The MDiT transformer: attention strategies, per-stream LoRA and the static K/V cache."""

from mdit.model.adapters import IMAGE_ADAPTER, MASK_ADAPTER, LoraSettings
from mdit.model.cache import StaticKVCache
from mdit.model.factory import build_transformer, lora_settings
from mdit.model.mdit import MDiTTransformer
from mdit.variants import STRATEGIES, AttentionStrategy, UnknownStrategyError, get_strategy

__all__ = [
    "IMAGE_ADAPTER",
    "MASK_ADAPTER",
    "STRATEGIES",
    "AttentionStrategy",
    "LoraSettings",
    "MDiTTransformer",
    "StaticKVCache",
    "UnknownStrategyError",
    "build_transformer",
    "get_strategy",
    "lora_settings",
]
