"""What `mdit cache-conditions` derives for a real data set that does not ship sketches or keypoints, and where.

Under ``<data cache>/conditions-<resolution>px/`` (condition_sources.derived_conditions_dir), one file per face,
made from the face's image as the loader fits it (the square at data.resolution):

- ``sketch/<key>.png``: Canny edges (mdit.conditioning.edges.edge_map, the sketch judge's extractor), stored as the
  release's sketches are, black lines on white;
- ``keypoints/<key>.json``: a landmark model (the command passes facexlib's, mdit.judges.facexlib_landmarks, from a
  local weights file), ``{"keypoints": [[x, y, visible], ...], "size": [R, R]}``.

Each file is written atomically, and a face whose file exists is skipped, so a killed run resumes losing nothing.
A kind the data set ships (MM-CelebA-HQ's sketch/, a folder's sketches/ or keypoints/) is not derived.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from mdit import atomic
from mdit.conditioning.edges import edge_map
from mdit.devices import eval_device
from mdit.paths import data_cache_dir
from mdit.progress import Progress

from .checks import listing
from .condition_sources import DERIVED_SUFFIXES, FILE_KINDS, derived_conditions_dir
from .face_files import FaceFilesDataset
from .registry import build_splits

Landmarks = Callable[[torch.Tensor], torch.Tensor]  # images [B, 3, H, W] in [-1, 1] -> keypoints [B, 20, 3]
Face = tuple[FaceFilesDataset, int]  # a dataset and an index in it


def derived_file(folder: str | Path, kind: str, key: str) -> Path:
    """Face ``key``'s file of ``kind`` in a derived folder."""
    return Path(folder) / kind / f"{key}{DERIVED_SUFFIXES[kind][0]}"


def write_sketch(path: str | Path, lines: np.ndarray) -> Path:
    """A boolean line map [H, W] as an 8-bit PNG, black (0) lines on white (255), written atomically."""
    if lines.ndim != 2 or lines.dtype != np.bool_:
        raise ValueError(f"expected a boolean line map [H, W], got {lines.dtype} {tuple(lines.shape)}")
    image = Image.fromarray(np.where(lines, 0, 255).astype(np.uint8), mode="L")
    return atomic.write_with(path, lambda tmp: image.save(tmp, format="PNG"))


def write_keypoints(path: str | Path, keypoints: np.ndarray, size: tuple[int, int]) -> Path:
    """Keypoints [20, 3] of an image of ``size`` (H, W) as JSON ``{"keypoints": rows, "size": [W, H]}``, atomically;
    invisible rows are written as (0, 0, 0)."""
    points = np.asarray(keypoints, dtype=np.float64).copy()
    points[points[:, 2] == 0] = 0.0
    rows = [[round(float(x), 4), round(float(y), 4), int(v)] for x, y, v in points]
    return atomic.write_text(path, json.dumps({"keypoints": rows, "size": [int(size[1]), int(size[0])]}) + "\n")


def faces_of(splits: Sequence[FaceFilesDataset]) -> list[Face]:
    """Every face of ``splits`` once (by face key), in split order."""
    seen: set[str] = set()
    faces = []
    for split in splits:
        for index in range(len(split)):
            key = split.face_key(split.sample_id(index))
            if key not in seen:
                seen.add(key)
                faces.append((split, index))
    return faces


def key_of(face: Face) -> str:
    """The face key (file name without extension) of a (dataset, index) face."""
    dataset, index = face
    return dataset.face_key(dataset.sample_id(index))


def missing(faces: Sequence[Face], folder: str | Path, kind: str) -> list[Face]:
    """The faces whose derived ``kind`` file is not there yet (one listing of its folder)."""
    names = listing(Path(folder) / kind)
    return [face for face in faces if derived_file(folder, kind, key_of(face)).name not in names]


def derive_sketches(faces: Sequence[Face], folder: str | Path, done: Callable[[int], None] = lambda n: None) -> int:
    """Write the edge-map sketch of every face in ``faces`` (``done(1)`` after each); returns how many."""
    for face in faces:
        dataset, index = face
        image, _ = dataset.load(index)
        write_sketch(derived_file(folder, "sketch", key_of(face)), edge_map(image))
        done(1)
    return len(faces)


