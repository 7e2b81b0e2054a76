"""Experiment configs: a structured OmegaConf schema, YAML files, dotlist overrides in struct mode.

`load_config("experiments/synthfaces.yaml", ["model.attention=holistic", "seed=1"])` is what
`mdit` and a W&B sweep's `${args_no_hyphens}` both produce. Unknown keys and out-of-range
values are errors that say what is valid.

Each field declares its valid range or choices beside it (`at_least(1, default=...)`, `one_of(...)`); a section's
rules across fields are its `check` method. `validate` walks the schema: every field's rule, then every section's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from mdit.conditions import DEFAULT_CONDITIONS, UnknownConditionError, check_conditions
from mdit.variants import IMAGE_STREAM_TARGETS, MASK_READERS, STATIC_MODULATIONS, WEIGHT_DTYPES, get_strategy

FINETUNE_MODES = ("lora", "full")
DATASETS = ("synthfaces", "celebamask_hq", "folder")  # data.name (mdit.data.registry builds each)
SPLITS = ("mm_celeba", "celeba")  # data.split of celebamask_hq
ON_CORRUPT = ("skip", "error")
SPLIT_SOURCES = ("auto", "pickles", "ranges")  # data.split_source (mdit.data.mm_celeba.mm_celeba_ids)
ON_MISSING = ("skip", "error")  # data.on_missing (mdit.data.checks)
TRAIN_STRATEGIES = ("auto", "ddp", "fsdp")  # train.strategy, by Lightning's name
WANDB_MODES = ("offline", "online", "disabled")
EVAL_MODES = ("both", "text", "mask")  # the conditions of a generation (mdit.training.CONDITIONS)
# eval.set: the test split, or SynthFaces' mask-caption pairs that disagree / agree on one shape attribute
EVAL_SETS = ("test", "conflict", "agree")


class ConfigError(ValueError):
    """A config that cannot be run: unknown key, wrong type or out-of-range value."""


# ----------------------------------------------------------------------------------------------------------------
# Field rules: declared beside each field as dataclass metadata, checked by validate()
# ----------------------------------------------------------------------------------------------------------------

RULE = "mdit.rule"  # the metadata key of a field's Range or Choice


@dataclass(frozen=True)
class Range:
    """An interval of valid numbers (optionally a multiple of a step), and how a value outside it is reported."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    multiple_of: int | None = None
    note: str = ""  # why, in parentheses after the bound: "must be >= 0 (0: every caption)"
    message: str = ""  # the section's own wording instead, formatted with key, value and the section's fields

    def contains(self, value: float) -> bool:
        """Written positively, so NaN is outside every range."""
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and (self.multiple_of is None or value % self.multiple_of == 0)

    def error(self, key: str, value: object, section: Mapping[str, Any]) -> str:
        """'<key> must be <bound> (<note>), got <value>', or the section's own message."""
        if self.message:
            return self.message.format_map({**section, "key": key, "value": value})
        if self.multiple_of is not None:
            bound = f"a multiple of {self.multiple_of} in [{self.low}, {self.high}]"
        elif self.high == math.inf:
            bound = f"{'>' if self.low_open else '>='} {self.low}"
        else:
            bound = f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
        note = f" ({self.note})" if self.note else ""
        return f"{key} must be {bound}{note}, got {value}"


@dataclass(frozen=True)
class Choice:
    """The valid strings of a field; a value may carry `prefix` (model.dtype's "torch.")."""

    valid: tuple[str, ...]
    prefix: str = ""

    def contains(self, value: object) -> bool:
        """The value, less its optional prefix, is one of the valid strings."""
        return str(value).removeprefix(self.prefix) in self.valid

    def error(self, key: str, value: object, section: Mapping[str, Any]) -> str:
        """'<key>=<value>; valid: a, b, c'."""
        return f"{key}={value!r}; valid: {', '.join(self.valid)}"


def at_least(low: int, *, default: int, note: str = "", message: str = "") -> Any:
    """A count or size of at least `low`; `note` says why in the error."""
    return _ruled(default, Range(low, note=note, message=message))


