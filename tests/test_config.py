"""Configs: YAML + dotlist overrides in struct mode; unknown keys and bad values are clear errors."""

from pathlib import Path

import pytest
from omegaconf.errors import ReadonlyConfigError

from mdit.config import ConfigError, load_config

EMBEDDED = Path(__file__).resolve().parents[1] / "experiments" / "synthfaces.yaml"


def test_yaml_and_overrides_merge_in_order():
    cfg = load_config(EMBEDDED, ["model.attention=holistic", "seed=3", "model.lora.rank=4", "data.resolution=48"])
    assert (cfg.model.attention, cfg.seed, cfg.model.lora.rank, cfg.data.resolution) == ("holistic", 3, 4, 48)
    with pytest.raises(ReadonlyConfigError):
        cfg.seed = 5


@pytest.mark.parametrize(
    "override, names",
    [
        ("model.atention=holistic", ["model.atention", "attention", "lora", "static_modulation"]),
        ("foo=1", ["foo", "data", "model", "seed"]),
        ("data.resolutin=64", ["data.resolutin", "resolution", "batch_size"]),
    ],
)
def test_unknown_key_names_the_valid_ones(override, names):
    with pytest.raises(ConfigError) as err:
        load_config(EMBEDDED, [override])
    for name in names:
        assert name in str(err.value)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("model.attention=decoupled", "improved_decoupled"),
        ("model.lora.rank=0", "rank must be >= 1"),
        ("model.lora.rank=1.5", "model.lora.rank"),
        ("model.reference_t=1.5", "reference_t"),
        ("model.static_modulation=zero", "pooled_text"),
        ("data.resolution=40", "multiple of 16"),
        ("data.resolution=1024", "[32, 512]"),
        ("data.batch_size=0", "batch_size"),
        ("seed", "key=value"),
        ("model.finetune=half", "lora, full"),
        ("wandb.mode=cloud", "offline, online, disabled"),
        ("train.mask_dropout=1.5", "train.mask_dropout"),
        ("train.lr=0", "train.lr"),
        ("backbone.autoencoder_factor=4", "noise outside its rank"),
        ("backbone.autoencoder_factor=0", "autoencoder_factor must be >= 1"),
        ("data.num_workers=-1", "data.num_workers must be >= 0"),
        ("train.grad_clip=-1", "train.grad_clip must be >= 0"),
        ("train.lr=nan", "train.lr"),
        ("model.lora.targets=['(']", "not a regular expression"),
        ("data.split_source=swapped", "data.split_source='swapped'; valid: auto, pickles, ranges"),
        ("data.on_missing=ignore", "data.on_missing='ignore'; valid: skip, error"),
    ],
)
def test_out_of_range_values_are_rejected(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(EMBEDDED, [override])
    assert fragment in str(err.value)


def test_concat_lora_without_the_image_adapter_is_rejected():
    with pytest.raises(ConfigError, match="without an adapter"):
        load_config(EMBEDDED, ["model.attention=concat", "model.lora.image_stream=false"])
    load_config(EMBEDDED, ["model.attention=holistic", "model.lora.image_stream=false"])  # the mask adapter remains
    load_config(EMBEDDED, ["model.attention=concat", "model.lora.image_stream=false", "model.finetune=full"])


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_the_data_choices_are_the_loaders_own():
    """The config validates data.split_source and data.on_missing against the values the loaders accept."""
    from mdit.config import ON_MISSING, SPLIT_SOURCES
    from mdit.data import checks, mm_celeba

    assert (SPLIT_SOURCES, ON_MISSING) == (mm_celeba.SPLIT_SOURCES, checks.ON_MISSING)
    cfg = load_config(EMBEDDED)
    assert (cfg.data.split_source, cfg.data.on_missing) == ("auto", "skip")
