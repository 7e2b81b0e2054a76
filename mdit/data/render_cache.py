"""SynthFaces faces kept on disk once rendered, so later epochs and runs read them instead of drawing them again.

One file per (renderer version, resolution, first seed of a split), a fixed-size slot per seed:

    [crc32 u32][caption bytes u32][image R*R*3 uint8][label map R*R uint8][captions, utf-8, "\n"-joined]

A slot is valid only when its CRC matches its bytes, so a slot never written (a hole of the sparse file), half
written by a killed process, or cut short by a truncated file reads as missing and is rendered again. Rendering
is deterministic, so processes that fill the same slot at once (loader workers, DDP ranks, parallel runs) write
the same bytes. Reads and writes are pread/pwrite, not mmap: a full disk is an OSError (caching then stops, said
once in the log), never a SIGBUS. The folder name holds a digest of the renderer's source and numpy's version,
so a changed renderer never reads faces drawn by another.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import zlib
from functools import cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_U32 = struct.Struct("<I")
_HEADER = 2 * _U32.size  # a slot starts with the crc32 of the rest of it, then its caption byte count
CAPTION_BYTES = 4096  # room for a face's 10 captions (about 1.6 KB on average, 2.2 KB at most in 3,000 faces)
_RENDERER = ("attributes.py", "captions.py", "layout.py", "raster.py", "shading.py", "synthfaces.py")
Face = tuple[np.ndarray, np.ndarray, tuple[str, ...]]


@cache
def renderer_digest() -> str:
    """Digest of the SynthFaces renderer's source and numpy's version: what decides a face's bytes."""
    digest = hashlib.sha256(np.__version__.encode())
    for name in _RENDERER:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:12]


def slot_bytes(resolution: int) -> int:
    """Bytes one face takes in the cache file at ``resolution``."""
    return _HEADER + resolution * resolution * 4 + CAPTION_BYTES


def cache_file(folder: str | Path, resolution: int, start: int) -> Path:
    """The file holding faces of seeds ``start``, ``start`` + 1, ... at ``resolution`` under ``folder``."""
    return Path(folder) / f"renders-{renderer_digest()}" / f"{resolution}px-from-{start}.bin"


class RenderCache:
    """Faces of seeds [start, stop) at one resolution, read from and written to ``cache_file(folder, ...)``."""

    def __init__(self, folder: str | Path, resolution: int, start: int, stop: int) -> None:
        self.path = cache_file(folder, resolution, start)
        self.resolution, self.start, self.stop = resolution, start, stop
        self.slot = slot_bytes(resolution)
        self._fd: int | None = None
        self._pid = -1
        self.usable = True  # False after an OSError: faces are then rendered each time

    @property
    def nbytes(self) -> int:
        """The file's size once every face of the range is in it (sparse until then)."""
        return (self.stop - self.start) * self.slot

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": -1}  # a spawned loader worker opens its own descriptor

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), os.getpid()
        return self._fd

    def _give_up(self, error: OSError) -> None:
        self.usable = False
        log.warning("SynthFaces render cache %s not usable (%s): faces are rendered each time", self.path, error)

    def _offset(self, seed: int) -> int:
        if not self.start <= seed < self.stop:
            raise IndexError(f"seed {seed} is outside this cache's range [{self.start}, {self.stop})")
        return (seed - self.start) * self.slot

    def get(self, seed: int) -> Face | None:
        """(image [R, R, 3] uint8, label map [R, R] int64, captions) of ``seed``, or None if not (validly) held."""
        offset = self._offset(seed)
        if not self.usable:
            return None
        try:
            data = os.pread(self._descriptor(), self.slot, offset)
        except OSError as error:
            self._give_up(error)
            return None
        if len(data) < _HEADER:
            return None
        (crc,), (caption_bytes,) = _U32.unpack_from(data), _U32.unpack_from(data, _U32.size)
        end = _HEADER + self.resolution * self.resolution * 4 + caption_bytes
        if caption_bytes > CAPTION_BYTES or len(data) < end or zlib.crc32(data[_U32.size : end]) != crc:
            return None
        side, pixels = self.resolution, self.resolution * self.resolution
        body = np.frombuffer(data, np.uint8, count=pixels * 4, offset=_HEADER)
        image = body[: pixels * 3].reshape(side, side, 3).copy()
        mask = body[pixels * 3 :].reshape(side, side).astype(np.int64)
        captions = tuple(data[end - caption_bytes : end].decode().split("\n"))
        return image, mask, captions

    def put(self, seed: int, image: np.ndarray, mask: np.ndarray, captions: tuple[str, ...]) -> None:
        """Store one rendered face; a face whose captions overflow their room stays uncached (rendered each time)."""
        text = "\n".join(captions).encode()
        offset = self._offset(seed)
        if not self.usable or len(text) > CAPTION_BYTES:
            return
        body = _U32.pack(len(text)) + image.tobytes() + mask.astype(np.uint8).tobytes() + text
        try:
            os.pwrite(self._descriptor(), _U32.pack(zlib.crc32(body)) + body, offset)
        except OSError as error:  # a full disk, a read-only folder: go on rendering
            self._give_up(error)