def non_negative(default: float, note: str = "") -> Any:
    """A value >= 0 (inf passes, NaN fails): a seed, a worker count, a clip norm."""
    return _ruled(default, Range(0, note=note))


def positive(default: float, message: str = "") -> Any:
    """A rate or scale in (0, inf): 0, inf and NaN all fail."""
    return _ruled(default, Range(0, math.inf, low_open=True, high_open=True, message=message))


def within(
    low: float,
    high: float,
    *,
    default: float,
    multiple_of: int | None = None,
    high_open: bool = False,
    message: str = "",
) -> Any:
    """A value in [low, high] (or [low, high)), optionally a multiple of `multiple_of`."""
    rule = Range(low, high, high_open=high_open, multiple_of=multiple_of, message=message)
    return _ruled(default, rule)


def one_of(valid: Iterable[str], *, default: str, prefix: str = "") -> Any:
    """A string among `valid` (a dict's keys when a dict), optionally with `prefix`."""
    return _ruled(default, Choice(tuple(valid), prefix))


def _ruled(default: object, rule: Range | Choice) -> Any:
    """A dataclass field with its rule in the metadata, where validate() finds it."""
    return field(default=default, metadata={RULE: rule})


# ----------------------------------------------------------------------------------------------------------------
# The schema: one dataclass per section; `check(section, cfg)` holds the section's rules across fields
# ----------------------------------------------------------------------------------------------------------------

LORA_RANGES = (
    "model.lora: rank must be >= 1, alpha > 0, dropout in [0, 1); got rank {rank}, alpha {alpha}, dropout {dropout}"
)


@dataclass
class LoraConfig:
    rank: int = at_least(1, default=8, message=LORA_RANGES)
    alpha: float = positive(8.0, message=LORA_RANGES)
    dropout: float = within(0.0, 1.0, default=0.0, high_open=True, message=LORA_RANGES)
    targets: list[str] = field(default_factory=lambda: list(IMAGE_STREAM_TARGETS))
    image_stream: bool = True  # the image tokens get their own adapter too; False = the mask's tokens only

    @staticmethod
    def check(lora: DictConfig, cfg: DictConfig) -> None:
        """Every target is a regular expression (over the transformer's module names)."""
        for target in lora.targets:
            try:
                re.compile(target)
            except re.error as err:
                raise ConfigError(f"model.lora.targets: {target!r} is not a regular expression ({err})") from None


