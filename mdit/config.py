"""Experiment configs: a structured OmegaConf schema, YAML files, dotlist overrides in struct mode.

`load_config("experiments/synthfaces.yaml", ["model.attention=holistic", "seed=1"])` is what
`mdit` and a W&B sweep's `${args_no_hyphens}` both produce. Unknown keys and out-of-range
values are errors that say what is valid.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from mdit.variants import IMAGE_STREAM_TARGETS, STATIC_MODULATIONS, WEIGHT_DTYPES, get_strategy

FINETUNE_MODES = ("lora", "full")
DATASETS = ("synthfaces", "celebamask_hq", "folder")  # data.name (mdit.data.registry builds each)
SPLITS = ("mm_celeba", "celeba")  # data.split of celebamask_hq
ON_CORRUPT = ("skip", "error")
SPLIT_SOURCES = ("auto", "pickles", "ranges")  # data.split_source (mdit.data.mm_celeba.mm_celeba_ids)
ON_MISSING = ("skip", "error")  # data.on_missing (mdit.data.checks)
TRAIN_STRATEGIES = ("auto", "ddp", "fsdp")  # train.strategy, by Lightning's name
WANDB_MODES = ("offline", "online", "disabled")
EVAL_MODES = ("both", "text", "mask")  # the conditions of a generation (mdit.training.CONDITIONS)


class ConfigError(ValueError):
    """A config that cannot be run: unknown key, wrong type or out-of-range value."""


@dataclass
class LoraConfig:
    rank: int = 8
    alpha: float = 8.0
    dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: list(IMAGE_STREAM_TARGETS))
    image_stream: bool = True  # the image tokens get their own adapter too; False = the mask's tokens only


@dataclass
class ModelConfig:
    attention: str = "improved_decoupled"  # none | concat | holistic | hard_decoupled | improved_decoupled
    pretrained: str | None = None  # a FLUX-layout folder; None = the embedded backbone (built once if missing)
    finetune: str = "lora"  # lora: adapters + new weights train, base frozen | full: every transformer weight trains
    static_modulation: str = "reference_t"  # reference_t | pooled_text (timestep-free modulation of static streams)
    reference_t: float = 0.0
    guidance: float = 1.0  # guidance-embedding input, for backbones that have one (FLUX.1-dev); ignored otherwise
    dtype: str = "float32"  # the frozen backbone's weights (bfloat16 for FLUX.1); trainable weights are float32
    text_max_length: int = 0  # text tokens per caption; 0 = the backbone's own (FLUX.1: T5's 512)
    lora: LoraConfig = field(default_factory=LoraConfig)


@dataclass
class BackboneConfig:
    """The embedded backbone: a tiny FluxTransformer2DModel pretrained text-to-image by `mdit pretrain-base`."""

    hidden: int = 128
    heads: int = 4
    double_blocks: int = 2
    single_blocks: int = 4
    text_dim: int = 64
    text_layers: int = 2
    text_max_length: int = 64
    autoencoder_factor: int = 2
    max_steps: int = 6000
    lr: float = 5e-4
    ema_decay: float = 0.999
    seed: int = 0  # the backbone's own seed: runs of every seed fine-tune the same backbone


@dataclass
class DataConfig:
    name: str = "synthfaces"  # synthfaces | celebamask_hq | folder (images/, masks/, captions/: MM-FFHQ style)
    root: str | None = None  # celebamask_hq: the CelebAMask-HQ folder; folder: the dataset folder
    # celebamask_hq: the Multi-Modal-CelebA-HQ folder (text/celeba-caption/ or text/, train/ and test/ pickles), its
    # text/ folder or the caption folder itself
    captions: str | None = None
    split: str = "mm_celeba"  # celebamask_hq: mm_celeba (24,000 / 6,000 ids) | celeba (CelebA's partition)
    # mm_celeba: auto (the pickles if they hold the maintainers' ranges train 0..23999 / test 24000..29999, or hold
    # them swapped: swapped back; else an error showing both) | pickles (as published) | ranges (no pickles read)
    split_source: str = "auto"
    on_missing: str = "skip"  # a face without image, mask or caption file (checked at build): skip (logged) | error
    on_corrupt: str = "skip"  # an undecodable image: skip (counted in the log) | error
    # merged masks, image scan, embeddings, SynthFaces' render cache; default <cache root>/data/<name>-<digest>
    cache_dir: str | None = None
    embeddings: bool = False  # train on `mdit cache-embeddings` latents and text embeddings (no text encoders)
    max_captions: int = 0  # > 0: only each face's first captions (an embedding cache holds L x D per caption)
    resolution: int = 32
    train_size: int = 20_000
    val_size: int = 256
    test_size: int = 1_000
    batch_size: int = 8
    num_workers: int = 0
    flip_p: float = 0.0
    # synthfaces: keep rendered faces on disk under cache_dir (rendered once, then read: the same bytes) for each
    # split whose file stays under this many GiB (32 px: 8.2 KB per face); 0 = render every time
    render_cache_gib: float = 2.0


@dataclass
class TrainConfig:
    max_steps: int = 1200
    lr: float = 3e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    text_dropout: float = 0.1  # each sample's caption is replaced by "" with this probability
    mask_dropout: float = 0.1  # each sample's mask is dropped with this probability, independently
    logit_mean: float = 0.0  # t = shift(sigmoid(N(logit_mean, logit_std))), FLUX's resolution shift
    logit_std: float = 1.0
    ema_decay: float = 0.0  # 0 = off; else EMA of the trainable weights, used for samples and saved
    gradient_checkpointing: bool = False
    precision: str = "auto"  # auto = bf16-mixed on GPU, 32-true on CPU; or any Lightning precision string
    accelerator: str = "auto"
    devices: int = 1  # per node
    num_nodes: int = 1
    # auto (one device) | ddp (devices x num_nodes ranks; torchrun and SLURM are detected) | fsdp (as ddp, with the
    # transformer sharded over the ranks: PyTorch FSDP2 through Lightning's ModelParallelStrategy)
    strategy: str = "auto"
    accumulate: int = 1  # gradient accumulation: a step sees batch_size x devices x num_nodes x accumulate samples
    val_every: int = 400
    checkpoint_every: int = 400
    log_every: int = 10
    sample_count: int = 8  # samples in the validation grid
    sample_steps: int = 20
    threads: int = 0  # torch CPU threads; 0 = torch's default


@dataclass
class EvalConfig:
    """`mdit eval` (test samples generated and scored), and the cost measurements at the end of `mdit train`."""

    steps: int = 28  # Euler steps per generated image (FLUX.1-dev's default)
    cost: bool = True  # FLOPs and latency callbacks write into metrics.json
    latency_repeats: int = 3  # timed generations after one warm-up, median reported
    mode: str = "both"  # conditions given to the model: both | text | mask (the paper's unimodal tables)
    count: int = 256  # the first `count` test samples (at most data.test_size)
    batch_size: int = 16  # samples per generation batch; the images do not depend on it
    seed: int = 0  # sample i starts from the noise of seed (seed, i)
    guidance_scale: float = 1.0  # classifier-free guidance over dropped conditions; 1 = off
    device: str = "auto"  # auto = cuda when available, else cpu; or any torch device string


@dataclass
class JudgesConfig:
    """The judges of `mdit eval`: the embedded ones (trained on SynthFaces renders and cached), or local files.

    A path given here is a judge the user asked for: a missing file is an error. TOPIQ is optional: without
    its file the value is n/a. The local paths are not part of the embedded judges' cache key; `seed` is.
    """

    seed: int = 0  # the embedded judges' training seed: every run, whatever its own seed, meets the same judges
    parser: str | None = None  # BiSeNet weights folder (facexlib layout); None = the embedded parser
    clip: str | None = None  # open_clip weights file or local folder; None = the embedded CLIP judge
    clip_model: str = "ViT-B-32-quickgelu"  # open_clip model name of a `clip` weights file (OpenAI: -quickgelu)
    topiq_home: str | None = None  # TORCH_HOME-style folder holding hub/pyiqa/<TOPIQ weights>; None = TOPIQ n/a
    inception: str | None = None  # FID Inception weights file; None = Fréchet distance on the embedded parser

    parser_width: int = 32  # channels of the parser U-Net's first level
    parser_steps: int = 1500
    parser_lr: float = 3e-3
    batch_size: int = 32
    clip_width: int = 64  # width of the tiny open_clip judge's towers (and its embedding size)
    clip_steps: int = 1500
    clip_lr: float = 1e-3
    clip_batch_size: int = 64
    heldout_size: int = 512  # held-out renders for the judges' own scores


@dataclass
class WandbConfig:
    mode: str = "offline"  # offline | online | disabled
    project: str = "mditface"
    entity: str | None = None


@dataclass
class ExperimentConfig:
    seed: int = 0
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
    """Range checks the schema's types cannot express."""
    try:
        get_strategy(cfg.model.attention)
    except ValueError as err:
        raise ConfigError(f"model.attention: {err}") from None
    lora = cfg.model.lora
    if lora.rank < 1 or not 0 < lora.alpha < math.inf or not 0.0 <= lora.dropout < 1.0:  # NaN fails too
        raise ConfigError(
            f"model.lora: rank must be >= 1, alpha > 0, dropout in [0, 1); got rank {lora.rank}, "
            f"alpha {lora.alpha}, dropout {lora.dropout}"
        )
    _one_of(cfg, "model.static_modulation", STATIC_MODULATIONS)
    _one_of(cfg, "model.finetune", FINETUNE_MODES)
    strategy = get_strategy(cfg.model.attention)
    if cfg.model.finetune == "lora" and strategy.mask_channels and not cfg.model.lora.image_stream:
        raise ConfigError(
            f"model.lora.image_stream=false leaves {strategy.name} without an adapter (its mask enters "
            "through the image tokens' channels): keep it true, or use model.finetune=full"
        )
    _one_of(cfg, "wandb.mode", WANDB_MODES)
    _one_of(cfg, "eval.mode", EVAL_MODES)
    _one_of(cfg, "data.name", DATASETS)
    _one_of(cfg, "data.split", SPLITS)
    _one_of(cfg, "data.split_source", SPLIT_SOURCES)
    _one_of(cfg, "data.on_missing", ON_MISSING)
    _one_of(cfg, "data.on_corrupt", ON_CORRUPT)
    _one_of(cfg, "train.strategy", TRAIN_STRATEGIES)
    if str(cfg.model.dtype).removeprefix("torch.") not in WEIGHT_DTYPES:
        raise ConfigError(f"model.dtype={cfg.model.dtype!r}; valid: {', '.join(WEIGHT_DTYPES)}")
    if cfg.model.dtype != "float32" and cfg.train.precision.startswith("32"):
        raise ConfigError(
            f"model.dtype={cfg.model.dtype} needs mixed precision (train.precision=auto or "
            "bf16-mixed): float32 inputs cannot meet half-precision weights"
        )
    if cfg.data.name != "synthfaces" and not cfg.data.root:
        raise ConfigError(f"data.name={cfg.data.name} needs data.root (the dataset folder)")
    if cfg.data.name == "celebamask_hq" and not cfg.data.captions:
        raise ConfigError("data.name=celebamask_hq needs data.captions (the Multi-Modal-CelebA-HQ folder with text/)")
    if cfg.data.max_captions < 0:
        raise ConfigError(f"data.max_captions must be >= 0 (0: every caption), got {cfg.data.max_captions}")
    if cfg.model.text_max_length < 0:
        raise ConfigError(
            f"model.text_max_length must be >= 0 (0 = the backbone's own), got {cfg.model.text_max_length}"
        )
    for key in ("model.reference_t", "train.text_dropout", "train.mask_dropout", "data.flip_p"):
        _in_range(cfg, key, 0.0, 1.0)
    _in_range(cfg, "train.ema_decay", 0.0, 0.99999)
    if not 32 <= cfg.data.resolution <= 512 or cfg.data.resolution % 16:
        raise ConfigError(f"data.resolution must be a multiple of 16 in [32, 512], got {cfg.data.resolution}")
    for key in (
        "data.train_size",
        "data.val_size",
        "data.test_size",
        "data.batch_size",
        "train.max_steps",
        "train.val_every",
        "train.checkpoint_every",
        "train.log_every",
        "train.sample_steps",
        "train.devices",
        "train.num_nodes",
        "train.accumulate",
        "eval.steps",
        "eval.latency_repeats",
        "eval.batch_size",
        "judges.parser_width",
        "judges.parser_steps",
        "judges.batch_size",
        "judges.heldout_size",
        "judges.clip_steps",
        "judges.clip_batch_size",
        "backbone.max_steps",
        "backbone.hidden",
        "backbone.heads",
        "backbone.text_dim",
    ):
        if OmegaConf.select(cfg, key) < 1:
            raise ConfigError(f"{key} must be >= 1, got {OmegaConf.select(cfg, key)}")
    for key in ("train.lr", "backbone.lr", "train.logit_std", "eval.guidance_scale"):
        if not 0 < OmegaConf.select(cfg, key) < math.inf:  # NaN fails too
            raise ConfigError(f"{key} must be > 0, got {OmegaConf.select(cfg, key)}")
    for key in (
        "eval.seed",
        "judges.seed",
        "data.num_workers",
        "data.render_cache_gib",
        "train.threads",
        "train.grad_clip",
        "train.weight_decay",
        "backbone.double_blocks",
        "backbone.single_blocks",
    ):
        if not OmegaConf.select(cfg, key) >= 0:  # NaN fails too
            raise ConfigError(f"{key} must be >= 0, got {OmegaConf.select(cfg, key)}")
    if cfg.backbone.autoencoder_factor < 1 or cfg.backbone.double_blocks + cfg.backbone.single_blocks < 1:
        raise ConfigError("backbone.autoencoder_factor must be >= 1 and the backbone needs at least one block")
    for target in cfg.model.lora.targets:
        try:
            re.compile(target)
        except re.error as err:
            raise ConfigError(f"model.lora.targets: {target!r} is not a regular expression ({err})") from None
    if cfg.eval.count < 2:
        raise ConfigError(f"eval.count must be >= 2 (a Fréchet distance needs two samples), got {cfg.eval.count}")
    if cfg.backbone.hidden % cfg.backbone.heads or (cfg.backbone.hidden // cfg.backbone.heads) % 4:
        raise ConfigError("backbone.hidden / backbone.heads must be a multiple of 4 (the RoPE axes split the head)")
    token_features = 12 * cfg.backbone.autoencoder_factor**2  # 3 colours x factor^2 pixels x 2x2 packing
    if cfg.backbone.hidden < token_features:
        raise ConfigError(
            f"backbone.hidden={cfg.backbone.hidden} is below the {token_features} features of a token: "
            "the output projection could not remove the noise outside its rank"
        )


REQUIRED = re.compile(r"^\$\{required:(.*)\}$")  # a YAML value `${required:what}`: the user must set this key


def _required_values(node: object, prefix: str = "") -> list[tuple[str, str]]:
    """(key, what) of every value still `${required:what}` after all layers and overrides."""
    if isinstance(node, dict):
        return [item for k, v in node.items() for item in _required_values(v, f"{prefix}{k}.")]
    match = REQUIRED.match(node) if isinstance(node, str) else None
    return [(prefix[:-1], match.group(1).strip())] if match else []


def _one_of(cfg: DictConfig, key: str, valid: Sequence[str]) -> None:
    value = OmegaConf.select(cfg, key)
    if value not in valid:
        raise ConfigError(f"{key}={value!r}; valid: {', '.join(valid)}")


def _in_range(cfg: DictConfig, key: str, low: float, high: float) -> None:
    value = OmegaConf.select(cfg, key)
    if not low <= value <= high:
        raise ConfigError(f"{key} must be in [{low}, {high}], got {value}")


def _unknown_key_message(cfg: DictConfig, err: Exception) -> str:
    full_key = getattr(err, "full_key", None) or str(err)
    parent_key, _, leaf = full_key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    valid = ", ".join(sorted(parent.keys())) if isinstance(parent, DictConfig) else "(none)"
    where = f" in {parent_key}" if parent_key else ""
    return f"unknown config key {full_key!r}{where}; valid keys: {valid}"
