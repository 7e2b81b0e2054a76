"""The static K/V cache of the decoupled variants: written once per sample, read every step."""

from __future__ import annotations

import torch

KV = tuple[torch.Tensor, torch.Tensor]


class StaticKVCache:
    """Per-block keys and values of the mask tokens (after QK-norm and RoPE).

    The cache is in write mode until `store` fills it, then in read mode for good: a
    read-mode forward receives no mask tokens at all, so it cannot recompute the static
    path by construction. `writes` and `reads` count block entries, for tests and profiling.
    """

    def __init__(self) -> None:
        self._entries: list[KV] | None = None
        self.writes = 0
        self.reads = 0

    @property
    def mode(self) -> str:
        return "write" if self._entries is None else "read"

    def store(self, entries: list[KV]) -> None:
        """Fill the cache with one (k, v) per block; allowed once."""
        if self._entries is not None:
            raise RuntimeError("static cache already written; make a new StaticKVCache per sample")
        self._entries = list(entries)
        self.writes += len(entries)

    def load(self) -> list[KV]:
        """The per-block (k, v) entries, for one dynamic forward."""
        if self._entries is None:
            raise RuntimeError("static cache is empty: run a forward with the mask first (write mode)")
        self.reads += len(self._entries)
        return self._entries

    @property
    def nbytes(self) -> int:
        """Bytes held: blocks x 2 x batch x mask tokens x hidden x element size."""
        if self._entries is None:
            return 0
        return sum(k.nbytes + v.nbytes for k, v in self._entries)
