"""Strict image decoding: a truncated or damaged file is an error, never a grey-filled image."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, ImageFile

DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


@contextmanager
def strict_decoding() -> Iterator[None]:
    """Make PIL raise on truncated files even where a library set ``ImageFile.LOAD_TRUNCATED_IMAGES`` (pyiqa's AVA
    loader does at import): a truncated file must never load as a grey-filled image. Process-global while active."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
