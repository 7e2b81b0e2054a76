"""SynthFaces faces kept on disk once rendered, so later epochs and runs read them instead of drawing them again.

One file per (renderer version, resolution, first seed of a split), a fixed-size slot per seed:

    [crc32 u32][caption bytes u32][image R*R*3 uint8][label map R*R uint8][sketch R*R uint8, ink * 255]
    [keypoints 20*3 float32 little-endian][captions, utf-8, "\n"-joined]

The sketch is stored as 255 levels of ink: exact for SynthFaces' binary sketches.

The CRC covers the seed, the resolution and the rest of the slot, so a slot never written (a hole of the sparse
file), half written by a killed process, cut short by a truncated file or read at another seed's offset reads as
missing and is rendered again. Rendering is deterministic, so processes that fill the same slot at once (loader
workers, DDP ranks, parallel runs) write the same bytes. Reads and writes are pread/pwrite, not mmap: a full disk
is an OSError (writing then stops, with a warning from each process), never a SIGBUS; a read-only cache is read.
The folder name holds a digest of the renderer's source, this layout and numpy's version, so a changed renderer
never reads faces drawn by another. Old folders are not removed. A cache shared by several machines holds the
bytes of whichever rendered a face first (rendering is bit-identical across processes, not claimed across CPUs).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import zlib
from functools import cache
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from mdit import keypoints, labels
from mdit.keypoints import NUM_KEYPOINTS

log = logging.getLogger(__name__)

LAYOUT = 2  # the slot layout above: part of the folder's digest
_U32 = struct.Struct("<I")
_KEY = struct.Struct("<QI")  # seed, resolution: hashed into each slot's CRC, not stored
_HEADER = 2 * _U32.size
_KEYPOINT_BYTES = NUM_KEYPOINTS * 3 * 4
_KEYPOINT_DTYPE = np.dtype("<f4")
CAPTION_BYTES = 4096  # room for a face's 10 captions (about 1.6 KB on average, 2.2 KB at most in 3,000 faces)
_RENDERER = (
    "attributes.py",
    "captions.py",
    "layout.py",
    "raster.py",
    "shading.py",
    "sketch.py",
    "landmarks.py",
    "face.py",
)


class CachedFace(NamedTuple):
    """What the cache holds of a face: the rendered SynthFace less its attributes."""

    image: np.ndarray  # uint8 [R, R, 3]
    mask: np.ndarray  # int64 [R, R]
    captions: tuple[str, ...]
    sketch: np.ndarray  # float32 [R, R] in [0, 1]
    keypoints: np.ndarray  # float32 [20, 3]


class Storable(Protocol):
    """A face to store: a SynthFace or a CachedFace."""

    image: np.ndarray
    mask: np.ndarray
    captions: tuple[str, ...]
    sketch: np.ndarray
    keypoints: np.ndarray


@cache
def renderer_digest() -> str:
    """Digest of the SynthFaces renderer's source, the cache layout and numpy's version: what decides the bytes."""
    digest = hashlib.sha256(f"{np.__version__} {LAYOUT}".encode())
    sources = [*(Path(__file__).parent / name for name in _RENDERER), Path(labels.__file__), Path(keypoints.__file__)]
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _pixel_bytes(resolution: int) -> int:
    return resolution * resolution * 5  # image, label map, sketch


def slot_bytes(resolution: int) -> int:
    """Bytes one face takes in the cache file at ``resolution``."""
    return _HEADER + _pixel_bytes(resolution) + _KEYPOINT_BYTES + CAPTION_BYTES


def cache_file(folder: str | Path, resolution: int, start: int) -> Path:
    """The file holding faces of seeds ``start``, ``start`` + 1, ... at ``resolution`` under ``folder``."""
    return Path(folder) / f"renders-{renderer_digest()}" / f"{resolution}px-from-{start}.bin"


class RenderCache:
    """Faces of seeds [start, stop) at one resolution, read from and written to ``cache_file(folder, ...)``.

    Any OSError turns off what failed (writing, or the whole cache): faces are then rendered, never lost.
    """

    def __init__(self, folder: str | Path, resolution: int, start: int, stop: int) -> None:
        self.path = cache_file(folder, resolution, start)
        self.resolution, self.start, self.stop = resolution, start, stop
        self.slot = slot_bytes(resolution)
        self.readable = self.writable = True
        self._fd: int | None = None
        self._pid = -1

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": -1}  # a spawned loader worker opens its own descriptor

    def __del__(self, _getpid=os.getpid, _close=os.close) -> None:  # bound early: `os` may be gone at exit
        if getattr(self, "_fd", None) is not None and self._pid == _getpid():
            _close(self._fd)

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = None, os.getpid()
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:  # a read-only folder or file: read what is there
                self._stop_writing(error)
                self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def _stop_writing(self, error: OSError) -> None:
        if self.writable:
            self.writable = False
            log.warning("SynthFaces render cache %s: not written (%s); faces not in it are rendered", self.path, error)

    def _offset(self, seed: int) -> int:
        if not self.start <= seed < self.stop:
            raise IndexError(f"seed {seed} is outside this cache's range [{self.start}, {self.stop})")
        return (seed - self.start) * self.slot

    def _crc(self, seed: int, body: bytes | memoryview) -> int:
        return zlib.crc32(body, zlib.crc32(_KEY.pack(seed, self.resolution)))

    def get(self, seed: int) -> CachedFace | None:
        """The face of ``seed`` as it was rendered, or None if not (validly) held."""
        offset = self._offset(seed)
        if not self.readable:
            return None
        try:
            data = os.pread(self._descriptor(), self.slot, offset)
        except OSError as error:  # no file to read, or it cannot be read: render everything
            self.readable = False
            self._stop_writing(error)
            return None
        if len(data) < _HEADER:
            return None
        (crc,), (caption_bytes,) = _U32.unpack_from(data), _U32.unpack_from(data, _U32.size)
        fixed = _HEADER + _pixel_bytes(self.resolution) + _KEYPOINT_BYTES
        end = fixed + caption_bytes
        if caption_bytes > CAPTION_BYTES or len(data) < end:
            return None
        if self._crc(seed, memoryview(data)[_U32.size : end]) != crc:
            return None
        side, pixels = self.resolution, self.resolution * self.resolution
        body = np.frombuffer(data, np.uint8, count=pixels * 5, offset=_HEADER)
        keypoint_values = np.frombuffer(data, _KEYPOINT_DTYPE, count=NUM_KEYPOINTS * 3, offset=_HEADER + pixels * 5)
        return CachedFace(
            image=body[: pixels * 3].reshape(side, side, 3).copy(),
            mask=body[pixels * 3 : pixels * 4].reshape(side, side).astype(np.int64),
            captions=tuple(data[fixed:end].decode().split("\n")),
            sketch=body[pixels * 4 :].reshape(side, side).astype(np.float32) / np.float32(255.0),
            keypoints=keypoint_values.reshape(NUM_KEYPOINTS, 3).astype(np.float32),
        )

    def put(self, seed: int, face: Storable) -> None:
        """Store one rendered face; a face whose captions overflow their room stays uncached (rendered each time)."""
        text = "\n".join(face.captions).encode()
        offset = self._offset(seed)
        if not self.writable or len(text) > CAPTION_BYTES:
            return
        ink = np.rint(np.asarray(face.sketch, dtype=np.float32) * np.float32(255.0)).astype(np.uint8)
        body = b"".join(
            (
                _U32.pack(len(text)),
                np.ascontiguousarray(face.image, dtype=np.uint8).tobytes(),
                np.asarray(face.mask).astype(np.uint8).tobytes(),
                ink.tobytes(),
                np.asarray(face.keypoints, dtype=_KEYPOINT_DTYPE).tobytes(),
                text,
            )
        )
        slot = _U32.pack(self._crc(seed, body)) + body
        try:
            if os.pwrite(self._descriptor(), slot, offset) != len(slot):
                raise OSError(f"wrote part of face {seed} (disk full?)")
        except OSError as error:  # a full disk, a read-only folder: go on rendering
            self._stop_writing(error)
