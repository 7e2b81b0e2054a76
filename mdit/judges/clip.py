"""CLIP judges through open_clip, from local files only: a tiny one trained on SynthFaces, or any real model.

The embedded judge is an ordinary open_clip model with a custom config, saved in open_clip's
`local-dir:` layout (open_clip_config.json + open_clip_model.safetensors), so it loads and scores
through exactly the same code as a real checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F

from mdit.judges.weights import MissingWeightsError

CONFIG_FILE, WEIGHTS_FILE = "open_clip_config.json", "open_clip_model.safetensors"
DEFAULT_REAL_MODEL = "ViT-B-32-quickgelu"  # OpenAI weights need the -quickgelu variant


def tiny_clip_config(resolution: int, width: int = 64, layers: int = 2) -> dict:
    """An open_clip config for SynthFaces: a ViT on 4x4 patches, a small text transformer, BPE tokens.

    Its preprocessing mean and std are 0.5, so images in [-1, 1] are already normalised.
    """
    return {
        "model_cfg": {
            "embed_dim": width,
            "vision_cfg": {
                "image_size": resolution,
                "layers": layers,
                "width": width,
                "patch_size": 4,
                "head_width": 32,
            },
            "text_cfg": {
                "context_length": 77,
                "vocab_size": 49408,
                "width": width,
                "heads": max(1, width // 32),
                "layers": layers,
            },
        },
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    }


@dataclass
class ClipJudge:
    """An open_clip model, its tokenizer and its normalisation, scoring images in [-1, 1] against captions."""

    model: torch.nn.Module
    tokenizer: object
    mean: torch.Tensor
    std: torch.Tensor
    image_size: int

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] in [-1, 1] -> unit image embeddings [B, D] (resized to the model's input size)."""
        x = (images.float() + 1) / 2
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic", antialias=True).clamp(0, 1)
        x = (x - self.mean.to(x)[:, None, None]) / self.std.to(x)[:, None, None]
        return self.model.encode_image(x, normalize=True)

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(captions).to(next(self.model.parameters()).device)
        return self.model.encode_text(tokens, normalize=True)


def _judge(model: torch.nn.Module, tokenizer: object) -> ClipJudge:
    """Wrap a model with the input size and normalisation open_clip stored on it."""
    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg["size"][0] if isinstance(cfg["size"], (tuple, list)) else cfg["size"]
    return ClipJudge(model.eval(), tokenizer, torch.tensor(cfg["mean"]), torch.tensor(cfg["std"]), int(size))


def new_local_clip(folder: Path, config: dict) -> ClipJudge:
    """A randomly initialised open_clip model from `config`, its config written to `folder` (local-dir layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return _judge(open_clip.create_model(f"local-dir:{folder}"), open_clip.get_tokenizer(f"local-dir:{folder}"))


def load_clip_judge(path: str | Path, model_name: str = DEFAULT_REAL_MODEL) -> ClipJudge:
    """A local open_clip folder (local-dir layout) or a single weights file for `model_name`; nothing downloaded."""
    path = Path(path).expanduser()
    if path.is_dir():
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if not (path / name).is_file():
                needs = f"{CONFIG_FILE} and {WEIGHTS_FILE}"
                raise MissingWeightsError(f"{path / name} not found: an open_clip local folder needs {needs}")
        return _judge(open_clip.create_model(f"local-dir:{path}"), open_clip.get_tokenizer(f"local-dir:{path}"))
    if not path.is_file():
        raise MissingWeightsError(
            f"{path} not found: give an open_clip weights file for {model_name} "
            "(e.g. open_clip_model.safetensors) or an open_clip local folder"
        )
    return _judge(open_clip.create_model(model_name, pretrained=str(path)), open_clip.get_tokenizer(model_name))
