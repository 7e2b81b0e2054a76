"""Configs: YAML + dotlist overrides in struct mode; unknown keys and bad values are clear errors."""

import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ReadonlyConfigError

from mdit.config import Choice, ConfigError, ExperimentConfig, Range, field_rules, load_config

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


# ----------------------------------------------------------------------------------------------------------------
# Each field's range or choices, declared beside it in the schema, against the errors written out here
# ----------------------------------------------------------------------------------------------------------------

AT_LEAST_1 = "{key} must be >= 1, got {value}"
AT_LEAST_0 = "{key} must be >= 0, got {value}"
POSITIVE = "{key} must be > 0, got {value}"
PROBABILITY = "{key} must be in [0.0, 1.0], got {value}"
LORA = "model.lora: rank must be >= 1, alpha > 0, dropout in [0, 1); got "
RANGE_ERRORS = {
    "model.reference_t": PROBABILITY,
    "model.text_max_length": "{key} must be >= 0 (0 = the backbone's own), got {value}",
    "model.mask_token_stride": "{key} must be >= 1, got {value}",
    "model.lora.rank": LORA + "rank {value}, alpha 8.0, dropout 0.0",
    "model.lora.alpha": LORA + "rank 8, alpha {value}, dropout 0.0",
    "model.lora.dropout": LORA + "rank 8, alpha 8.0, dropout {value}",
    **dict.fromkeys(["backbone.hidden", "backbone.heads", "backbone.text_dim", "backbone.max_steps"], AT_LEAST_1),
    **dict.fromkeys(["backbone.double_blocks", "backbone.single_blocks"], AT_LEAST_0),
    "backbone.autoencoder_factor": "backbone.autoencoder_factor must be >= 1 and the backbone needs at least one block",
    "backbone.lr": POSITIVE,
    **dict.fromkeys(["backbone.text_layers", "backbone.text_max_length"], AT_LEAST_1),
    "backbone.ema_decay": "{key} must be in [0.0, 0.99999], got {value}",
    "train.sample_count": AT_LEAST_0,
    **dict.fromkeys(["judges.parser_lr", "judges.clip_lr"], POSITIVE),
    "judges.clip_width": AT_LEAST_1,
    **dict.fromkeys(["judges.landmark_width", "judges.landmark_steps"], AT_LEAST_1),
    "judges.landmark_lr": POSITIVE,
    "data.max_captions": "{key} must be >= 0 (0: every caption), got {value}",
    "data.resolution": "{key} must be a multiple of 16 in [32, 512], got {value}",
    **dict.fromkeys(["data.train_size", "data.val_size", "data.test_size", "data.batch_size"], AT_LEAST_1),
    **dict.fromkeys(["data.num_workers", "data.render_cache_gib"], AT_LEAST_0),
    "data.flip_p": PROBABILITY,
    **dict.fromkeys(["train.max_steps", "train.devices", "train.num_nodes", "train.accumulate"], AT_LEAST_1),
    **dict.fromkeys(["train.val_every", "train.checkpoint_every", "train.log_every", "train.sample_steps"], AT_LEAST_1),
    **dict.fromkeys(["train.weight_decay", "train.grad_clip", "train.threads"], AT_LEAST_0),
    **dict.fromkeys(["train.lr", "train.logit_std"], POSITIVE),
    **dict.fromkeys(["train.text_dropout", "train.mask_dropout"], PROBABILITY),
    "train.ema_decay": "{key} must be in [0.0, 0.99999], got {value}",
    **dict.fromkeys(["eval.steps", "eval.latency_repeats", "eval.batch_size"], AT_LEAST_1),
    "eval.count": "{key} must be >= 2 (a Fréchet distance needs two samples), got {value}",
    **dict.fromkeys(["seed", "backbone.seed", "eval.seed"], AT_LEAST_0),
    "eval.guidance_scale": POSITIVE,
    **dict.fromkeys(["eval.mask_guidance_scale", "eval.text_guidance_scale", "eval.mask_strength"], POSITIVE),
    "judges.seed": AT_LEAST_0,
    **dict.fromkeys(["judges.parser_width", "judges.parser_steps", "judges.batch_size"], AT_LEAST_1),
    **dict.fromkeys(["judges.clip_steps", "judges.clip_batch_size", "judges.heldout_size"], AT_LEAST_1),
}
# Numbers with no range, on purpose (any value runs): a new numeric field joins one table or the other.
UNCONSTRAINED_NUMBERS = {
    "model.guidance",
    "train.logit_mean",
}
CHOICE_ERRORS = {
    "model.finetune": "lora, full",
    "model.static_modulation": "reference_t, reference_t_caption, pooled_text",
    "model.dtype": "float32, bfloat16, float16, float64",
    "model.mask_readers": "image_text, image",
    "data.name": "synthfaces, celebamask_hq, folder",
    "data.split": "mm_celeba, celeba",
    "data.split_source": "auto, pickles, ranges",
    "data.on_missing": "skip, error",
    "data.on_corrupt": "skip, error",
    "train.strategy": "auto, ddp, fsdp",
    "eval.mode": "both, text, mask",
    "eval.set": "test, conflict, agree",
    "wandb.mode": "offline, online, disabled",
}
# Strings with no declared choices: free text, or (model.attention) checked by ModelConfig.check against the registry.
FREE_STRINGS = {
    "group",
    "output_dir",
    "model.attention",
    "train.precision",
    "train.accelerator",
    "eval.device",
    "judges.clip_model",
    "wandb.project",
}


