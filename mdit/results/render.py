"""A Table as Markdown (for the README), CSV (machine-readable, full precision) and LaTeX (booktabs).

CSV layout: `<name>.csv` has one row per setting (mean, std and n of every measured column; the 95 % interval
of the quality columns with per-sample scores, and what it is over; the paired difference to the reference row
with its interval, p and Holm-adjusted p; the FLUX.1-dev scale and the paper's numbers in their own columns);
`<name>_runs.csv` one row per run with its raw values.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from mdit import atomic
from mdit.paper import PAPER_LABEL, paper_numbers
from mdit.results.columns import CONDITIONS, MEASURED, SAMPLING_COSTS
from mdit.results.layout import FLUX_GROUP, OURS, Cell, Section, Table
from mdit.results.rows import Row
from mdit.results.samples import PER_SAMPLE

SUPERSCRIPT = str.maketrans("0123456789,", "⁰¹²³⁴⁵⁶⁷⁸⁹'")
PAPER_KEYS = ("mask_accuracy", "clip_t", "topiq", "delta_tflops")
PROFILE_COLUMN, SMOKE_CELL = "profile", "smoke (numbers not meaningful)"


def _md_cell(cell: Cell) -> str:
    marks = ",".join(map(str, cell.marks)).translate(SUPERSCRIPT)
    return (cell.text + marks).replace("|", "\\|")


def _md_code(text: str) -> str:
    """A judge's message as a code span (it may hold <PLACEHOLDERS> that Markdown would take for HTML)."""
    return f"`{text}`" if "`" not in text else text.replace("<", "&lt;")


