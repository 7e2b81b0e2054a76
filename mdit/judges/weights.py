"""Local weight files of the real judges and metrics: nothing is ever downloaded, a missing file says where it goes."""

from __future__ import annotations

from pathlib import Path


class MissingWeightsError(FileNotFoundError):
    """A judge's or metric's weights file is not where it should be; the message names the file and its place."""


def require_file(path: str | Path, purpose: str) -> Path:
    """`path` (user-expanded) if it is a file, else MissingWeightsError("<path> not found: <purpose>")."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingWeightsError(f"{path} not found: {purpose}")
    return path
