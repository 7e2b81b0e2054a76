"""`mdit judges train`: fit the embedded judges on SynthFaces renders once and cache them with their held-out scores."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader

from mdit import atomic
from mdit.backbone import cache_root
from mdit.data import SynthFacesDataset
from mdit.judges.embedded_parser import EmbeddedParser

JUDGE_HELDOUT_START = 3_000_000  # renders no training, validation or test split uses
PARSER_FILE, PARSER_CARD = "parser.safetensors", "parser.json"


def judges_dir(cfg: DictConfig) -> Path:
    """The cache folder of this config's embedded judges (keyed by resolution, recipe and seed)."""
    recipe = {"resolution": cfg.data.resolution, "judges": dict(cfg.judges), "seed": cfg.seed}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
    return cache_root(cfg) / f"judges-{cfg.data.resolution}px-{digest}"


def _degrade(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Noise and blur of random strength: generated images are never as clean as renders."""
    sigma = 0.15 * torch.rand(images.shape[0], 1, 1, 1, generator=generator)
    noisy = images + sigma * torch.randn(images.shape, generator=generator)
    blurred = F.avg_pool2d(F.pad(noisy, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    blur = (torch.rand(images.shape[0], 1, 1, 1, generator=generator) < 0.5).float()
    return (blur * blurred + (1 - blur) * noisy).clamp(-1, 1)


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
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    parser = EmbeddedParser(j.parser_width)
    optimizer = torch.optim.AdamW(parser.parameters(), lr=j.parser_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=j.parser_lr, total_steps=j.parser_steps)
    data = SynthFacesDataset(0, cfg.data.train_size, cfg.data.resolution, "random", flip_p=0.5)
    loader = DataLoader(data, batch_size=j.batch_size, shuffle=True, generator=generator, drop_last=True)
    step = 0
    while step < j.parser_steps:
        for batch in loader:
            loss = F.cross_entropy(parser(_degrade(batch["image"], generator)), batch["mask"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step == j.parser_steps:
                break
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


def ensure_judges(cfg: DictConfig) -> Path:
    """Train and cache the embedded judges for this config unless they are cached already."""
    folder = judges_dir(cfg)
    if not (folder / PARSER_FILE).is_file():
        parser, accuracy = train_parser(cfg)
        save_parser(parser, accuracy, folder)
    return folder
