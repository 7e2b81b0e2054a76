"""Learning curves of a local run, read from its offline W&B files: the run folder's only step-by-step history.

Training logs train/loss and val/loss through Lightning's WandbLogger; offline they sit in
`wandb/offline-run-*/run-*.wandb`, W&B's record log (32 KiB blocks of CRC-checked chunks holding protobuf
`Record`s, the LevelDB log layout). Reading stops at the first damaged chunk (a killed run) and keeps what came
before it. A W&B sweep's runs give the same curves through the public API instead (`api_history`).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

BLOCK, CHUNK_HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
FILE_HEADER = (b":W&B", 0xBEE1, 0)  # ident, magic, version
CURVES, STEP_KEY = ("train/loss", "val/loss"), "trainer/global_step"


def records(path: str | Path) -> Iterator[bytes]:
    """The serialized records of one .wandb file, up to the first damaged or truncated chunk."""
    data = Path(path).read_bytes()
    if len(data) < CHUNK_HEADER or struct.unpack("<4sHB", data[:CHUNK_HEADER]) != FILE_HEADER:
        return
    pos, pending = CHUNK_HEADER, b""
    while True:
        if BLOCK - pos % BLOCK < CHUNK_HEADER:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
        if pos + CHUNK_HEADER > len(data):
            return
        crc, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        chunk = data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length]
        if len(chunk) < length or zlib.crc32(bytes([kind]) + chunk) != crc:
            return
        pos += CHUNK_HEADER + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
        else:
            return


def history_rows(path: str | Path) -> list[dict[str, Any]]:
    """The history rows (one dict per logged step) of one .wandb file."""
    from wandb.proto import wandb_internal_pb2

    rows = []
    for data in records(path):
        record = wandb_internal_pb2.Record()
        try:
            record.ParseFromString(data)
        except Exception:  # a record of a newer layout: skip it, keep the rest
            continue
        if record.WhichOneof("record_type") == "history":
            rows.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
    return rows


def curves(rows: Iterable[dict[str, Any]], keys: Iterable[str] = CURVES) -> dict[str, list[tuple[int, float]]]:
    """key -> sorted (step, value) pairs; a step logged twice (a resumed run) keeps its last value."""
    out: dict[str, dict[int, float]] = {key: {} for key in keys}
    for row in rows:
        step = row.get(STEP_KEY, row.get("_step"))
        for key in out:
            value = row.get(key)
            if step is not None and isinstance(value, (int, float)):
                out[key][int(step)] = float(value)
    return {key: sorted(points.items()) for key, points in out.items()}


def local_history(run_folder: str | Path, keys: Iterable[str] = CURVES) -> dict[str, list[tuple[int, float]]]:
    """A local run's curves over all its offline W&B files (training, resumes), oldest first."""
    files = sorted(Path(run_folder).glob("wandb/offline-run-*/run-*.wandb"))
    return curves((row for f in files for row in history_rows(f)), keys)


def api_history(run: Any, keys: Iterable[str] = CURVES) -> dict[str, list[tuple[int, float]]]:
    """A W&B public-API run's curves (`run.scan_history`)."""
    keys = list(keys)
    return curves((row for key in keys for row in run.scan_history(keys=[STEP_KEY, key])), keys)
