"""The extra cost of each variant at FLUX.1-dev scale, for tables of runs too small to compare with the paper.

`mdit flops`'s count on a weightless FLUX.1-dev model at the paper's Table 4 setting; it takes ~25 s on a CPU,
so it is computed once per process and shared by every table built in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

FLUX_DEV_SETTING = {"resolution": 512, "text_tokens": 512, "steps": 28}
SETTING_TEXT = "FLUX.1-dev, 512x512, 28 steps, 512 text tokens"


@dataclass(frozen=True)
class FluxDevCosts:
    """Per attention: {"delta_tflops": counted extra TFLOPs, "delta_paper": paper convention}; `none` is 0."""

    variants: dict[str, dict[str, float]]
    none_total_tflops: float

    def of(self, attention: str | None) -> dict[str, float]:
        return self.variants.get(attention or "", {})


@lru_cache(maxsize=1)
def flux_dev_costs() -> FluxDevCosts:
    """The FLUX.1-dev-scale extra cost of every registered variant (`mdit flops` at the paper's setting)."""
    from mdit.cost.report import flops_report  # torch and diffusers: imported only when the numbers are asked for

    s = FLUX_DEV_SETTING
    report = flops_report("flux-dev", s["resolution"], s["text_tokens"], s["steps"])
    variants = {
        name: {"delta_tflops": v["delta_tflops"], "delta_paper": v["delta_paper"]}
        for name, v in report["variants"].items()
    }
    variants["none"] = {"delta_tflops": 0.0, "delta_paper": 0.0}
    return FluxDevCosts(variants, report["none_total_tflops"])