@dataclass
class ModelConfig:
    attention: str = "improved_decoupled"  # none | concat | holistic | hard_decoupled | improved_decoupled
    pretrained: str | None = None  # a FLUX-layout folder; None = the embedded backbone (built once if missing)
    # lora: adapters + new weights train, base frozen | full: every transformer weight trains
    finetune: str = one_of(FINETUNE_MODES, default="lora")
    # reference_t | pooled_text (timestep-free modulation of static streams)
    static_modulation: str = one_of(STATIC_MODULATIONS, default="reference_t")
    reference_t: float = within(0.0, 1.0, default=0.0)
    guidance: float = 1.0  # guidance-embedding input, for backbones that have one (FLUX.1-dev); ignored otherwise
    # the frozen backbone's weights (bfloat16 for FLUX.1); trainable weights are float32
    dtype: str = one_of(WEIGHT_DTYPES, default="float32", prefix="torch.")
    # text tokens per caption; 0 = the backbone's own (FLUX.1: T5's 512)
    text_max_length: int = non_negative(0, note="0 = the backbone's own")
    # s: one mask token per s x s group of image tokens, at the group's centre (mask-token variants; 1 = the paper's)
    mask_token_stride: int = at_least(1, default=1)
    # who attends to the mask's keys: image_text (the paper's) | image (the text's queries skip them)
    mask_readers: str = one_of(MASK_READERS, default="image_text")
    # the spatial conditions the model reads (mdit.conditions): [mask] (the paper's), or several, e.g. [mask, sketch];
    # each is its own token stream (its own embedder and adapter) with the image's positions, dropped independently
    conditions: list[str] = field(default_factory=lambda: list(DEFAULT_CONDITIONS))
    lora: LoraConfig = field(default_factory=LoraConfig)

    @staticmethod
    def check(model: DictConfig, cfg: DictConfig) -> None:
        """A known attention strategy, an adapter where its mask enters, and weights the precision can meet."""
        try:
            strategy = get_strategy(model.attention)
        except ValueError as err:
            raise ConfigError(f"model.attention: {err}") from None
        try:
            check_conditions(model.conditions)
        except UnknownConditionError as err:
            raise ConfigError(f"model.conditions: {err}") from None
        compact = model.mask_token_stride != 1 or model.mask_readers != "image_text"
        if compact and not strategy.mask_tokens:
            raise ConfigError(
                f"model.mask_token_stride={model.mask_token_stride} and model.mask_readers={model.mask_readers} "
                f"shape the mask's tokens; model.attention={strategy.name} has none (keep 1 and image_text)"
            )
        if model.pretrained is None:  # the embedded backbone's token grid is known here (a FLUX folder's at load)
            side = cfg.data.resolution // (2 * cfg.backbone.autoencoder_factor)
            if side % model.mask_token_stride:
                valid = ", ".join(str(s) for s in range(1, side + 1) if side % s == 0)
                raise ConfigError(
                    f"model.mask_token_stride={model.mask_token_stride} does not divide the {side}x{side} image-token "
                    f"grid of data.resolution={cfg.data.resolution}; valid: {valid}"
                )
        if model.finetune == "lora" and strategy.mask_channels and not model.lora.image_stream:
            raise ConfigError(
                f"model.lora.image_stream=false leaves {strategy.name} without an adapter (its mask enters "
                "through the image tokens' channels): keep it true, or use model.finetune=full"
            )
        if model.dtype != "float32" and cfg.train.precision.startswith("32"):
            raise ConfigError(
                f"model.dtype={model.dtype} needs mixed precision (train.precision=auto or "
                "bf16-mixed): float32 inputs cannot meet half-precision weights"
            )


FACTOR_OR_BLOCKS = "backbone.autoencoder_factor must be >= 1 and the backbone needs at least one block"


