"""A fixed grid of validation samples (the conditions the model reads | generated | ground truth, with captions), saved
and logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import WandbLogger

from mdit.conditioning.spatial import render_condition
from mdit.pipeline import spatial_inputs
from mdit.visualize import sample_grid, save_png


class SampleGrid(L.Callback):
    """At each validation, sample the first `count` validation items (fixed seed) into `folder/step_XXXXXX.png`."""

    def __init__(self, folder: str | Path, count: int = 8, steps: int = 20, seed: int = 0) -> None:
        self.folder, self.count, self.steps, self.seed = Path(folder), count, steps, seed
        self.batch: dict[str, Any] | None = None
        self.last_path: Path | None = None

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx == 0 and self.count > 0:
            self.batch = {k: v[: self.count] for k, v in batch.items()}

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.batch is None or trainer.sanity_checking:
            return
        spatial, captions = spatial_inputs(self.batch, module.model.conditions), list(self.batch["caption"])
        images = module.generate(spatial, captions, steps=self.steps, seed=self.seed)
        size = tuple(images.shape[-2:])
        shown = {kind: render_condition(kind, raw.cpu(), size) for kind, raw in spatial.items()}
        grid = sample_grid(None, images.cpu(), self.batch["image"].cpu(), captions, conditions=shown)
        self.last_path = save_png(grid, self.folder / f"step_{trainer.global_step:06d}.png")
        if isinstance(trainer.logger, WandbLogger):
            trainer.logger.log_image(key="val/samples", images=[str(self.last_path)], step=trainer.global_step)
        self.batch = None
