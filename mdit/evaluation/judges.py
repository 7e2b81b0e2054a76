"""The judges of `mdit eval`: local files where the config names them, else the embedded ones (trained once, cached).

Everything loads before any sample is generated, so a wrong path fails in seconds, not after the sampling.
A path the user gave is a judge they asked for: a missing file is an error naming it. TOPIQ is optional:
without its file the value is n/a, with the reason (which file goes where). The spatial conditions' judges (the
sketch's edges, the keypoints' landmark judge) score only samples that hold that condition: on a data set without
sketches or keypoints their values are n/a, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from mdit.evaluation.samples import eval_split
from mdit.judges.clip import ClipJudge, load_clip_judge
from mdit.judges.landmark_training import ensure_landmark_judge, load_landmark_judge
from mdit.judges.training import ensure_judges, load_embedded_clip, load_parser
from mdit.judges.weights import MissingWeightsError
from mdit.metrics.frechet import FrechetDistance, frechet_embedded, frechet_inception
from mdit.metrics.keypoint_error import Landmarker
from mdit.metrics.mask_accuracy import Parser
from mdit.metrics.sketch_fidelity import sketch_tolerance
from mdit.metrics.topiq import TOPIQ_WEIGHTS_FILE, TopiqScore, load_topiq

NO_SKETCHES, NO_KEYPOINTS = "data set has no sketches", "data set has no keypoints"


@dataclass
class Judges:
    """What scores the generated images, and `info`: what each judge is, for metrics.json."""

    parser: Parser
    clip: ClipJudge
    topiq: TopiqScore | None
    frechet: FrechetDistance
    info: dict[str, dict[str, Any]]
    landmarks: Landmarker | None = None  # None: the keypoint error is n/a (info["landmarks"]["reason"] says why)
    sketch_tolerance: int | None = None  # edge F1's px tolerance; None: the sketch fidelity is n/a (info["sketch"])


def _path(value: str) -> str:
    return str(Path(value).expanduser())


def load_topiq_judge(cfg: DictConfig, device: torch.device | str = "cpu") -> tuple[TopiqScore | None, dict[str, Any]]:
    """TOPIQ and its info, or None and the reason it is n/a (which file goes where): it is optional."""
    home = cfg.judges.topiq_home
    if home is None:
        where = f"put {TOPIQ_WEIGHTS_FILE} in <TORCH_HOME>/hub/pyiqa/ and pass judges.topiq_home=<TORCH_HOME>"
        return None, {"kind": "n/a", "reason": f"judges.topiq_home is not set: {where}"}
    try:
        return load_topiq(home, device), {"kind": "topiq_nr", "path": _path(home)}
    except MissingWeightsError as err:
        return None, {"kind": "n/a", "reason": str(err)}


def eval_conditions(cfg: DictConfig) -> set[str]:
    """The spatial conditions besides the mask that the samples of eval.set hold ("sketch", "keypoints")."""
    return {kind for kind in ("sketch", "keypoints") if kind in eval_split(cfg, 1)[0]}


def sketch_judge(cfg: DictConfig, conditions: set[str]) -> tuple[int | None, dict[str, Any]]:
    """Edge F1's tolerance and the sketch judge's info (Canny, mdit.conditioning.edges), or None and why it is n/a."""
    if "sketch" not in conditions:
        return None, {"kind": "n/a", "reason": NO_SKETCHES}
    tolerance = sketch_tolerance(cfg.data.resolution)
    return tolerance, {"kind": "canny", "tolerance_px": tolerance}


def load_landmark_judge_of(
    cfg: DictConfig, conditions: set[str], device: torch.device | str = "cpu"
) -> tuple[Landmarker | None, dict[str, Any]]:
    """The landmark judge of this config and its info: facexlib's from judges.landmarks (loaded, so checked, even
    where nothing has keypoints), else the embedded one (SynthFaces only; trained once, cached); None and why where
    the samples hold no keypoints or no judge knows them."""
    j = cfg.judges
    no_keypoints = None, {"kind": "n/a", "reason": NO_KEYPOINTS}
    if j.landmarks:
        from mdit.judges.facexlib_landmarks import load_facexlib_landmarks

        judge = load_facexlib_landmarks(j.landmarks, device)
        if "keypoints" not in conditions:
            return no_keypoints
        return judge, {"kind": "facexlib_awing_fan", "path": _path(j.landmarks)}
    if "keypoints" not in conditions:
        return no_keypoints
    if cfg.data.name != "synthfaces":
        return None, {
            "kind": "n/a",
            "reason": "judges.landmarks is not set: the embedded landmark judge knows SynthFaces renders only; give "
            f"facexlib's alignment_WFLW_4HG.pth (awing_fan) as judges.landmarks to score data.name={cfg.data.name}",
        }
    folder = ensure_landmark_judge(cfg)
    regressor, card = load_landmark_judge(folder)
    info = {"kind": "embedded", "path": str(folder), "heldout_size": card["heldout_size"]}
    return regressor.to(device).locate, {**info, "heldout_nme": card["heldout_nme"]}


def load_judges(cfg: DictConfig, device: torch.device | str = "cpu") -> Judges:
    """The parser, the CLIP judge, TOPIQ (or None), the Fréchet distance and the conditions' judges of this config,
    on `device`."""
    j = cfg.judges
    info: dict[str, dict[str, Any]] = {}
    parser = clip = frechet = None
    conditions = eval_conditions(cfg)
    # The local files the user asked for come first: a missing one fails before anything trains.
    if j.landmarks:
        landmarks, info["landmarks"] = load_landmark_judge_of(cfg, conditions, device)
    if j.parser:
        from mdit.judges.bisenet import load_bisenet_parser

        parser = load_bisenet_parser(j.parser, device)
        info["parser"] = {"kind": "bisenet", "path": _path(j.parser)}
    if j.clip:
        clip = load_clip_judge(j.clip, j.clip_model)
        info["clip"] = {"kind": "open_clip", "path": _path(j.clip)}
        if not Path(info["clip"]["path"]).is_dir():  # a local folder carries its own model config
            info["clip"]["model"] = j.clip_model
    if j.inception:
        frechet = frechet_inception(j.inception)
        info["frechet"] = {"kind": "inception", "path": _path(j.inception)}
    topiq, info["topiq"] = load_topiq_judge(cfg, device)
    if parser is None or clip is None or frechet is None:
        if cfg.data.name != "synthfaces":  # the embedded judges know SynthFaces renders only
            unset = [
                f"judges.{k}"
                for k, judge in (("parser", parser), ("clip", clip), ("inception", frechet))
                if judge is None
            ]
            raise ValueError(
                f"data.name={cfg.data.name} is scored by real judges (the embedded ones are trained on "
                f"SynthFaces): set {', '.join(unset)} to local weights (docs/REAL_DATA.md)"
            )
        folder = ensure_judges(cfg)
        embedded, card = load_parser(folder)
        embedded = embedded.to(device)
        if parser is None:
            parser = embedded.parse
            info["parser"] = {
                "kind": "embedded",
                "path": str(folder),
                "heldout_size": j.heldout_size,
                "heldout_pixel_accuracy": card["heldout_pixel_accuracy"],
            }
        if frechet is None:
            frechet = frechet_embedded(embedded)
            info["frechet"] = {"kind": "embedded_parser", "path": str(folder)}
        if clip is None:
            clip, card = load_embedded_clip(folder)
            info["clip"] = {
                "kind": "embedded",
                "path": str(folder),
                "heldout_size": card["heldout_size"],
                "heldout_retrieval_top1": card["heldout_retrieval_top1"],
            }
    if "landmarks" not in info:
        landmarks, info["landmarks"] = load_landmark_judge_of(cfg, conditions, device)
    tolerance, info["sketch"] = sketch_judge(cfg, conditions)
    clip.model.to(device)
    return Judges(parser, clip, topiq, frechet.to(device), info, landmarks, tolerance)
