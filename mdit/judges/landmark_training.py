"""The embedded landmark judge's training: SynthFaces renders and their keypoints, cached with its held-out NME.

It has its own folder (mdit.paths.landmarks_dir), so the parser and CLIP judges' folder, and every cache of them,
is the one it was. Like theirs, its card is written last: a build killed before the card is redone.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader

from mdit import atomic
from mdit.data.synthfaces.dataset import SynthFacesDataset
from mdit.judges.landmarks import LandmarkRegressor, levels_for
from mdit.judges.training import JUDGE_HELDOUT_START, _degrade, _optimise, training_faces
from mdit.metrics.keypoint_error import KeypointNME
from mdit.paths import landmarks_dir

LANDMARKS_FILE, LANDMARKS_CARD = "landmarks.safetensors", "landmarks.json"
VISIBILITY_WEIGHT = 0.1  # of the visibility head's cross-entropy beside the position loss


def _keypoints(batch: dict) -> torch.Tensor:
    if "keypoints" not in batch:
        raise ValueError("the landmark judge trains on samples with 'keypoints' [20, 3]; these samples hold none")
    return batch["keypoints"].float()


def landmark_loss(regressor: LandmarkRegressor, images: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """L1 of the soft-argmax positions of the visible landmarks, in image widths, plus the visibility's BCE."""
    logits, visibility = regressor(images)
    visible = keypoints[..., 2]
    error = (regressor.positions(logits) - keypoints[..., :2]).abs().sum(-1) / images.shape[-1]  # [B, K]
    position = (error * visible).sum() / visible.sum().clamp(min=1)
    return position + VISIBILITY_WEIGHT * F.binary_cross_entropy_with_logits(visibility, visible)


@torch.no_grad()
def landmark_heldout(regressor: LandmarkRegressor, resolution: int, count: int, batch_size: int = 64) -> dict:
    """NME (%) on `count` held-out clean renders (and how many were skipped: no visible pair of eye centres)."""
    data = SynthFacesDataset(JUDGE_HELDOUT_START, JUDGE_HELDOUT_START + count, resolution, "fixed")
    metric = KeypointNME(regressor.locate)
    for batch in DataLoader(data, batch_size=batch_size):
        metric.update(batch["image"], _keypoints(batch))
    return {"heldout_nme": float(metric.compute()), "heldout_size": count, "heldout_skipped": metric.skipped()}


def train_landmark_judge(cfg: DictConfig) -> tuple[LandmarkRegressor, dict]:
    """The regressor (eval mode) fitted on degraded, half-mirrored training renders, and its held-out scores."""
    j = cfg.judges
    torch.manual_seed(j.seed)
    generator = torch.Generator().manual_seed(j.seed)
    regressor = LandmarkRegressor(j.landmark_width, levels_for(cfg.data.resolution))
    data = training_faces(cfg, flip_p=0.5)
    loader = DataLoader(data, batch_size=j.batch_size, shuffle=True, generator=generator, drop_last=True)
    _optimise(
        regressor.parameters(),
        j.landmark_lr,
        j.landmark_steps,
        loader,
        lambda batch: landmark_loss(regressor, _degrade(batch["image"], generator), _keypoints(batch)),
        "judges/landmarks",
    )
    regressor.eval()
    return regressor, landmark_heldout(regressor, cfg.data.resolution, j.heldout_size)


def save_landmark_judge(regressor: LandmarkRegressor, scores: dict, folder: Path) -> None:
    atomic.write_with(folder / LANDMARKS_FILE, lambda tmp: save_file(regressor.state_dict(), str(tmp)))
    atomic.write_json(folder / LANDMARKS_CARD, {"width": regressor.width, "levels": regressor.levels, **scores})


def load_landmark_judge(folder: str | Path) -> tuple[LandmarkRegressor, dict]:
    """The cached regressor (eval mode) and its card (width, levels, held-out NME); a missing file names itself."""
    folder = Path(folder)
    for name in (LANDMARKS_FILE, LANDMARKS_CARD):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} not found: run `mdit judges train -c CONFIG` first")
    card = json.loads((folder / LANDMARKS_CARD).read_text())
    regressor = LandmarkRegressor(card["width"], card["levels"])
    regressor.load_state_dict(load_file(str(folder / LANDMARKS_FILE)))
    return regressor.eval(), card


def ensure_landmark_judge(cfg: DictConfig) -> Path:
    """Train and cache the embedded landmark judge for this config unless it is cached already; its folder."""
    folder = landmarks_dir(cfg)
    if not (folder / LANDMARKS_CARD).is_file():
        regressor, scores = train_landmark_judge(cfg)
        save_landmark_judge(regressor, scores, folder)
    return folder
