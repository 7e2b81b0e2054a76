"""Experiment configs: a structured OmegaConf schema, YAML files, dotlist overrides in struct mode.

`load_config("experiments/synthfaces.yaml", ["model.attention=holistic", "seed=1"])` is what
`mdit` and a W&B sweep's `${args_no_hyphens}` both produce. Unknown keys and out-of-range
values are errors that say what is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from mdit.model.adapters import IMAGE_STREAM_TARGETS, LoraSettings
from mdit.model.mdit import STATIC_MODULATIONS
from mdit.model.strategies import get_strategy


class ConfigError(ValueError):
    """A config that cannot be run: unknown key, wrong type or out-of-range value."""


@dataclass
class LoraConfig:
    rank: int = 8
    alpha: float = 8.0
    dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: list(IMAGE_STREAM_TARGETS))


@dataclass
class ModelConfig:
    attention: str = "improved_decoupled"  # none | concat | holistic | hard_decoupled | improved_decoupled
    static_modulation: str = "reference_t"  # reference_t | pooled_text (timestep-free modulation of static streams)
    reference_t: float = 0.0
    lora: LoraConfig = field(default_factory=LoraConfig)


@dataclass
class DataConfig:
    name: str = "synthfaces"
    resolution: int = 64
    train_size: int = 20_000
    val_size: int = 256
    test_size: int = 1_000
    batch_size: int = 16
    num_workers: int = 0


@dataclass
class ExperimentConfig:
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """Schema defaults <- YAML file <- `key=value` overrides; validated, read-only struct config."""
    cfg = OmegaConf.structured(ExperimentConfig)
    OmegaConf.set_struct(cfg, True)
    layers = []
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        layers.append(OmegaConf.load(path))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
    layers.append(OmegaConf.from_dotlist(list(overrides)))
    for layer in layers:
        try:
            cfg = OmegaConf.merge(cfg, layer)
        except (ConfigKeyError, ConfigAttributeError) as err:
            raise ConfigError(_unknown_key_message(cfg, err)) from None
        except ValidationError as err:
            raise ConfigError(f"invalid value for {err.full_key}: {err.msg.splitlines()[0]}") from None
    validate(cfg)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def validate(cfg: DictConfig) -> None:
    """Range checks the schema's types cannot express."""
    try:
        get_strategy(cfg.model.attention)
    except ValueError as err:
        raise ConfigError(f"model.attention: {err}") from None
    try:
        LoraSettings(cfg.model.lora.rank, cfg.model.lora.alpha, cfg.model.lora.dropout, tuple(cfg.model.lora.targets))
    except ValueError as err:
        raise ConfigError(f"model.lora: {err}") from None
    if cfg.model.static_modulation not in STATIC_MODULATIONS:
        valid = ", ".join(STATIC_MODULATIONS)
        raise ConfigError(f"model.static_modulation={cfg.model.static_modulation!r}; valid: {valid}")
    if not 0.0 <= cfg.model.reference_t <= 1.0:
        raise ConfigError(f"model.reference_t must be in [0, 1], got {cfg.model.reference_t}")
    if not 32 <= cfg.data.resolution <= 512 or cfg.data.resolution % 16:
        raise ConfigError(f"data.resolution must be a multiple of 16 in [32, 512], got {cfg.data.resolution}")
    for key in ("train_size", "val_size", "test_size", "batch_size"):
        if cfg.data[key] < 1:
            raise ConfigError(f"data.{key} must be >= 1, got {cfg.data[key]}")


def _unknown_key_message(cfg: DictConfig, err: Exception) -> str:
    full_key = getattr(err, "full_key", None) or str(err)
    parent_key, _, leaf = full_key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    valid = ", ".join(sorted(parent.keys())) if isinstance(parent, DictConfig) else "(none)"
    where = f" in {parent_key}" if parent_key else ""
    return f"unknown config key {full_key!r}{where}; valid keys: {valid}"