def _md_section(section: Section) -> list[str]:
    lines = [
        f"### {section.title}",
        "",
        "| " + " | ".join(h.flat for h in section.headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(section.headers) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in section.cells]
    return lines + [""]


def markdown(table: Table) -> str:
    """The table as Markdown: a heading (and a smoke table's warning), both sections, the n/a reasons, the notes."""
    lines = [f"## {table.title}", "", *([f"**{table.smoke}**", ""] if table.smoke else []), table.source, ""]
    for section in table.sections:
        lines += _md_section(section)
    if table.footnotes or table.notes:
        lines += ["Notes:", ""]
    for i, reason in enumerate(table.footnotes, 1):
        lines.append(f"- {str(i).translate(SUPERSCRIPT)} n/a: {_md_code(reason)}")
    lines += [f"- {note}" for note in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def csv_number(value: float | None) -> str:
    """A CSV cell in full precision; empty for no value."""
    return "" if value is None else repr(float(value))


def _params(table: Table) -> list[str]:
    return list(dict.fromkeys(k for row in table.rows for k in row.params))


def _profile(table: Table) -> dict[str, str]:
    """A smoke table's first CSV column (every row says its numbers mean nothing); nothing for any other table."""
    return {PROFILE_COLUMN: SMOKE_CELL} if table.smoke else {}


INTERVAL_FIELDS = ("ci_low", "ci_high", "ci_over")  # <metric>_ci_*: the cell's 95 % interval, over samples or seeds
PAIRED_FIELDS = ("diff", "diff_low", "diff_high", "p", "p_holm")  # <metric>_*: row - reference, paired


def _interval_record(row: Row) -> dict[str, Any]:
    """<metric>_ci_low/_ci_high/_ci_over of the row's cells with an interval (blank without)."""
    record: dict[str, Any] = {}
    for key in PER_SAMPLE:
        cell = row.intervals.get(key)
        interval = cell.interval if cell else None
        record[f"{key}_ci_low"] = csv_number(interval.low if interval else None)
        record[f"{key}_ci_high"] = csv_number(interval.high if interval else None)
        record[f"{key}_ci_over"] = cell.over if cell else ""
    return record


def _paired_record(table: Table, row: Row) -> dict[str, Any]:
    """The reference's label, and <metric>_diff/_diff_low/_diff_high/_p/_p_holm of the row against it."""
    paired = table.paired
    record: dict[str, Any] = {"reference": paired.reference if paired else ""}
    problems: dict[str, list[str]] = {}  # why -> the metrics it stops
    for key in PER_SAMPLE:
        c = paired.of(row.label, key) if paired else None
        result = c.paired if c else None
        record[f"{key}_diff"] = csv_number(result.mean_difference if result else None)
        record[f"{key}_diff_low"] = csv_number(result.low if result else None)
        record[f"{key}_diff_high"] = csv_number(result.high if result else None)
        record[f"{key}_p"] = csv_number(result.p_value if result else None)
        record[f"{key}_p_holm"] = csv_number(c.p_holm if c else None)
        if c and c.problem:
            problems.setdefault(c.problem, []).append(key)
    record["not_paired"] = "; ".join(f"{', '.join(keys)}: {why}" for why, keys in problems.items())
    return record


def write_csv(table: Table, path: Path) -> Path:
    """One row per setting: swept values, n, runs, <metric>_mean/_std/_n, the intervals (<metric>_ci_*), the paired
    differences (reference, <metric>_diff*, _p, _p_holm, not_paired), FLUX.1-dev scale, paper_*, n/a reasons (after
    a smoke table's `profile` column)."""
    params = _params(table)
    fields = [*_profile(table), "setting", *params, "eval_mode", "evaluation", "attention", "n", "runs"]
    fields += [f"{c.key}_{s}" for c in MEASURED + SAMPLING_COSTS + CONDITIONS for s in ("mean", "std", "n")]
    fields += [f"{key}_{s}" for key in PER_SAMPLE for s in INTERVAL_FIELDS]
    fields += ["reference", *(f"{key}_{s}" for key in PER_SAMPLE for s in PAIRED_FIELDS), "not_paired"]
    fields += ["flux_dev_delta_tflops", "flux_dev_delta_paper", *(f"paper_{k}" for k in PAPER_KEYS), "na_reasons"]
    records: list[dict[str, Any]] = []
    for row in table.rows:
        record: dict[str, Any] = {
            **_profile(table),
            "setting": row.label,
            **row.params,
            "eval_mode": row.mode,
            "evaluation": row.evaluation,
            "attention": row.attention,
            "n": len(row.finished),
            "runs": ";".join(r.name for r in row.finished),
        }
        for c in MEASURED + SAMPLING_COSTS + CONDITIONS:
            stat = row.stats[c.key]
            record.update(
                {f"{c.key}_mean": csv_number(stat.mean), f"{c.key}_std": csv_number(stat.std), f"{c.key}_n": stat.n}
            )
        record.update(_interval_record(row))
        record.update(_paired_record(table, row))
        flux = table.flux.of(*row.cost_setting) if table.flux else {}
        record["flux_dev_delta_tflops"] = csv_number(flux.get("delta_tflops"))
        record["flux_dev_delta_paper"] = csv_number(flux.get("delta_paper"))
        published = paper_numbers(row.paper_attention, row.evaluation)
        record.update({f"paper_{k}": csv_number(published.get(k)) for k in PAPER_KEYS})
        record["na_reasons"] = "; ".join(f"{c.key}: {r}" for c in MEASURED + CONDITIONS for r in row.stats[c.key].na)
        records.append(record)
    return write_records(path, fields, records)


def write_runs_csv(table: Table, path: Path) -> Path:
    """One row per run: its setting, seed, swept values and raw numbers (blank = missing or n/a)."""
    params = _params(table)
    fields = [
        *_profile(table),
        "setting",
        "run",
        "seed",
        *params,
        "eval_mode",
        "evaluation",
        *(c.key for c in MEASURED + CONDITIONS),
    ]
    fields += ["problem", "na_reasons"]
    records = []
    for row in table.rows:
        for run in row.runs:
            values = {c.key: c.value(run.metrics, row.evaluation) for c in MEASURED + CONDITIONS}
            records.append(
                {
                    **_profile(table),
                    "setting": row.label,
                    "run": run.name,
                    "seed": run.seed,
                    **row.params,
                    "eval_mode": row.mode,
                    "evaluation": row.evaluation,
                    **{k: csv_number(v.number) for k, v in values.items()},
                    "problem": run.problem or "",
                    "na_reasons": "; ".join(f"{k}: {v.na}" for k, v in values.items() if v.na),
                }
            )
    return write_records(path, fields, records)


def write_records(path: Path, fields: list[str], records: list[dict[str, Any]]) -> Path:
    """A CSV of `records` (dicts) with the columns `fields`, written atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)

    return atomic.write_with(path, write)


TEX_GROUPS = {
    OURS: "ours (this sweep's runs)",
    FLUX_GROUP: r"FLUX.1-dev scale (\texttt{mdit flops})",
    PAPER_LABEL: "paper (MM-CelebA, FLUX.1-dev)",
}
TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "×": r"$\times$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "÷": r"$\div$",
    "—": "---",
}


def tex_escape(text: str) -> str:
    """Plain text as LaTeX; `code` spans become \\texttt."""
    parts = re.split(r"`([^`]*)`", text)
    out = []
    for i, part in enumerate(parts):
        escaped = "".join(TEX_SPECIAL.get(ch, ch) for ch in part)
        out.append(rf"\texttt{{{escaped}}}" if i % 2 else escaped)
    return "".join(out)


def _tex_cell(cell: Cell) -> str:
    marks = f"$^{{{','.join(map(str, cell.marks))}}}$" if cell.marks else ""
    return tex_escape(cell.text) + marks


def _tex_section(table: Table, section: Section, label: str) -> list[str]:
    headers = section.headers
    groups: list[tuple[str, int, int]] = []  # (group, first column, last column), 1-based
    for i, header in enumerate(headers, 1):
        if groups and groups[-1][0] == header.group:
            groups[-1] = (header.group, groups[-1][1], i)
        else:
            groups.append((header.group, i, i))
    top = " & ".join(
        rf"\multicolumn{{{b - a + 1}}}{{c}}{{{TEX_GROUPS.get(g, tex_escape(g))}}}"
        if g
        else " & ".join([""] * (b - a + 1))
        for g, a, b in groups
    )
    rules = " ".join(rf"\cmidrule(lr){{{a}-{b}}}" for g, a, b in groups if g)
    lines = [
        r"\begin{table}[t]",
        r"\centering\small",
        rf"\caption{{{tex_escape(table.title)}: {tex_escape(section.title)}}}",
        rf"\label{{tab:{re.sub(r'[^A-Za-z0-9]+', '-', table.name)}-{label}}}",
        r"\begin{tabular}{l" + "r" * (len(headers) - 1) + "}",
        r"\toprule",
        top + r" \\",
        rules,
        " & ".join(tex_escape(h.label) for h in headers) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(_tex_cell(c) for c in row) + r" \\" for row in section.cells]
    return lines + [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]


def latex(table: Table) -> str:
    """Every section as a booktabs table (\\usepackage{booktabs}), a smoke table's warning, the footnotes and notes in
    a small paragraph."""
    lines = [f"% {table.title}: {table.source} (written by `mdit table`; needs \\usepackage{{booktabs}})", ""]
    for section in table.sections:
        lines += _tex_section(table, section, section.label)
    notes = [rf"\textbf{{{tex_escape(table.smoke)}}}"] if table.smoke else []
    notes += [f"$^{{{i}}}$ n/a: {tex_escape(reason)}" for i, reason in enumerate(table.footnotes, 1)]
    notes += [tex_escape(note) for note in table.notes]
    if notes:
        lines += [r"\begin{flushleft}\footnotesize", *(f"{note}\\par" for note in notes), r"\end{flushleft}"]
    return "\n".join(lines) + "\n"
