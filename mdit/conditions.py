"""The spatial conditions, keyed by the names that appear in configs, sweeps and tables: mask, sketch, keypoints.

Plain data with no torch import (a config is checked in a fraction of a second). Each kind is rendered into an
image-shaped tensor (`mdit.conditioning.spatial`), encoded by the image's autoencoder, embedded by its own visual
embedder with its own LoRA adapter (named like the kind), dropped independently in training, and scored by its
own judge. The batch key of a kind's raw input is its name.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnknownConditionError(ValueError):
    """A condition name that is not in the registry, or a list of them that cannot be used."""


@dataclass(frozen=True)
class ConditionKind:
    """One kind of spatial condition and what it is scored by."""

    name: str
    description: str
    raw: str  # the batch's raw input: its dtype and shape
    judge: str  # the metric column(s) of `mdit eval` that score it


CONDITION_KINDS: dict[str, ConditionKind] = {
    c.name: c
    for c in (
        ConditionKind(
            "mask",
            "semantic mask: the 19 CelebAMask-HQ classes in the official palette",
            "int64 [H, W] label ids 0..18",
            "mask_acc",
        ),
        ConditionKind(
            "sketch",
            "line drawing: white lines on black",
            "float32 [H, W] in [0, 1], 1 = line",
            "edge_f1, chamfer",
        ),
        ConditionKind(
            "keypoints",
            "face landmarks (mdit.keypoints), drawn as colour-coded points",
            "float32 [K, 3] (x, y, visible) in pixels",
            "nme",
        ),
    )
}
DEFAULT_CONDITIONS = ("mask",)


def check_conditions(names: object) -> tuple[str, ...]:
    """`names` as a tuple of known, distinct condition names (at least one); anything else says what is valid."""
    valid = ", ".join(CONDITION_KINDS)
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise UnknownConditionError(f"conditions must be a list of names ({valid}), got {names!r}")
    names = tuple(str(n) for n in names)
    if not names:
        raise UnknownConditionError(f"conditions is empty: name at least one of {valid} (attention=none for text only)")
    unknown = [n for n in names if n not in CONDITION_KINDS]
    if unknown:
        raise UnknownConditionError(f"unknown condition(s) {', '.join(map(repr, unknown))}; valid: {valid}")
    if len(set(names)) != len(names):
        raise UnknownConditionError(f"conditions {list(names)} name one kind twice")
    return names


def parse_conditions(text: str) -> tuple[str, ...]:
    """A comma-separated list from the command line ("mask,sketch") as checked names."""
    return check_conditions([n.strip() for n in text.split(",") if n.strip()])
