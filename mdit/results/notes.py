"""The notes under a table: what each cell is, why a cell is "—", which judges scored, and at what scale.

Every note is plain text (Markdown-safe); the renderers add their own markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mdit.paper import PAPER_LABEL, PAPER_SOURCES
from mdit.results.collect import DATA_SPLIT, Run
from mdit.results.columns import COST, EVAL, MEASURED
from mdit.results.flux_scale import SETTING_TEXT, ScaledCosts
from mdit.results.rows import SPLIT_KEY, Row, describe_split
from mdit.variants import STATIC_MODULATIONS, STRATEGIES

IOU_KEYS = ("miou", "real_miou")  # recorded by `mdit eval` since mean IoU was added; older runs lack them
FRECHET_FEATURES = {
    "embedded_parser": "the embedded face parser's features (not FID)",
    "inception": "Inception features (FID)",
}


def _names(runs: Iterable[str]) -> str:
    return ", ".join(sorted(set(runs)))


def judge_infos(rows: list[Row], judge: str) -> list[dict[str, Any]]:
    """The distinct `judges.<judge>` descriptions recorded by `mdit eval` in the rows' runs."""
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        for run in row.finished:
            info = (run.metrics or {}).get(EVAL, {}).get(row.evaluation, {}).get("judges", {}).get(judge)
            if isinstance(info, dict):
                seen.setdefault(repr(sorted(info.items())), info)
    return list(seen.values())


def frechet_kinds(rows: list[Row]) -> set[str]:
    return {str(info.get("kind")) for info in judge_infos(rows, "frechet")}


def missing_notes(rows: list[Row], group_dir: str | None) -> list[str]:
    """Why cells are "—": runs without metrics, without eval.<mode>, without cost numbers."""
    notes = []
    unfinished = list(dict.fromkeys(f"{r.name} ({r.problem})" for row in rows for r in row.runs if r.metrics is None))
    if unfinished:
        notes.append(f"Not counted (no metrics): {'; '.join(unfinished)}.")
    no_eval: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    no_key: set[str] = set()
    no_iou: set[str] = set()
    no_cost: set[str] = set()
    for row in rows:
        for run in row.finished:
            has_eval = isinstance(run.metrics.get(EVAL, {}).get(row.evaluation), dict)
            for column in MEASURED:
                if run.name not in row.missing.get(column.key, []):
                    continue
                if column.section == COST:
                    no_cost.add(run.name)
                elif not has_eval:
                    no_eval.setdefault((row.evaluation, row.eval_args or (f"--mode {row.mode}",)), []).append(run.name)
                elif column.key in IOU_KEYS:
                    no_iou.add(run.name)
                else:
                    no_key.add(f"{run.name} ({column.key})")
    for (key, args), names in no_eval.items():
        where = f"`mdit eval {group_dir or 'RUN'}{'/<run>' if group_dir else ''} {' '.join(args)}`"
        notes.append(f"—: no eval.{key} in metrics.json for {_names(names)}; {where} adds it.")
    if no_key:
        notes.append(f"—: value absent from the run's eval results: {_names(no_key)}.")
    if no_iou:
        notes.append(f"—: no mIoU in metrics.json for {_names(no_iou)} (evaluated before mean IoU: rerun `mdit eval`).")
    if no_cost:
        notes.append(
            f"—: no cost numbers for {_names(no_cost)} (trained with eval.cost=false, or absent from the W&B summary)."
        )
    return notes


