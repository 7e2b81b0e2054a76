"""The static K/V cache of the decoupled variants: written once per sample, read every step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

KV = tuple[torch.Tensor, torch.Tensor]


def per_block(entries: Mapping[str, Sequence[KV]]) -> list[tuple[KV, ...]]:
    """Several condition streams' per-block (k, v) as one tuple per block, in the streams' order: what a block
    attends to beside its own keys (no copy is made)."""
    return [tuple(kv) for kv in zip(*entries.values())]


class StaticKVCache:
    """Per-block keys and values of each condition's tokens (after QK-norm and RoPE), one entry per condition stream.

    The cache is in write mode until `store` fills it, then in read mode for good: a
    read-mode forward receives no condition tokens at all, so it cannot recompute the static
    path by construction. `writes` and `reads` count block entries, for tests and profiling.
    """

    def __init__(self) -> None:
        self._entries: dict[str, list[KV]] | None = None
        self.writes = 0
        self.reads = 0

    @property
    def mode(self) -> str:
        return "write" if self._entries is None else "read"

    @property
    def conditions(self) -> tuple[str, ...]:
        """The condition streams held, in the order their keys are read."""
        return tuple(self._entries or ())

    def store(self, entries: Mapping[str, Sequence[KV]] | Sequence[KV]) -> None:
        """Fill the cache with one (k, v) per block for each condition ({kind: entries}; a plain list is the mask's);
        allowed once."""
        if self._entries is not None:
            raise RuntimeError("static cache already written; make a new StaticKVCache per sample")
        named = entries if isinstance(entries, Mapping) else {"mask": entries}
        self._entries = {kind: list(kv) for kind, kv in named.items()}
        self.writes += sum(len(kv) for kv in self._entries.values())

    def entries(self, condition: str) -> list[KV]:
        """The per-block (k, v) of one condition's stream."""
        if self._entries is None or condition not in self._entries:
            raise KeyError(f"the static cache holds no {condition!r} stream; it holds {list(self.conditions)}")
        return self._entries[condition]

    def load(self) -> list[tuple[KV, ...]]:
        """Per block, the (k, v) of every condition stream, for one dynamic forward."""
        if self._entries is None:
            raise RuntimeError("static cache is empty: run a forward with the conditions first (write mode)")
        blocks = per_block(self._entries)
        self.reads += len(blocks)
        return blocks

    @property
    def nbytes(self) -> int:
        """Bytes held: blocks x 2 x batch x condition tokens (all streams) x hidden x element size."""
        if self._entries is None:
            return 0
        return sum(k.nbytes + v.nbytes for kv in self._entries.values() for k, v in kv)
