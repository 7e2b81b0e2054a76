"""The real landmark judge: facexlib's alignment model (AWing FAN, 98 WFLW points) from a local file, mapped to ours.

WFLW's 98 points, 0-based, with left/right as seen in the IMAGE (the subject's right is the image's left):
0-32 the jaw line from the image's left to its right (16 the chin), 33-41 the image-left brow (33 its outer end,
37 / 38 the upper / lower contour's inner end), 42-50 the image-right brow (46 its outer end, 42 / 50 the inner
end), 51-54 the nose bridge (54 its tip), 55-59 the nostrils' base, 60-67 the image-left eye (60 outer, 64 inner
corner), 68-75 the image-right eye (68 inner, 72 outer corner), 76-87 the outer lip contour (76 / 82 the mouth's
image-left / image-right corner, 79 the top of the upper lip, 85 the bottom of the lower lip), 88-95 the inner lip
contour (90 its top, 94 its bottom), 96 / 97 the image-left / image-right pupil. facexlib's landmark_98_to_68 and
WFLW's mirror pairs (0-32, 33-46, 60-72, 64-68, 76-82, 96-97) follow this layout.

Our landmark (mdit.keypoints, as SynthFaces places them: data/synthfaces/landmarks.py) is the WFLW point, or the
mean of the two that bracket it: a brow's inner end (its upper and lower contours' ends), a lip's middle (between
its outer edge and the mouth's opening, on the face's axis). The jaw points are where the face outline meets the
mouth's height: the jaw line (0-16 on the image's left, 32-16 on its right) cut by the line through the two mouth
corners, so a tilted head keeps them level with the mouth. The ears have no WFLW point: visible 0.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from mdit.judges.weights import require_file
from mdit.keypoints import NAMES, NUM_KEYPOINTS

__all__ = [
    "AWING_WEIGHTS_FILE",
    "WFLW_POINTS",
    "WFLW_SOURCES",
    "FacexlibLandmarks",
    "load_facexlib_landmarks",
    "wflw_to_keypoints",
]

WFLW_POINTS = 98
AWING_WEIGHTS_FILE = "alignment_WFLW_4HG.pth"  # facexlib's release file of init_alignment_model("awing_fan")
AWING_INPUT_SIZE, AWING_HEATMAP_SIZE = 256, 64

# Each of our landmarks (mdit.keypoints.NAMES, `r_*` the subject's right = the image's left): its WFLW points.
WFLW_SOURCES: dict[str, tuple[int, ...]] = {
    "r_eye_outer": (60,),
    "r_eye_centre": (96,),
    "r_eye_inner": (64,),
    "l_eye_inner": (68,),
    "l_eye_centre": (97,),
    "l_eye_outer": (72,),
    "r_brow_outer": (33,),
    "r_brow_inner": (37, 38),
    "l_brow_inner": (42, 50),
    "l_brow_outer": (46,),
    "nose_tip": (54,),
    "mouth_r": (76,),
    "upper_lip": (79, 90),
    "mouth_l": (82,),
    "lower_lip": (85, 94),
    "jaw_r": (),  # JAW_LINES: the outline at the mouth's height
    "chin": (16,),
    "jaw_l": (),
    "r_ear": (),
    "l_ear": (),
}


# The jaw line of each side, from its top to the chin; the mouth corners whose line cuts it.
JAW_LINES: dict[str, tuple[int, ...]] = {"jaw_r": tuple(range(0, 17)), "jaw_l": tuple(range(32, 15, -1))}
MOUTH_CORNERS = (76, 82)


def _mapping() -> np.ndarray:
    """[K, 98] weights: row k averages the WFLW points of landmark k (a row of zeros: no fixed point)."""
    if tuple(WFLW_SOURCES) != NAMES:
        raise RuntimeError("WFLW_SOURCES must list every landmark of mdit.keypoints.NAMES, in its order")
    weights = np.zeros((NUM_KEYPOINTS, WFLW_POINTS), dtype=np.float64)
    for k, points in enumerate(WFLW_SOURCES.values()):
        weights[k, list(points)] = 1.0 / len(points) if points else 0.0
    return weights


WFLW_TO_KEYPOINTS = _mapping()
WFLW_TO_KEYPOINTS.setflags(write=False)
MAPPED = (WFLW_TO_KEYPOINTS.sum(1) > 0) | np.isin(NAMES, list(JAW_LINES))  # [K]: landmarks WFLW has


def jaw_at_mouth_height(points: np.ndarray, line: tuple[int, ...]) -> np.ndarray:
    """Where the polyline of WFLW points `line` (top to chin) crosses the line through the mouth corners, for
    points [N, 98, 2] -> [N, 2]: the crossing nearest the chin, linearly between its two contour points; where it
    never crosses, the contour point nearest that line."""
    a, b = points[:, MOUTH_CORNERS[0]], points[:, MOUTH_CORNERS[1]]
    direction = b - a
    length = np.linalg.norm(direction, axis=-1, keepdims=True)
    direction = np.where(length > 1e-9, direction / np.maximum(length, 1e-9), np.array([1.0, 0.0]))
    contour = points[:, list(line)]  # [N, L, 2]
    offset = contour - a[:, None]
    side = direction[:, None, 0] * offset[..., 1] - direction[:, None, 1] * offset[..., 0]  # [N, L] signed distance
    out = np.empty((len(points), 2))
    for n in range(len(points)):
        d = side[n]
        crossings = np.flatnonzero(d[:-1] * d[1:] <= 0)
        if crossings.size:
            i = crossings[-1]
            t = d[i] / (d[i] - d[i + 1]) if d[i] != d[i + 1] else 0.0
            out[n] = contour[n, i] + t * (contour[n, i + 1] - contour[n, i])
        else:
            out[n] = contour[n, int(np.abs(d).argmin())]
    return out


def wflw_to_keypoints(points98: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """WFLW points [..., 98, 2] (x, y in pixels) -> our keypoints [..., 20, 3] (x, y, visible), float32.

    Visible: every landmark with a WFLW point (not the ears); with `size` (H, W), not one outside the image either.
    """
    points = np.asarray(points98, dtype=np.float64)
    if points.ndim < 2 or points.shape[-2:] != (WFLW_POINTS, 2):
        raise ValueError(f"expected WFLW points [..., {WFLW_POINTS}, 2] (x, y), got shape {tuple(points.shape)}")
    flat = points.reshape(-1, WFLW_POINTS, 2)
    xy = np.einsum("kn,bnc->bkc", WFLW_TO_KEYPOINTS, flat)
    for name, line in JAW_LINES.items():
        xy[:, NAMES.index(name)] = jaw_at_mouth_height(flat, line)
    xy = xy.reshape(*points.shape[:-2], NUM_KEYPOINTS, 2)
    visible = np.broadcast_to(MAPPED, xy.shape[:-1]).copy()
    if size is not None:
        height, width = size
        x, y = xy[..., 0], xy[..., 1]
        visible &= (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)
    return np.concatenate([xy, visible[..., None]], axis=-1).astype(np.float32)


def heatmap_peaks(heatmaps: torch.Tensor) -> torch.Tensor:
    """Heatmaps [B, N, h, w] -> peaks [B, N, 2] (x, y) in heatmap cells, corner-origin (a cell spans [i, i + 1)).

    facexlib's `calculate_points`, batched in torch (its numpy one uses np.float, gone since NumPy 1.24): the
    maximum's cell centre, moved a quarter cell towards the larger of its two neighbours along each axis.
    """
    height, width = heatmaps.shape[-2:]
    flat = heatmaps.flatten(2)
    index = flat.argmax(-1)
    row, col = index // width, index % width

    def at(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return flat.gather(-1, (r.clamp(0, height - 1) * width + c.clamp(0, width - 1))[..., None])[..., 0]

    shift_x = torch.sign(at(row, col + 1) - at(row, col - 1)) * 0.25
    shift_y = torch.sign(at(row + 1, col) - at(row - 1, col)) * 0.25
    return torch.stack([col + 0.5 + shift_x, row + 0.5 + shift_y], dim=-1)


class FacexlibLandmarks(nn.Module):
    """Images [B, 3, H, W] in [-1, 1] -> our keypoints [B, 20, 3] by facexlib's FAN, as its `get_landmarks` runs it.

    RGB in [0, 1] resized to 256 x 256 (bilinear, as cv2.resize), the last stack's 98 heatmaps (64 x 64; the 99th is
    the boundary map) decoded as facexlib does, scaled back to the image and moved to pixel centres at integers.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.eval()

    def train(self, mode: bool = True) -> FacexlibLandmarks:
        """A judge never leaves eval mode (its batch norms must use their running statistics)."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W], got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        device = next(self.model.parameters()).device
        x = ((images.to(device, torch.float32) + 1) / 2).clamp(0, 1)
        if (height, width) != (AWING_INPUT_SIZE, AWING_INPUT_SIZE):
            x = F.interpolate(x, size=(AWING_INPUT_SIZE,) * 2, mode="bilinear", align_corners=False)
        outputs, _ = self.model(x)
        peaks = heatmap_peaks(outputs[-1][:, :WFLW_POINTS].float())
        scale = torch.tensor([width / AWING_HEATMAP_SIZE, height / AWING_HEATMAP_SIZE], device=peaks.device)
        points = peaks * scale - 0.5  # corner-origin pixels -> pixel centres at integers
        keypoints = wflw_to_keypoints(points.cpu().numpy(), (height, width))
        return torch.from_numpy(keypoints).to(images.device)


def load_facexlib_landmarks(path: str | Path, device: str | torch.device = "cpu") -> FacexlibLandmarks:
    """facexlib's AWing FAN (WFLW, 4 hourglasses) from `path` (the file, or the folder holding it), strictly; nothing
    is downloaded (facexlib's own init_alignment_model would fetch a missing file, so the network is built here)."""
    from facexlib.alignment.awing_arch import FAN

    where = f"put facexlib's {AWING_WEIGHTS_FILE} (awing_fan, WFLW 98 points) there and pass it as judges.landmarks"
    file = require_file(path, where, name=AWING_WEIGHTS_FILE)
    model = FAN(num_modules=4, num_landmarks=WFLW_POINTS, device=str(device))
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state, strict=True)
    except (pickle.UnpicklingError, RuntimeError, TypeError, AttributeError, KeyError) as error:
        raise ValueError(
            f"{file} is not a state dict of facexlib's FAN(num_modules=4, num_landmarks=98): {error}"
        ) from error
    return FacexlibLandmarks(model).to(device)
