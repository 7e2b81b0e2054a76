"""FLOPs and latency of the variant (mdit.cost.measure_cost), measured by the Trainer itself."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.loggers import WandbLogger

from mdit.cost.measure import measure_cost


class CostMeasurement(L.Callback):
    """At the end of training (and at each validation with `at_validation`): FLOPs and latency of the trained
    variant against `none`, logged as cost/<key> (the W&B summary at the end, a point per validation) and kept in
    `results` for metrics.json. Every rank measures: under FSDP the ranks generate in lockstep; rank 0 reports."""

    def __init__(self, steps: int, repeats: int, at_validation: bool = False) -> None:
        self.steps, self.repeats, self.at_validation = steps, repeats, at_validation
        self.results: dict[str, float] = {}

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not self.at_validation or trainer.sanity_checking:
            return
        cost = measure_cost(module, self.steps, self.repeats)
        if trainer.is_global_zero and trainer.logger is not None:
            trainer.logger.log_metrics({f"cost/{k}": v for k, v in cost.items()}, step=trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.results = measure_cost(module, self.steps, self.repeats)
        if trainer.is_global_zero and isinstance(trainer.logger, WandbLogger):
            trainer.logger.experiment.summary.update({f"cost/{k}": v for k, v in self.results.items()})
