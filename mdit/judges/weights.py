"""Local weight files of the real judges and metrics: nothing is ever downloaded, a missing file says where it goes."""

from __future__ import annotations

from pathlib import Path


class MissingWeightsError(FileNotFoundError):
    """A judge's or metric's weights file is not where it should be; the message names the file and its place."""


def require_file(path: str | Path, purpose: str, name: str | None = None) -> Path:
    """`path` (user-expanded) if it is a file, else MissingWeightsError("<path> not found: <purpose>").
    With `name`, `path` may also be the folder holding a file of that name (a path with no suffix is one)."""
    path = Path(path).expanduser()
    if name is not None and (path.is_dir() or not path.suffix):
        path = path / name
    if not path.is_file():
        raise MissingWeightsError(f"{path} not found: {purpose}")
    return path