def batches(faces: Sequence[Face], size: int) -> Iterator[list[Face]]:
    """``faces`` in consecutive lists of ``size`` (the last may be shorter)."""
    for start in range(0, len(faces), size):
        yield list(faces[start : start + size])


def derive_keypoints(
    faces: Sequence[Face],
    folder: str | Path,
    landmarks: Landmarks,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    done: Callable[[int], None] = lambda n: None,
) -> int:
    """Write the landmarks that ``landmarks`` finds on every face of ``faces``, ``batch_size`` at a time; returns
    how many."""
    for batch in batches(faces, batch_size):
        images = np.stack([dataset.load(index)[0] for dataset, index in batch])
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0).to(device)
        keypoints = landmarks(pixels).detach().cpu().numpy()
        for face, points in zip(batch, keypoints, strict=True):
            write_keypoints(derived_file(folder, "keypoints", key_of(face)), points, images.shape[1:3])
        done(len(batch))
    return len(faces)


# ---------------------------------------------------------------------------------------------------- the command


def derived_dir(cfg: DictConfig) -> Path:
    """The derived-conditions folder of a config: ``<data cache>/conditions-<data.resolution>px``."""
    return derived_conditions_dir(data_cache_dir(cfg), cfg.data.resolution)


def splits_to_derive(cfg: DictConfig) -> list[FaceFilesDataset]:
    """The config's train, val and test datasets, built as if the model read the mask only (so a build does not
    stop on the very conditions this is to derive)."""
    plain = OmegaConf.merge(cfg, {"model": {"conditions": ["mask"]}})
    OmegaConf.set_readonly(plain, True)
    splits = list(build_splits(plain))
    odd = [type(split).__name__ for split in splits if not isinstance(split, FaceFilesDataset)]
    if odd:
        raise ValueError(f"data.name={cfg.data.name}: cannot derive conditions for {', '.join(odd)}")
    return splits


def no_weights_note(weights_file: str) -> str:
    """What to give for keypoints: the landmark model's weights file, from a local folder."""
    return (
        f"keypoints not derived: no landmark weights. Put facexlib's {weights_file} (its awing_fan alignment model, "
        "WFLW) in a local folder and pass judges.landmarks=<that file or folder> (or --landmarks FILE)"
    )


LoadLandmarks = Callable[[str, torch.device], Landmarks]  # (weights file, device) -> the landmark model


def cache_conditions(
    cfg: DictConfig,
    load_landmarks: LoadLandmarks,
    weights_file: str,
    landmarks_file: str | None = None,
    kinds: Sequence[str] = FILE_KINDS,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Derive what the configured real data set lacks of ``kinds`` into ``derived_dir(cfg)``, keypoints with
    ``load_landmarks(landmarks_file, device)`` (``weights_file``: the file it needs, for the note without one);
    returns a report: per kind its source ("published", "derived" or "none") and, derived, how many faces were
    written now; "lacking": what model.conditions needs and this could not derive."""
    if cfg.data.name == "synthfaces":
        return {"data": "synthfaces", "note": "SynthFaces renders its own sketches and keypoints: nothing to derive"}
    folder = derived_dir(cfg)
    splits = splits_to_derive(cfg)
    faces = faces_of(splits)
    published = splits[0].published_conditions()
    landmarks, device = None, eval_device(cfg)
    if "keypoints" in kinds and "keypoints" not in published and landmarks_file:
        landmarks = load_landmarks(landmarks_file, device)  # before any work: a missing file stops here
    report: dict[str, Any] = {"data": cfg.data.name, "folder": str(folder), "faces": len(faces)}
    for kind in kinds:
        if kind in published:
            report[kind] = {"source": "published", "folder": str(splits[0].published_source(kind).folder)}
            continue
        if kind == "keypoints" and landmarks is None:
            report[kind] = {"source": "none", "note": no_weights_note(weights_file)}
            continue
        todo = missing(faces, folder, kind)
        with Progress(len(faces), f"cache-conditions/{kind}", unit="face", done=len(faces) - len(todo)) as progress:
            if kind == "sketch":
                written = derive_sketches(todo, folder, progress.update)
            else:
                written = derive_keypoints(todo, folder, landmarks, batch_size, device, progress.update)
        report[kind] = {"source": "derived", "folder": str(folder / kind), "written": written}
    report["lacking"] = [kind for kind in cfg.model.conditions if kind in kinds and report[kind]["source"] == "none"]
    return report
