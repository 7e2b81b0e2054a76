"""SynthFaces throughput on one CPU core, per resolution: render(), SynthFacesDataset.__getitem__, and
__getitem__ reading faces already in a render cache (a later epoch or run; in a temporary folder).

Usage: .venv/bin/python benchmarks/bench_synthfaces.py [--seconds 3] [--resolutions 32 64 128 256 512]
Prints a Markdown table (samples/s; higher is better).
"""

from __future__ import annotations

import argparse
import functools
import platform
import tempfile
import time
from collections.abc import Callable

import torch

from mdit.data.synthfaces import render
from mdit.data.synthfaces.dataset import SynthFacesDataset

CACHED_FACES = 64  # rendered into the cache first, then read in turn


def rate(step: Callable[[int], object], seconds: float) -> float:
    """Calls per second of ``step(i)`` for i = 0, 1, ... over about ``seconds`` (after one warm-up call)."""
    step(0)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step(count + 1)
        count += 1
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per resolution and path")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"SynthFaces throughput, 1 thread, {platform.processor() or platform.machine()}, {args.seconds:g} s per cell\n"
    )
    print("| resolution | render samples/s | ms/sample | dataset __getitem__ samples/s | from the render cache |")
    print("|---:|---:|---:|---:|---:|")
    for resolution in args.resolutions:
        dataset = SynthFacesDataset(0, 1_000_000, resolution=resolution, flip_p=0.5)
        rendered = rate(functools.partial(render, resolution=resolution), args.seconds)
        loaded = rate(dataset.__getitem__, args.seconds)
        with tempfile.TemporaryDirectory() as folder:
            cached = SynthFacesDataset(0, CACHED_FACES, resolution=resolution, flip_p=0.5, cache_dir=folder)
            for index in range(CACHED_FACES):
                cached[index]
            from_cache = rate(lambda i: cached[i % CACHED_FACES], args.seconds)  # noqa: B023 (called right here)
        print(f"| {resolution} | {rendered:,.0f} | {1000 / rendered:.2f} | {loaded:,.0f} | {from_cache:,.0f} |")


if __name__ == "__main__":
    main()
