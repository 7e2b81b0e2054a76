"""Local-folder helpers: nothing is downloaded, so a missing file must say what belongs there."""

from __future__ import annotations

from pathlib import Path

import torch

FLUX_HINT = "a FLUX.1 checkout in diffusers layout (e.g. a local copy of black-forest-labs/FLUX.1-dev)"


def require_path(path: str | Path, what: str) -> Path:
    """Return `path` if it exists, else raise FileNotFoundError naming it and `what` should be there."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: it should be {what}")
    return path


def require_model_folder(folder: str | Path, what: str) -> Path:
    """Check that a `from_pretrained` folder and its `config.json` exist; return the folder."""
    folder = require_path(folder, what)
    require_path(folder / "config.json", f"the config.json of {what}")
    return folder


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """Accept a torch dtype or its name from a config ("bfloat16", "torch.float16")."""
    if isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype).removeprefix("torch."), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"unknown torch dtype {dtype!r}; use a name such as 'float32' or 'bfloat16'")
    return resolved
