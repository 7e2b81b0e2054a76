"""Plain progress lines for logs: Lightning's bar is drawn only on a terminal."""

from __future__ import annotations

from typing import Any

import lightning as L

from mdit.progress import Progress, on_terminal


class ProgressLines(L.Callback):
    """When output is not a terminal, rank 0 writes `[label] step/total (..%) · elapsed · left · loss` every few
    seconds (mdit.progress), which the sweep runner reads from its runs' logs."""

    def __init__(self, label: str = "train") -> None:
        self.label = label
        self.progress: Progress | None = None

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero and not on_terminal():
            self.progress = Progress(trainer.max_steps, self.label, done=trainer.global_step)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        if self.progress is None or trainer.global_step <= self.progress.done:  # accumulating: not a step yet
            return
        loss = trainer.callback_metrics.get("train/loss")
        note = f"loss {float(loss):.4f}" if loss is not None else ""
        self.progress.update(trainer.global_step - self.progress.done, note)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None
