"""`mdit judges train`: fit the embedded judges on SynthFaces renders once and cache them with their held-out scores."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader

from mdit import atomic
from mdit.data.synthfaces.dataset import SynthFacesDataset, render_cache_within
from mdit.judges.clip import WEIGHTS_FILE, ClipJudge, load_clip_judge, new_local_clip, tiny_clip_config
from mdit.judges.embedded_parser import EmbeddedParser
from mdit.paths import judges_dir, render_cache_dir
from mdit.progress import Progress

JUDGE_HELDOUT_START = 3_000_000  # renders no training, validation or test split uses
PARSER_FILE, PARSER_CARD = "parser.safetensors", "parser.json"
CLIP_DIR, CLIP_CARD = "clip", "clip_card.json"


def training_faces(cfg: DictConfig, flip_p: float = 0.0) -> SynthFacesDataset:
    """The training split's faces with random captions, through the render cache the runs use (the same bytes)."""
    d = cfg.data
    cache = render_cache_within(render_cache_dir(cfg), d.train_size, d.resolution, d.render_cache_gib)
    return SynthFacesDataset(0, d.train_size, d.resolution, "random", flip_p, cache)


def _degrade(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Noise and blur of random strength: generated images are never as clean as renders."""
    sigma = 0.15 * torch.rand(images.shape[0], 1, 1, 1, generator=generator)
    noisy = images + sigma * torch.randn(images.shape, generator=generator)
    blurred = F.avg_pool2d(F.pad(noisy, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    blur = (torch.rand(images.shape[0], 1, 1, 1, generator=generator) < 0.5).float()
    return (blur * blurred + (1 - blur) * noisy).clamp(-1, 1)


def _optimise(
    parameters: Iterable[torch.nn.Parameter],
    lr: float,
    steps: int,
    loader: DataLoader,
    loss_of: Callable[[dict], torch.Tensor],
    label: str,
    weight_decay: float = 0.01,
) -> None:
    """AdamW with a one-cycle schedule for `steps` batches, cycling through the loader's epochs; progress as `label`.

    The first epoch also renders the training faces (into the render cache): its steps are the slower ones.
    """
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    with Progress(steps, label) as progress:
        for _, batch in zip(range(steps), itertools.chain.from_iterable(itertools.repeat(loader))):
            loss = loss_of(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            progress.update(note=f"loss {loss.item():.4f}")


@torch.no_grad()
def parser_accuracy(parser: EmbeddedParser, resolution: int, count: int, batch_size: int = 64) -> float:
    """Percent of pixels labelled correctly on `count` held-out clean renders."""
    data = SynthFacesDataset(JUDGE_HELDOUT_START, JUDGE_HELDOUT_START + count, resolution, "fixed")
    correct = total = 0
    for batch in DataLoader(data, batch_size=batch_size):
        correct += int((parser.parse(batch["image"]) == batch["mask"]).sum())
        total += batch["mask"].numel()
    return 100.0 * correct / total


def train_parser(cfg: DictConfig) -> tuple[EmbeddedParser, float]:
    """Cross-entropy on degraded training renders; returns the parser (eval mode) and its held-out accuracy."""
    j = cfg.judges
    torch.manual_seed(cfg.judges.seed)
    generator = torch.Generator().manual_seed(cfg.judges.seed)
    parser = EmbeddedParser(j.parser_width)
    data = training_faces(cfg, flip_p=0.5)
    loader = DataLoader(data, batch_size=j.batch_size, shuffle=True, generator=generator, drop_last=True)
    _optimise(
        parser.parameters(),
        j.parser_lr,
        j.parser_steps,
        loader,
        lambda batch: F.cross_entropy(parser(_degrade(batch["image"], generator)), batch["mask"]),
        "judges/parser",
    )
    parser.eval()
    return parser, parser_accuracy(parser, cfg.data.resolution, j.heldout_size)


def save_parser(parser: EmbeddedParser, accuracy: float, folder: Path) -> None:
    atomic.write_with(folder / PARSER_FILE, lambda tmp: save_file(parser.state_dict(), str(tmp)))
    atomic.write_json(folder / PARSER_CARD, {"width": parser.width, "heldout_pixel_accuracy": accuracy})


def load_parser(folder: str | Path) -> tuple[EmbeddedParser, dict]:
    """The cached parser (eval mode) and its card (width, held-out accuracy); a missing file names itself."""
    folder = Path(folder)
    for name in (PARSER_FILE, PARSER_CARD):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} not found: run `mdit judges train -c CONFIG` first")
    card = json.loads((folder / PARSER_CARD).read_text())
    parser = EmbeddedParser(card["width"])
    parser.load_state_dict(load_file(str(folder / PARSER_FILE)))
    return parser.eval(), card


@torch.no_grad()
def clip_retrieval_top1(judge: ClipJudge, resolution: int, count: int, batch_size: int = 64) -> float:
    """Percent of held-out renders whose own caption is the most similar of the `count` captions."""
    data = SynthFacesDataset(JUDGE_HELDOUT_START, JUDGE_HELDOUT_START + count, resolution, "fixed")
    images, texts = [], []
    for batch in DataLoader(data, batch_size=batch_size):
        images.append(judge.encode_images(batch["image"]))
        texts.append(judge.encode_texts(list(batch["caption"])))
    similarity = torch.cat(images) @ torch.cat(texts).T
    return 100.0 * float((similarity.argmax(1) == torch.arange(len(similarity))).float().mean())


def train_clip(cfg: DictConfig, folder: Path) -> tuple[ClipJudge, float]:
    """Contrastive training (open_clip's ClipLoss) on training renders and their random captions."""
    j = cfg.judges
    torch.manual_seed(cfg.judges.seed)
    generator = torch.Generator().manual_seed(cfg.judges.seed)
    judge = new_local_clip(folder, tiny_clip_config(cfg.data.resolution, j.clip_width))
    model = judge.model.train()
    loss_fn = open_clip.ClipLoss()
    data = training_faces(cfg)
    loader = DataLoader(data, batch_size=j.clip_batch_size, shuffle=True, generator=generator, drop_last=True)
    _optimise(
        model.parameters(),
        j.clip_lr,
        j.clip_steps,
        loader,
        lambda batch: loss_fn(
            judge.encode_images(batch["image"]), judge.encode_texts(list(batch["caption"])), model.logit_scale.exp()
        ),
        "judges/clip",
        weight_decay=0.1,
    )
    model.eval()
    return judge, clip_retrieval_top1(judge, cfg.data.resolution, j.heldout_size)


def ensure_judges(cfg: DictConfig) -> Path:
    """Train and cache the embedded judges for this config unless they are cached already."""
    folder = judges_dir(cfg)
    # The cards are written last: a build killed before its card is redone, never left half-cached.
    if not (folder / PARSER_CARD).is_file():
        parser, accuracy = train_parser(cfg)
        save_parser(parser, accuracy, folder)
    if not (folder / CLIP_CARD).is_file():
        judge, top1 = train_clip(cfg, folder / CLIP_DIR)
        weights = folder / CLIP_DIR / WEIGHTS_FILE
        atomic.write_with(weights, lambda tmp: save_file(judge.model.state_dict(), str(tmp)))
        atomic.write_json(folder / CLIP_CARD, {"heldout_retrieval_top1": top1, "heldout_size": cfg.judges.heldout_size})
    return folder


def load_embedded_clip(folder: str | Path) -> tuple[ClipJudge, dict]:
    """The cached CLIP judge and its card (held-out image->caption retrieval top-1)."""
    folder = Path(folder)
    if not (folder / CLIP_CARD).is_file():
        raise FileNotFoundError(f"{folder / CLIP_CARD} not found: run `mdit judges train -c CONFIG` first")
    return load_clip_judge(folder / CLIP_DIR), json.loads((folder / CLIP_CARD).read_text())
