"""The extra cost of each setting at FLUX.1-dev scale, for tables of runs too small to compare with the paper.

`mdit flops`'s count on a weightless FLUX.1-dev model at the paper's Table 4 setting (or at a row's own sampling
steps, where the sweep varies them); each setting is counted once per process (~5 s on a CPU) when a table first
asks for it, and shared by every table built in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mdit.cost.report import SettingCosts

FLUX_DEV_SETTING = {"resolution": 512, "text_tokens": 512, "steps": 28}
SETTING_TEXT = "FLUX.1-dev, 512x512, 28 steps unless a row sets its own, 512 text tokens"


@dataclass(frozen=True)
class ScaledCosts:
    """The extra cost of any setting on one model scale: {"delta_tflops": counted, "delta_paper": the paper's
    convention} in TFLOPs per generation; `steps` when a row does not say its own."""

    costs: SettingCosts
    steps: int

    def of(
        self,
        attention: str | None,
        stride: int = 1,
        readers: str = "image_text",
        steps: int | None = None,
        conditions: tuple[str, ...] = ("mask",),
    ) -> dict[str, float]:
        from mdit.cost.report import Setting

        if attention is None:
            return {}
        if attention == "none":
            return {"delta_tflops": 0.0, "delta_paper": 0.0}
        row = self.costs.row(Setting(attention, stride, readers, tuple(conditions)), steps or self.steps)
        return {"delta_tflops": row["delta_tflops"], "delta_paper": row["delta_paper"]}

    @property
    def none_total_tflops(self) -> float:
        from mdit.cost.flops import TERA
        from mdit.cost.report import Setting

        return self.costs.parts(Setting("none")).counted(self.steps) / TERA


@lru_cache(maxsize=1)
def flux_dev_costs() -> ScaledCosts:
    """FLUX.1-dev-scale costs of any setting (`mdit flops` at the paper's setting)."""
    from mdit.cost.report import SettingCosts, preset  # torch and diffusers: only when the numbers are asked for

    s = FLUX_DEV_SETTING
    return ScaledCosts(SettingCosts(*preset("flux-dev", s["resolution"], s["text_tokens"], s["steps"])), s["steps"])
