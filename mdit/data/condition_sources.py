"""Where a data set's sketch and keypoint files are: published with the data, or derived by `mdit cache-conditions`.

A kind of condition has one source per data set, never a mix: the published folder when it exists, else the
derived cache (`<data cache>/conditions-<resolution>px/{sketch,keypoints}/`). Published files are in the pixels of
their image (cropped and scaled as it is); derived ones were made from the fitted square at data.resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mdit.conditions import CONDITION_KINDS, UnknownConditionError

FILE_KINDS = ("sketch", "keypoints")  # the conditions read from files; the mask is part of every data set
DERIVED_SUFFIXES = {"sketch": (".png",), "keypoints": (".json",)}
DERIVE_COMMAND = "mdit cache-conditions -c <the config> [the same key=value overrides]"


@dataclass(frozen=True)
class ConditionSource:
    """The folder holding one kind's files, one per face: ``<folder>/<face key><suffix>``, the first suffix found."""

    kind: str
    folder: Path
    suffixes: tuple[str, ...]
    derived: bool  # made by `mdit cache-conditions` at data.resolution (else published, in its image's pixels)
    what: str  # how an error names it, e.g. "MM-CelebA-HQ's sketch folder"

    def pattern(self) -> str:
        """What a face's file is called, e.g. ``/data/MM/sketch/<id>{.png,.jpg}``."""
        names = ",".join(self.suffixes)
        return str(self.folder / f"<key>{{{names}}}" if len(self.suffixes) > 1 else self.folder / f"<key>{names}")

    def file_name(self, key: str, names: set[str]) -> str | None:
        """The name of face ``key``'s file among the folder's ``names``, or None."""
        return next((key + suffix for suffix in self.suffixes if key + suffix in names), None)


def derived_conditions_dir(cache_dir: str | Path, resolution: int) -> Path:
    """The `mdit cache-conditions` folder of a data cache (mdit.paths.data_cache_dir) at one resolution."""
    return Path(cache_dir) / f"conditions-{int(resolution)}px"


def derived_source(kind: str, derived_dir: str | Path) -> ConditionSource:
    """The derived cache of ``kind`` under ``derived_dir`` (``derived_conditions_dir``)."""
    return ConditionSource(kind, Path(derived_dir) / kind, DERIVED_SUFFIXES[kind], True, f"derived {kind} cache")


def file_conditions(conditions: Sequence[str]) -> tuple[str, ...]:
    """The kinds among ``conditions`` (model.conditions) that a data set reads from files; unknown names raise."""
    unknown = [name for name in conditions if name not in CONDITION_KINDS]
    if unknown:
        raise UnknownConditionError(f"unknown condition(s) {unknown}; valid: {', '.join(CONDITION_KINDS)}")
    return tuple(name for name in conditions if name in FILE_KINDS)


def how_to_get(kind: str) -> str:
    """What to run for a kind a data set lacks."""
    if kind == "keypoints":
        return (
            f"derive them with `{DERIVE_COMMAND} judges.landmarks=<facexlib's alignment_WFLW_4HG.pth>` "
            "(facexlib's landmark model, from a local file)"
        )
    return f"derive edge-map sketches with `{DERIVE_COMMAND}`"