def _leaves(node: dict, prefix: str = "") -> dict[str, object]:
    """Every leaf key of the schema's defaults, dotted, with its default."""
    flat = {}
    for key, value in node.items():
        flat.update(_leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return flat


LEAVES = _leaves(OmegaConf.to_container(OmegaConf.structured(ExperimentConfig)))
RULES = dict(field_rules(ExperimentConfig))
RANGES = {key: rule for key, rule in RULES.items() if isinstance(rule, Range)}


def _next(value: float, toward: float, is_float: bool) -> int | float:
    """The next number of the field's type after `value`, toward `toward`."""
    if is_float:
        return math.nextafter(float(value), toward)
    return value + 1 if toward > value else value - 1


def _outside(key: str, rule: Range) -> list[int | float]:
    """Values just outside the declared range: below it, above it, off its step, NaN for a float field."""
    is_float = isinstance(LEAVES[key], float)
    low = float(rule.low) if is_float else rule.low
    values = [low if rule.low_open else _next(low, -math.inf, is_float)]
    if rule.high_open:
        values.append(rule.high)  # inf for positive()
    elif rule.high != math.inf:
        values.append(_next(rule.high, math.inf, is_float))
    if rule.multiple_of:
        values.append(rule.low + 1)
    if is_float:
        values.append(math.nan)
    return values


def _inside(key: str, rule: Range) -> list[int | float]:
    """The declared range's own ends (the next number in, for an open end)."""
    is_float = isinstance(LEAVES[key], float)
    low = float(rule.low) if is_float else rule.low
    values = [math.nextafter(low, math.inf) if rule.low_open else low]
    if rule.high != math.inf and not rule.high_open:
        values.append(float(rule.high) if is_float else rule.high)
    return values


def test_every_number_declares_a_range_or_is_unconstrained_on_purpose():
    numbers = {key for key, value in LEAVES.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}
    assert set(RANGES) == set(RANGE_ERRORS)
    assert not set(RANGES) & UNCONSTRAINED_NUMBERS
    assert numbers == set(RANGES) | UNCONSTRAINED_NUMBERS
    strings = {key for key, value in LEAVES.items() if isinstance(value, str)}
    choices = {key for key, rule in RULES.items() if isinstance(rule, Choice)}
    assert choices == set(CHOICE_ERRORS) and strings == choices | FREE_STRINGS


@pytest.mark.parametrize("key", sorted(RANGE_ERRORS))
def test_a_value_just_outside_a_declared_range_names_the_key(key):
    for value in _outside(key, RANGES[key]):
        with pytest.raises(ConfigError) as err:
            load_config(None, [f"{key}={value!r}"])
        assert str(err.value) == RANGE_ERRORS[key].format(key=key, value=value)
    for value in _inside(key, RANGES[key]):  # the ends pass the range (a section rule may still object)
        try:
            load_config(None, [f"{key}={value!r}"])
        except ConfigError as err:
            assert str(err) != RANGE_ERRORS[key].format(key=key, value=value)


@pytest.mark.parametrize("key", sorted(CHOICE_ERRORS))
def test_a_value_outside_the_declared_choices_lists_them(key):
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"{key}=bogus"])
    assert str(err.value) == f"{key}='bogus'; valid: {CHOICE_ERRORS[key]}"
    for value in CHOICE_ERRORS[key].split(", "):
        cfg = load_config(None, [f"{key}={value}", "data.root=/data", "data.captions=/captions"])
        assert OmegaConf.select(cfg, key) == value


def test_model_dtype_may_carry_the_torch_prefix():
    assert load_config(None, ["model.dtype=torch.bfloat16"]).model.dtype == "torch.bfloat16"
    with pytest.raises(ConfigError, match="needs mixed precision"):
        load_config(None, ["model.dtype=bfloat16", "train.precision=32-true"])


def test_section_rules_run_after_every_range():
    """A section's rule may rely on the ranges: heads=0 is a range error, not a division by zero in the backbone's."""
    with pytest.raises(ConfigError, match="backbone.heads must be >= 1, got 0"):
        load_config(None, ["backbone.heads=0"])
    with pytest.raises(ConfigError, match="at least one block"):
        load_config(None, ["backbone.double_blocks=0", "backbone.single_blocks=0"])
    with pytest.raises(ConfigError, match="eval.count must be >= 2"):
        load_config(None, ["eval.count=1", "model.attention=nope"])