def judge_notes(rows: list[Row]) -> list[str]:
    """Which judges scored: the parser's ceiling, the CLIP judge, the Fréchet features."""
    notes = []
    on_real = "'parser on real' is the same judge on the real test images of the same samples"
    for info in judge_infos(rows, "parser"):
        kind = info.get("kind")
        if "heldout_pixel_accuracy" in info:
            notes.append(
                f"Mask accuracy judge: {kind} parser, held-out pixel accuracy "
                f"{info['heldout_pixel_accuracy']:.2f} % on {info.get('heldout_size', '?')} clean renders "
                f"(its ceiling); {on_real}."
            )
        else:
            notes.append(f"Mask accuracy judge: {kind} parser ({info.get('path', '')}); {on_real} (its ceiling).")
    for info in judge_infos(rows, "clip"):
        top1 = info.get("heldout_retrieval_top1")
        extra = f", held-out retrieval top-1 {top1:.2f} %" if top1 is not None else ""
        notes.append(
            f"CLIP-T judge: {info.get('kind')} open_clip{extra}; 100 x cosine(image, its caption). An "
            "embedded judge's CLIP-T is not on the scale of the paper's CLIP."
        )
    kinds = frechet_kinds(rows)
    if len(kinds) == 1:
        kind = next(iter(kinds))
        notes.append(
            f"FD: Fréchet distance of the generated against the real test images on {FRECHET_FEATURES.get(kind, kind)}."
        )
    elif kinds:
        notes.append(
            f"FD: the runs used different feature extractors ({', '.join(sorted(kinds))}): their FDs are "
            "not comparable."
        )
    elif any(row.stats["frechet"].mean is not None for row in rows):
        notes.append(
            "FD: Fréchet distance of the generated against the real test images; its features are not "
            "recorded (W&B summary)."
        )
    return notes


def _scale(rows: list[Row]) -> str:
    values = lambda key: sorted({str(r.config.get(key)) for row in rows for r in row.runs})  # noqa: E731
    return f"{'/'.join(values('data.resolution'))} px, {'/'.join(values('eval.steps'))} steps"


def cost_notes(rows: list[Row], flux: ScaledCosts | None) -> list[str]:
    notes = [
        f"Cost per generated image, extra over `none` (text only), at each run's own scale ({_scale(rows)}), in "
        "GFLOPs: 'counted' = every matrix multiply incl. attention, 2 FLOPs per multiply-add, static pass once + every "
        "step; 'paper conv.' = multiply-adds of the linear layers the extra tokens pass through (the paper's "
        "Table 4 convention). s/img: median wall time of one generation on the training machine; × text-only: "
        "its ratio to the same model with the mask dropped, timed in the same process.",
    ]
    if flux is None:
        notes.append("FLUX.1-dev scale: not computed for this table (`mdit flops` gives it).")
    else:
        notes.append(
            f"FLUX.1-dev scale: the same variants counted by `mdit flops` on a weightless FLUX.1-dev "
            f"model ({SETTING_TEXT}), both conventions; `none` itself costs "
            f"{flux.none_total_tflops:.2f} TFLOPs per generation. Compare these with the paper's Table 4, "
            "not the run-scale numbers."
        )
    return notes


def paper_notes() -> list[str]:
    return [
        f"'paper:' columns: {PAPER_LABEL}, published in arXiv 2511.12631 at the paper's own setting (generation "
        f"with mask and text); not measured here and never averaged with our runs. Sources: "
        f"{'; '.join(PAPER_SOURCES)}. An empty paper cell: the paper reports no such number."
    ]


def split_notes(rows: list[Row]) -> list[str]:
    """What each "[split k]" row's data split is, when the runs used several (metrics.json `data_split`)."""
    described: dict[str, str] = {}
    for row in rows:
        if SPLIT_KEY in row.params:
            record = next(((r.metrics or {}).get(DATA_SPLIT) for r in row.finished), None)
            described.setdefault(str(row.params[SPLIT_KEY]), describe_split(record))
    if not described:
        return []
    order = sorted(described, key=lambda number: (not number.isdigit(), int(number) if number.isdigit() else 0))
    splits = "; ".join(f"split {number} = {described[number]}" for number in order)
    return [f"The runs used different data splits (metrics.json data_split), never averaged together: {splits}."]


def modulation_notes(rows: list[Row]) -> list[str]:
    """Rows whose static path was modulated with the caption's pooled vector (not the default): their hard variant
    is then not the paper's text-blind one."""
    notes = []
    for row in rows:
        strategy = STRATEGIES.get(str(row.attention))
        used = {str(r.config.get("model.static_modulation")) for r in row.runs}
        with_caption = sorted(m for m in used if STATIC_MODULATIONS.get(m))
        if strategy is not None and strategy.static_mask and with_caption:
            notes.append(
                f"{row.label}: model.static_modulation={'/'.join(with_caption)}: the caption's pooled vector "
                "modulates the static (mask) path, which the default (reference_t) keeps free of the caption."
            )
    return notes


def skipped_note(skipped: list[Run]) -> list[str]:
    if not skipped:
        return []
    return [f"Left out (values not in the sweep file): {_names(r.name for r in skipped)}."]
