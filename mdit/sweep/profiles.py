"""Profiles: named config layers on top of a sweep's base config (`--profile smoke` adds
experiments/profiles/smoke.yaml). `default` adds nothing. Each profile keeps its runs in its own output_dir."""

from __future__ import annotations

from pathlib import Path

PROFILES_DIR = Path("experiments/profiles")  # relative to the repository root, like the sweeps' `-c` files
DEFAULT = "default"


def available(folder: Path = PROFILES_DIR) -> list[str]:
    return [DEFAULT, *sorted(p.stem for p in folder.glob("*.yaml"))]


def profile_files(name: str, folder: Path = PROFILES_DIR) -> list[str]:
    """The config layers of profile `name`: none for `default`, else its YAML (which must exist)."""
    if name == DEFAULT:
        return []
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"profile {name!r} not found ({path}); available: {', '.join(available(folder))}")
    return [path.as_posix()]