@dataclass
class BackboneConfig:
    """The embedded backbone: a tiny FluxTransformer2DModel pretrained text-to-image by `mdit pretrain-base`."""

    hidden: int = at_least(1, default=128)
    heads: int = at_least(1, default=4)
    double_blocks: int = non_negative(2)
    single_blocks: int = non_negative(4)
    text_dim: int = at_least(1, default=64)
    text_layers: int = at_least(1, default=2)
    text_max_length: int = at_least(1, default=64)
    autoencoder_factor: int = at_least(1, default=2, message=FACTOR_OR_BLOCKS)
    max_steps: int = at_least(1, default=6000)
    lr: float = positive(5e-4)
    ema_decay: float = within(0.0, 0.99999, default=0.999)
    seed: int = non_negative(0)  # the backbone's own seed: runs of every seed fine-tune the same backbone

    @staticmethod
    def check(backbone: DictConfig, cfg: DictConfig) -> None:
        """At least one block, heads whose width the RoPE axes split, and tokens the output projection can span."""
        if backbone.double_blocks + backbone.single_blocks < 1:
            raise ConfigError(FACTOR_OR_BLOCKS)
        if backbone.hidden % backbone.heads or (backbone.hidden // backbone.heads) % 4:
            raise ConfigError("backbone.hidden / backbone.heads must be a multiple of 4 (the RoPE axes split the head)")
        token_features = 12 * backbone.autoencoder_factor**2  # 3 colours x factor^2 pixels x 2x2 packing
        if backbone.hidden < token_features:
            raise ConfigError(
                f"backbone.hidden={backbone.hidden} is below the {token_features} features of a token: "
                "the output projection could not remove the noise outside its rank"
            )


@dataclass
class DataConfig:
    # synthfaces | celebamask_hq | folder (images/, masks/, captions/: MM-FFHQ style)
    name: str = one_of(DATASETS, default="synthfaces")
    root: str | None = None  # celebamask_hq: the CelebAMask-HQ folder; folder: the dataset folder
    # celebamask_hq: the Multi-Modal-CelebA-HQ folder (text/celeba-caption/ or text/, train/ and test/ pickles), its
    # text/ folder or the caption folder itself
    captions: str | None = None
    # celebamask_hq: mm_celeba (24,000 / 6,000 ids) | celeba (CelebA's partition)
    split: str = one_of(SPLITS, default="mm_celeba")
    # mm_celeba: auto (the pickles if they hold the maintainers' ranges train 0..23999 / test 24000..29999, or hold
    # them swapped: swapped back; else an error showing both) | pickles (as published) | ranges (no pickles read)
    split_source: str = one_of(SPLIT_SOURCES, default="auto")
    # a face without image, mask or caption file (checked at build): skip (logged) | error
    on_missing: str = one_of(ON_MISSING, default="skip")
    on_corrupt: str = one_of(ON_CORRUPT, default="skip")  # an undecodable image: skip (counted in the log) | error
    # merged masks, image scan, embeddings, SynthFaces' render cache; default <cache root>/data/<name>-<digest>
    cache_dir: str | None = None
    embeddings: bool = False  # train on `mdit cache-embeddings` latents and text embeddings (no text encoders)
    # > 0: only each face's first captions (an embedding cache holds L x D per caption)
    max_captions: int = non_negative(0, note="0: every caption")
    resolution: int = within(32, 512, default=32, multiple_of=16)
    train_size: int = at_least(1, default=20_000)
    val_size: int = at_least(1, default=256)
    test_size: int = at_least(1, default=1_000)
    batch_size: int = at_least(1, default=8)
    num_workers: int = non_negative(0)
    flip_p: float = within(0.0, 1.0, default=0.0)
    # synthfaces: keep rendered faces on disk under cache_dir (rendered once, then read: the same bytes) for each
    # split whose file stays under this many GiB (32 px: 8.2 KB per face); 0 = render every time
    render_cache_gib: float = non_negative(2.0)

    @staticmethod
    def check(data: DictConfig, cfg: DictConfig) -> None:
        """The local folders a real dataset needs."""
        if data.name != "synthfaces" and not data.root:
            raise ConfigError(f"data.name={data.name} needs data.root (the dataset folder)")
        if data.embeddings and list(cfg.model.conditions) != ["mask"]:
            raise ConfigError(
                f"data.embeddings=true caches the mask's latents only; model.conditions={list(cfg.model.conditions)} "
                "needs data.embeddings=false"
            )
        if data.name == "celebamask_hq" and not data.captions:
            raise ConfigError(
                "data.name=celebamask_hq needs data.captions (the Multi-Modal-CelebA-HQ folder with text/)"
            )


@dataclass
class TrainConfig:
    max_steps: int = at_least(1, default=1200)
    lr: float = positive(3e-3)
    weight_decay: float = non_negative(0.0)
    grad_clip: float = non_negative(1.0)
    text_dropout: float = within(0.0, 1.0, default=0.1)  # each sample's caption is replaced by "" with this probability
    # each sample's mask is dropped with this probability, independently
    mask_dropout: float = within(0.0, 1.0, default=0.1)
    logit_mean: float = 0.0  # t = shift(sigmoid(N(logit_mean, logit_std))), FLUX's resolution shift
    logit_std: float = positive(1.0)
    # 0 = off; else EMA of the trainable weights, used for samples and saved
    ema_decay: float = within(0.0, 0.99999, default=0.0)
    gradient_checkpointing: bool = False
    precision: str = "auto"  # auto = bf16-mixed on GPU, 32-true on CPU; or any Lightning precision string
    accelerator: str = "auto"
    devices: int = at_least(1, default=1)  # per node
    num_nodes: int = at_least(1, default=1)
    # auto (one device) | ddp (devices x num_nodes ranks; torchrun and SLURM are detected) | fsdp (as ddp, with the
    # transformer sharded over the ranks: PyTorch FSDP2 through Lightning's ModelParallelStrategy)
    strategy: str = one_of(TRAIN_STRATEGIES, default="auto")
    # gradient accumulation: a step sees batch_size x devices x num_nodes x accumulate samples
    accumulate: int = at_least(1, default=1)
    val_every: int = at_least(1, default=400)
    checkpoint_every: int = at_least(1, default=400)
    # keep each checkpoint_every checkpoint (checkpoints/step=NNNNNN.ckpt) beside last.ckpt: what `mdit eval
    # --checkpoints all` scores for learning curves; off = last.ckpt only (a full FLUX.1 fine-tune's are large)
    keep_checkpoints: bool = False
    log_every: int = at_least(1, default=10)
    sample_count: int = non_negative(8)  # samples in the validation grid
    sample_steps: int = at_least(1, default=20)
    threads: int = non_negative(0)  # torch CPU threads; 0 = torch's default


@dataclass
class EvalConfig:
    """`mdit eval` (test samples generated and scored), and the cost measurements at the end of `mdit train`."""

    steps: int = at_least(1, default=28)  # Euler steps per generated image (FLUX.1-dev's default)
    cost: bool = True  # FLOPs and latency callbacks write into metrics.json
    # also measure FLOPs and latency at each validation (logged as cost/* at that step)
    cost_at_validation: bool = False
    latency_repeats: int = at_least(1, default=3)  # timed generations after one warm-up, median reported
    # conditions given to the model: both | text | mask (the paper's unimodal tables)
    mode: str = one_of(EVAL_MODES, default="both")
    # what is generated: test (the test split) | conflict / agree (SynthFaces pairs whose mask and caption disagree /
    # agree on one shape attribute, mdit.data.synthfaces.conflict; in mode both)
    set: str = one_of(EVAL_SETS, default="test")
    # the first `count` test samples (at most data.test_size)
    count: int = at_least(2, default=256, note="a Fréchet distance needs two samples")
    batch_size: int = at_least(1, default=16)  # samples per generation batch; the images do not depend on it
    seed: int = non_negative(0)  # sample i starts from the noise of seed (seed, i)
    guidance_scale: float = positive(1.0)  # classifier-free guidance over dropped conditions; 1 = off
    # two-condition guidance (docs/MODEL.md): v(∅,∅) + s_m (v(m,∅) - v(∅,∅)) + s_t (v(m,t) - v(m,∅)); 1 and 1 = off;
    # not together with guidance_scale (which is s_m = s_t in two forwards instead of three)
    mask_guidance_scale: float = positive(1.0)
    text_guidance_scale: float = positive(1.0)
    # γ: each mask key's attention weight times γ for the image and text queries (mask-token variants); 1 = off
    mask_strength: float = positive(1.0)
    device: str = "auto"  # auto = cuda when available, else cpu; or any torch device string

    @staticmethod
    def check(e: DictConfig, cfg: DictConfig) -> None:
        """One kind of guidance at a time, and a mask strength only where the mask has tokens."""
        if e.guidance_scale != 1.0 and (e.mask_guidance_scale != 1.0 or e.text_guidance_scale != 1.0):
            raise ConfigError(
                f"eval.guidance_scale={e.guidance_scale} with eval.mask_guidance_scale={e.mask_guidance_scale} / "
                f"eval.text_guidance_scale={e.text_guidance_scale}: choose one kind of guidance (the other at 1.0); "
                "guidance_scale=s is the two scales at s_m = s_t = s"
            )
        if e.set != "test" and (e.mode != "both" or cfg.data.name != "synthfaces"):
            raise ConfigError(
                f"eval.set={e.set} pits the mask against the caption: it needs eval.mode=both and SynthFaces "
                f"(data.name=synthfaces), got eval.mode={e.mode}, data.name={cfg.data.name}"
            )
        if e.mask_strength != 1.0 and not get_strategy(cfg.model.attention).mask_tokens:
            raise ConfigError(
                f"eval.mask_strength={e.mask_strength} weights the mask's tokens; model.attention="
                f"{cfg.model.attention} has none (1.0 = off)"
            )


@dataclass
class JudgesConfig:
    """The judges of `mdit eval`: the embedded ones (trained on SynthFaces renders and cached), or local files.

    A path given here is a judge the user asked for: a missing file is an error. TOPIQ is optional: without
    its file the value is n/a. The local paths are not part of the embedded judges' cache key; `seed` is.
    """

    # the embedded judges' training seed: every run, whatever its own seed, meets the same judges
    seed: int = non_negative(0)
    parser: str | None = None  # BiSeNet weights folder (facexlib layout); None = the embedded parser
    clip: str | None = None  # open_clip weights file or local folder; None = the embedded CLIP judge
    clip_model: str = "ViT-B-32-quickgelu"  # open_clip model name of a `clip` weights file (OpenAI: -quickgelu)
    topiq_home: str | None = None  # TORCH_HOME-style folder holding hub/pyiqa/<TOPIQ weights>; None = TOPIQ n/a
    inception: str | None = None  # FID Inception weights file; None = Fréchet distance on the embedded parser

    parser_width: int = at_least(1, default=32)  # channels of the parser U-Net's first level
    parser_steps: int = at_least(1, default=1500)
    parser_lr: float = positive(3e-3)
    batch_size: int = at_least(1, default=32)
    clip_width: int = at_least(1, default=64)  # width of the tiny open_clip judge's towers (and its embedding size)
    clip_steps: int = at_least(1, default=1500)
    clip_lr: float = positive(1e-3)
    clip_batch_size: int = at_least(1, default=64)
    heldout_size: int = at_least(1, default=512)  # held-out renders for the judges' own scores
    # facexlib landmark weights file (alignment model); None = the embedded landmark regressor (keypoints' NME)
    landmarks: str | None = None
    landmark_width: int = at_least(1, default=32)  # channels of the embedded landmark regressor's first level
    landmark_steps: int = at_least(1, default=1500)
    landmark_lr: float = positive(3e-3)


@dataclass
class WandbConfig:
    mode: str = one_of(WANDB_MODES, default="offline")  # offline | online | disabled
    project: str = "mditface"
    entity: str | None = None


@dataclass
class ExperimentConfig:
    seed: int = non_negative(0)  # numpy's SeedSequence takes no negative seed
    name: str | None = None  # run name; default "<attention>-s<seed>"
    group: str = "default"  # runs/<group>/<name>/
    tags: list[str] = field(default_factory=list)
    output_dir: str = "runs"
    cache_dir: str | None = None  # embedded backbone cache; default $MDIT_CACHE or ~/.cache/mdit
    model: ModelConfig = field(default_factory=ModelConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    judges: JudgesConfig = field(default_factory=JudgesConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)


def load_config(path: str | Path | Sequence[str | Path] | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """Schema defaults <- YAML file(s), in order <- `key=value` overrides; validated, read-only struct config.

    Several files are layers (e.g. the base config, then a profile such as experiments/profiles/smoke.yaml).
    """
    cfg = OmegaConf.structured(ExperimentConfig)
    OmegaConf.set_struct(cfg, True)
    paths = [] if path is None else [path] if isinstance(path, (str, Path)) else list(path)
    layers = [_load_yaml(Path(item)) for item in paths]
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
    try:
        layers.append(OmegaConf.from_dotlist(list(overrides)))
    except (yaml.YAMLError, OmegaConfBaseException) as err:
        raise ConfigError(f"overrides {list(overrides)} cannot be parsed: {_first_line(err)}") from None
    for layer in layers:
        try:
            cfg = OmegaConf.merge(cfg, layer)
        except (ConfigKeyError, ConfigAttributeError) as err:
            raise ConfigError(_unknown_key_message(cfg, err)) from None
        except ValidationError as err:
            raise ConfigError(f"invalid value for {err.full_key}: {_first_line(err)}") from None
        except (OmegaConfBaseException, TypeError) as err:  # e.g. a list where the schema has a section
            raise ConfigError(f"cannot apply {OmegaConf.to_container(layer)}: {_first_line(err)}") from None
    missing = _required_values(OmegaConf.to_container(cfg, resolve=False))
    if missing:
        needs = "; ".join(f"{key}=<{what}>" for key, what in missing)
        raise ConfigError(f"this config needs local paths (nothing is downloaded): {needs}")
    try:
        OmegaConf.resolve(cfg)  # interpolations (${oc.env:...}) fail here, not when a value is read later
    except OmegaConfBaseException as err:
        raise ConfigError(
            f"cannot resolve {getattr(err, 'full_key', '') or 'the config'}: {_first_line(err)}"
        ) from None
    validate(cfg)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def _load_yaml(path: Path) -> DictConfig:
    """One YAML layer: a mapping of settings, or a ConfigError that says what the file holds instead."""
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        layer = OmegaConf.load(path)
    except (yaml.YAMLError, UnicodeDecodeError, OmegaConfBaseException, OSError) as err:
        raise ConfigError(f"config file {path} is not valid YAML settings: {_first_line(err)}") from None
    if not isinstance(layer, DictConfig):
        raise ConfigError(f"config file {path} must hold a mapping of settings, not a {type(layer).__name__}")
    return layer


def _first_line(err: Exception) -> str:
    return (getattr(err, "msg", None) or str(err) or type(err).__name__).splitlines()[0]


def validate(cfg: DictConfig) -> None:
    """Every field's declared range or choices, then each section's rules across fields (which rely on the ranges)."""
    sections = list(schema_sections(ExperimentConfig))
    for schema, path in sections:
        _check_fields(schema, path, cfg)
    for schema, path in sections:
        if check := getattr(schema, "check", None):
            check(_select(cfg, path), cfg)


def schema_sections(schema: type, path: str = "") -> Iterator[tuple[type, str]]:
    """(dataclass, dotted path) of `schema` and of every section nested in it, depth first; the root's path is ""."""
    yield schema, path
    for item in fields(schema):
        if _is_section(item):
            yield from schema_sections(item.default_factory, _join(path, item.name))


def field_rules(schema: type, path: str = "") -> Iterator[tuple[str, Range | Choice]]:
    """(full key, rule) of every field that declares one, over `schema` and its nested sections."""
    for section, section_path in schema_sections(schema, path):
        for item in fields(section):
            if RULE in item.metadata:
                yield _join(section_path, item.name), item.metadata[RULE]


def _check_fields(schema: type, path: str, cfg: DictConfig) -> None:
    """The declared rule of each field of one section; the first value outside its rule is a ConfigError."""
    for item in fields(schema):
        rule = item.metadata.get(RULE)
        if rule is None:
            continue
        key = _join(path, item.name)
        value = OmegaConf.select(cfg, key)
        if not rule.contains(value):
            raise ConfigError(rule.error(key, value, _select(cfg, path)))


def _is_section(item: Field) -> bool:
    """A field holding a nested section (its default factory is a schema dataclass)."""
    return isinstance(item.default_factory, type) and is_dataclass(item.default_factory)


def _select(cfg: DictConfig, path: str) -> DictConfig:
    """The section at dotted `path`; the root's "" is the whole config."""
    return OmegaConf.select(cfg, path) if path else cfg


def _join(path: str, name: str) -> str:
    """A field's full dotted key, as the error messages name it."""
    return f"{path}.{name}" if path else name


REQUIRED = re.compile(r"^\$\{required:(.*)\}$")  # a YAML value `${required:what}`: the user must set this key


def _required_values(node: object, prefix: str = "") -> list[tuple[str, str]]:
    """(key, what) of every value still `${required:what}` after all layers and overrides."""
    if isinstance(node, dict):
        return [item for k, v in node.items() for item in _required_values(v, f"{prefix}{k}.")]
    match = REQUIRED.match(node) if isinstance(node, str) else None
    return [(prefix[:-1], match.group(1).strip())] if match else []


def _unknown_key_message(cfg: DictConfig, err: Exception) -> str:
    full_key = getattr(err, "full_key", None) or str(err)
    parent_key, _, leaf = full_key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    valid = ", ".join(sorted(parent.keys())) if isinstance(parent, DictConfig) else "(none)"
    where = f" in {parent_key}" if parent_key else ""
    return f"unknown config key {full_key!r}{where}; valid keys: {valid}"
