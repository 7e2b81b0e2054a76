"""The measured columns of the tables: where each number sits in a run's metrics.json, and how it is printed.

A run's value for a column is a number, "n/a" with a reason (the metric does not apply: TOPIQ without its
weights), or missing (not measured yet: no `mdit eval` for that mode, or a run trained with eval.cost=false).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EVAL, COST = "eval", "cost"


@dataclass(frozen=True)
class Value:
    """One run's number for one column; None with `na` = not applicable (and why), None alone = missing."""

    number: float | None
    na: str | None = None


MISSING = Value(None)


def fixed(digits: int) -> Callable[[float], str]:
    return lambda x: f"{x:.{digits}f}"


def significant(digits: int, scale: float = 1.0) -> Callable[[float], str]:
    """`digits` significant digits of x * scale (plain notation down to 1e-4)."""

    def fmt(x: float) -> str:
        x *= scale
        return f"{x:.{digits}g}" if abs(x) >= 1e-4 or x == 0 else f"{x:.2e}"

    return fmt


@dataclass(frozen=True)
class Column:
    """A per-run column: `section` says which part of metrics.json holds it (eval[mode] or the training keys)."""

    key: str
    label: str
    section: str
    fmt: Callable[[float], str]
    path: tuple[str, ...]  # inside eval[mode] for EVAL, inside metrics for COST

    def value(self, metrics: dict[str, Any] | None, mode: str) -> Value:
        """This column's value in one run's metrics (metrics.json layout)."""
        if metrics is None:
            return MISSING
        node: Any = metrics.get(EVAL, {}).get(mode) if self.section == EVAL else metrics
        if not isinstance(node, dict):
            return MISSING
        entry = node
        for part in self.path:
            if not isinstance(node, dict) or part not in node:
                return MISSING
            node = node[part]
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            return Value(float(node))
        if node is None and self.section == EVAL:
            return Value(None, na_reason(self.key, entry))
        return MISSING


# The judges whose n/a reason `mdit eval` records, by column (their key in its "judges" record, and their name).
NA_JUDGES = {"topiq": ("topiq", "TOPIQ")}
NA_JUDGES |= {key: ("sketch", "sketch") for key in ("edge_f1", "real_edge_f1", "chamfer", "real_chamfer")}
NA_JUDGES |= {key: ("landmarks", "keypoints") for key in ("nme", "real_nme")}


def na_reason(key: str, entry: dict[str, Any]) -> str:
    """Why an eval metric is null: the judge's own reason where `mdit eval` recorded one."""
    judge, name = NA_JUDGES.get(key, (None, None))
    info = entry.get("judges", {}).get(judge, {}) if judge else {}
    if isinstance(info, dict) and info.get("reason"):
        return f"{name}: {info['reason']}"
    return f"{key} is null in metrics.json (not a finite number)"


QUALITY = (
    Column("mask_accuracy", "mask acc. (%)", EVAL, fixed(2), ("mask_accuracy",)),
    Column("real_mask_accuracy", "parser on real (%)", EVAL, fixed(2), ("real_images", "mask_accuracy")),
    Column("miou", "mIoU (%)", EVAL, fixed(2), ("miou",)),
    Column("real_miou", "parser on real mIoU (%)", EVAL, fixed(2), ("real_images", "miou")),
    Column("clip_t", "CLIP-T", EVAL, fixed(2), ("clip_t",)),
    Column("topiq", "TOPIQ", EVAL, fixed(4), ("topiq",)),
    Column("frechet", "FD", EVAL, significant(4), ("frechet",)),
)
# The spatial conditions' judges (mdit.evaluation.scoring): how well the images follow a sketch and the keypoints,
# and the same judges on the real images. Their own section, shown where a row has them (a mask-only data set has
# no sketches); arrows say which way is better.
CONDITIONS = (
    Column("edge_f1", "edge F1 (%) ↑", EVAL, fixed(2), ("edge_f1",)),
    Column("real_edge_f1", "real edge F1 (%)", EVAL, fixed(2), ("real_images", "edge_f1")),
    Column("chamfer", "chamfer (px) ↓", EVAL, fixed(3), ("chamfer",)),
    Column("real_chamfer", "real chamfer (px)", EVAL, fixed(3), ("real_images", "chamfer")),
    Column("nme", "NME (%) ↓", EVAL, fixed(2), ("nme",)),
    Column("real_nme", "landmarks on real NME (%)", EVAL, fixed(2), ("real_images", "nme")),
)
# The embedded runs' FLOPs are tiny: shown in GFLOPs (metrics.json and the CSV keep TFLOPs).
COSTS = (
    Column("tflops_delta", "ΔGFLOPs counted", COST, significant(4, 1e3), ("tflops_delta",)),
    Column("tflops_delta_paper", "ΔGFLOPs paper conv.", COST, significant(4, 1e3), ("tflops_delta_paper",)),
    Column("seconds_per_image", "s/img", COST, significant(4), ("seconds_per_image",)),
    Column("latency_ratio_vs_none", "× text-only", COST, fixed(2), ("latency_ratio_vs_none",)),
)
MEASURED = QUALITY + COSTS
# Each evaluation's own sampling, timed against the run's plain sampling side by side (`mdit eval`'s latency record):
# shown where a table's rows differ in their sampling (guidance, strength, steps).
SAMPLING_COSTS = (
    Column("sampling_seconds", "s/img, its sampling", EVAL, significant(4), ("latency", "seconds_per_image")),
    Column("sampling_ratio", "× plain sampling", EVAL, fixed(2), ("latency", "latency_ratio_vs_plain")),
)
