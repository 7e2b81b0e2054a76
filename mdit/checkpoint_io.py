"""Lightning checkpoints written atomically: a run killed while saving keeps its previous `last.ckpt` whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from mdit import atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into a temporary sibling, then one rename (Lightning's own writes the file in place)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        atomic.write_with(path, lambda tmp: torch.save(checkpoint, tmp))
