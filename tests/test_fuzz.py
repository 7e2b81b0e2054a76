"""Property-based fuzzing (hypothesis) of the input parsers: label-map PNGs, captions and the config loader.

Every property has the same shape: ANY input yields either a valid result (checked against an oracle or the
documented invariants) or one of the documented errors (MaskError / ValueError / TypeError / FileNotFoundError /
ConfigError), never an exception of another kind. Runs are derandomized (no example database), so a failure
is reproducible in CI and hypothesis prints the minimal failing input.
"""

from __future__ import annotations

import functools
import io
import math
import re
import struct
import traceback
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, Phase, assume, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from mdit.conditioning import CaptionTruncatedWarning, EmbeddedTextConditioner, normalise_captions
from mdit.conditioning.local import resolve_dtype
from mdit.conditioning.mask import PALETTE_UNIT, mask_to_image, validate_label_maps
from mdit.config import (
    DATASETS,
    EVAL_MODES,
    FINETUNE_MODES,
    ON_CORRUPT,
    ON_MISSING,
    SPLIT_SOURCES,
    SPLITS,
    TRAIN_STRATEGIES,
    WANDB_MODES,
    ConfigError,
    ExperimentConfig,
    load_config,
)
from mdit.data.mm_celeba import clean_caption, read_captions
from mdit.labels import (
    FLIP_PAIRS,
    NUM_CLASSES,
    PALETTE,
    MaskError,
    color_to_label_map,
    flip_label_map,
    remap,
    validate_label_map,
)
from mdit.masks import read_mask, write_mask
from mdit.variants import STATIC_MODULATIONS, STRATEGIES

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink),  # no coverage-traced "explain" phase: slow
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

COLOUR_TO_ID = {tuple(int(c) for c in colour): index for index, colour in enumerate(PALETTE)}
SWAP = dict(FLIP_PAIRS) | {b: a for a, b in FLIP_PAIRS}
FLIP_LUT = np.array([SWAP.get(i, i) for i in range(NUM_CLASSES)])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _png_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _assert_label_map(mask: torch.Tensor) -> None:
    assert isinstance(mask, torch.Tensor) and mask.dtype == torch.int64 and mask.ndim == 2
    assert mask.numel() > 0 and int(mask.min()) >= 0 and int(mask.max()) < NUM_CLASSES


# ----------------------------------------------------------------------------------------------------------------
# Masks: mdit.masks.read_mask / write_mask
# ----------------------------------------------------------------------------------------------------------------

sizes = st.tuples(st.integers(1, 9), st.integers(1, 9))
MASK_KINDS = ("L", "LA", "I;16", "I/tiff", "RGB", "RGBA", "P", "PA/tiff", "1", "F/tiff")


@st.composite
def encoded_masks(draw: st.DrawFn) -> tuple[str, bytes, np.ndarray | None]:
    """(kind, file bytes, the ids read_mask must return or None when it must raise MaskError).

    Values are mostly valid (ids, palette colours) with some pixels corrupted, so both outcomes are common.
    """
    kind = draw(st.sampled_from(MASK_KINDS))
    h, w = draw(sizes)
    ids = draw(arrays(np.int64, (h, w), elements=st.integers(0, NUM_CLASSES - 1)))
    corrupt = draw(st.booleans())

    def maybe_corrupt(values: np.ndarray, elements: st.SearchStrategy) -> np.ndarray:
        if corrupt:
            values = values.copy()
            flat = values.reshape(-1, *values.shape[2:])
            index = draw(st.integers(0, flat.shape[0] - 1))
            flat[index] = draw(elements)
        return values

    if kind in ("L", "LA", "I;16", "I/tiff"):
        dtype, low, high = {
            "L": (np.uint8, 0, 255),
            "LA": (np.uint8, 0, 255),
            "I;16": (np.uint16, 0, 65535),
            "I/tiff": (np.int32, -(2**31), 2**31 - 1),
        }[kind]
        values = maybe_corrupt(ids.astype(dtype), st.one_of(st.integers(NUM_CLASSES, high), st.integers(low, high)))
        array = values
        if kind == "LA":
            alpha = draw(arrays(np.uint8, (h, w)))
            array = np.stack([values, alpha], axis=-1)
        data = _png_bytes(Image.fromarray(array), "TIFF" if kind.endswith("/tiff") else "PNG")
        expected = values.astype(np.int64) if values.min() >= 0 and values.max() < NUM_CLASSES else None
        return kind, data, expected
    if kind in ("RGB", "RGBA"):
        colours = maybe_corrupt(PALETTE[ids], arrays(np.uint8, (3,)))
        array = colours
        if kind == "RGBA":
            array = np.concatenate([colours, draw(arrays(np.uint8, (h, w, 1)))], axis=-1)
        found = [COLOUR_TO_ID.get(tuple(int(c) for c in colour)) for colour in colours.reshape(-1, 3)]
        expected = None if None in found else np.array(found, dtype=np.int64).reshape(h, w)
        return kind, _png_bytes(Image.fromarray(array)), expected
    if kind in ("P", "PA/tiff"):
        palette_size = draw(st.one_of(st.integers(1, NUM_CLASSES), st.integers(NUM_CLASSES + 1, 64)))
        palette = draw(
            st.lists(
                st.one_of(
                    st.sampled_from([tuple(int(c) for c in colour) for colour in PALETTE]),
                    st.tuples(*[st.integers(0, 255)] * 3),
                ),
                min_size=palette_size,
                max_size=palette_size,
            )
        )
        indices = draw(arrays(np.uint8, (h, w), elements=st.integers(0, palette_size - 1)))
        image = Image.fromarray(indices)
        if kind == "PA/tiff":
            image = Image.fromarray(np.stack([indices, draw(arrays(np.uint8, (h, w)))], axis=-1))
        image.putpalette(bytes(c for colour in palette for c in colour))
        assert image.mode == kind[:2].rstrip("/")
        data = _png_bytes(image, "TIFF" if kind.endswith("/tiff") else "PNG")
        rendered = [COLOUR_TO_ID.get(palette[i]) for i in indices.reshape(-1)]
        if None not in rendered:
            expected = np.array(rendered, dtype=np.int64).reshape(h, w)
        elif indices.max() < NUM_CLASSES:
            expected = indices.astype(np.int64)
        else:
            expected = None
        return kind, data, expected
    if kind == "1":
        return kind, _png_bytes(Image.fromarray(ids.astype(bool))), None
    return kind, _png_bytes(Image.fromarray(ids.astype(np.float32)), "TIFF"), None  # F: unsupported mode


@settings(FUZZ, max_examples=200)
@given(encoded=encoded_masks(), resolution=st.one_of(st.none(), st.integers(-2, 10)))
def test_read_mask_of_any_encoded_array_is_exact_or_mask_error(workdir, encoded, resolution):
    """Every encoding read_mask documents decodes to exactly the ids written; anything else is MaskError."""
    kind, data, expected = encoded
    event(f"{kind}: {'ids' if expected is not None else 'MaskError'}")
    path = workdir / "encoded.png"
    path.write_bytes(data)
    if resolution is not None and resolution < 1:
        with pytest.raises(ValueError, match="resolution"):
            read_mask(path, resolution)
        return
    if expected is not None and resolution is not None and expected.shape != (resolution, resolution):
        expected = None  # a size mismatch is an error: masks are never resized
    if expected is None:
        with pytest.raises(MaskError, match=re.escape(str(path))):
            read_mask(path, resolution)
        return
    mask = read_mask(path, resolution)
    _assert_label_map(mask)
    assert np.array_equal(mask.numpy(), expected), kind


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@st.composite
def structured_pngs(draw: st.DrawFn) -> bytes:
    """PNG files with valid CRCs and arbitrary header fields, palette, transparency and pixel data: these get past
    the signature and checksum checks and exercise every decoder path of Pillow's PNG plugin."""
    width, height = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    depth = draw(st.one_of(st.sampled_from([1, 2, 4, 8, 16]), st.integers(0, 255)))
    colour = draw(st.one_of(st.sampled_from([0, 2, 3, 4, 6]), st.integers(0, 255)))
    interlace = draw(st.one_of(st.just(0), st.just(1), st.integers(0, 255)))
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    chunks = [_chunk(b"IHDR", header)]
    if draw(st.booleans()):
        chunks.append(_chunk(b"PLTE", draw(st.one_of(st.binary(max_size=60), st.just(PALETTE.tobytes())))))
    if draw(st.booleans()):
        chunks.append(_chunk(b"tRNS", draw(st.binary(max_size=12))))
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 1)
    row = math.ceil(width * channels * max(depth, 1) / 8)
    raw = draw(
        st.one_of(
            st.lists(
                st.tuples(st.integers(0, 4), st.binary(min_size=row, max_size=row)), min_size=height, max_size=height
            ).map(lambda rows: b"".join(bytes([f]) + r for f, r in rows)),
            st.binary(max_size=80),
        )
    )
    idat = zlib.compress(raw)
    if draw(st.booleans()):
        idat = idat[: draw(st.integers(0, len(idat)))]  # truncated stream
    chunks.append(_chunk(b"IDAT", idat))
    if draw(st.booleans()):
        chunks.append(_chunk(b"IEND", b""))
    return PNG_SIGNATURE + b"".join(chunks)


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A valid mask file in some format, then truncated or with a few bytes overwritten."""
    fmt = draw(st.sampled_from(["PNG", "TIFF", "BMP", "GIF", "JPEG", "WEBP", "PPM", "TGA"]))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA"]))
    ids = draw(arrays(np.int64, draw(sizes), elements=st.integers(0, NUM_CLASSES - 1)))
    array = {"L": ids.astype(np.uint8), "RGB": PALETTE[ids]}.get(mode)
    if array is None:
        array = np.concatenate([PALETTE[ids], np.full((*ids.shape, 1), 255, np.uint8)], axis=-1)
    try:
        data = bytearray(_png_bytes(Image.fromarray(array), fmt))
    except (OSError, KeyError, ValueError):
        assume(False)
    for _ in range(draw(st.integers(0, 3))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")  # "Corrupt EXIF data" of mutated TIFFs
@settings(FUZZ, max_examples=250)
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=120).map(lambda tail: PNG_SIGNATURE + tail),
        structured_pngs(),
        mutated_files(),
    )
)
def test_read_mask_of_arbitrary_bytes_is_a_label_map_or_mask_error(workdir, data):
    path = workdir / "bytes.png"
    path.write_bytes(data)
    try:
        mask = read_mask(path)
    except MaskError as err:
        event("MaskError")
        assert str(path) in str(err)
    else:
        event("label map")
        _assert_label_map(mask)


@settings(FUZZ, max_examples=25)
@given(name=st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=20))
def test_read_mask_of_a_missing_file_is_file_not_found(workdir, name):
    path = workdir / "missing" / f"m{name}"
    with pytest.raises(FileNotFoundError):
        read_mask(path)


INT_DTYPES = (np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64)


@settings(FUZZ, max_examples=80)
@given(
    ids=arrays(np.int64, st.tuples(st.integers(1, 16), st.integers(1, 16)), elements=st.integers(0, NUM_CLASSES - 1)),
    dtype=st.sampled_from(INT_DTYPES),
    as_tensor=st.booleans(),
    palette=st.booleans(),
)
def test_valid_maps_round_trip_exactly_through_write_and_read(workdir, ids, dtype, as_tensor, palette):
    mask = ids.astype(dtype)
    given_mask = torch.from_numpy(mask) if as_tensor else mask
    path = write_mask(workdir / "round" / "mask.png", given_mask, palette=palette)
    with Image.open(path) as image:
        assert image.mode == ("RGB" if palette else "L")
    back = read_mask(path, resolution=ids.shape[0] if ids.shape[0] == ids.shape[1] else None)
    _assert_label_map(back)
    assert np.array_equal(back.numpy(), ids)


any_numpy_arrays = st.one_of(
    arrays(
        st.sampled_from([*INT_DTYPES, np.bool_, np.float16, np.float32, np.float64, np.complex64]),
        st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple),
    ),
    arrays(np.int64, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=st.integers(-3, NUM_CLASSES + 3)),
)


def _is_valid_map(array: np.ndarray) -> bool:
    return (
        np.issubdtype(array.dtype, np.integer)
        and array.ndim == 2
        and array.size > 0
        and bool((array >= 0).all() and (array < NUM_CLASSES).all())
    )


@settings(FUZZ, max_examples=120)
@given(array=any_numpy_arrays, palette=st.booleans())
def test_write_mask_of_any_array_writes_a_valid_map_or_raises_mask_error_without_a_file(workdir, array, palette):
    path = workdir / "any" / f"mask-{palette}.png"
    path.unlink(missing_ok=True)
    if not _is_valid_map(array):
        with pytest.raises(MaskError):
            write_mask(path, array, palette=palette)
        assert not path.exists()
        return
    write_mask(path, array, palette=palette)
    assert np.array_equal(read_mask(path).numpy(), array.astype(np.int64))


@settings(FUZZ, max_examples=120)
@given(array=any_numpy_arrays, as_tensor=st.booleans())
@example(array=np.array(0, dtype=np.uint8), as_tensor=False)  # 0-d: IndexError from mask[:, ::-1]
@example(array=np.zeros(3, dtype=np.int64), as_tensor=False)  # one row [W]: IndexError
def test_flip_of_any_array_is_an_involution_that_swaps_sides_or_mask_error(array, as_tensor):
    """flip_label_map mirrors and swaps l/r ids of any valid map (numpy or torch, any integer dtype) and
    rejects everything else with MaskError, like every other label-map function."""
    mask = torch.from_numpy(np.ascontiguousarray(array)) if as_tensor else array
    if not _is_valid_map(array):
        with pytest.raises(MaskError):
            flip_label_map(mask)
        return
    flipped = flip_label_map(mask)
    assert type(flipped) is type(mask) and flipped.dtype == mask.dtype and flipped.shape == mask.shape
    flipped_np = flipped.numpy() if as_tensor else flipped
    assert np.array_equal(flipped_np, FLIP_LUT[array[:, ::-1].astype(np.int64)])
    again = flip_label_map(flipped)
    assert np.array_equal(again.numpy() if as_tensor else again, array)


@settings(FUZZ, max_examples=100)
@given(array=any_numpy_arrays, as_tensor=st.booleans(), table=st.permutations(range(NUM_CLASSES)))
def test_validate_and_remap_of_any_array_by_any_permutation(array, as_tensor, table):
    """validate_label_map accepts exactly the valid maps (else MaskError); remap applies the table id by id, keeps
    the array kind and dtype, and the inverse permutation undoes it."""
    mask = torch.from_numpy(np.ascontiguousarray(array)) if as_tensor else array
    if not _is_valid_map(array):
        with pytest.raises(MaskError):
            validate_label_map(mask)
        with pytest.raises(MaskError):
            remap(mask, table)
        return
    validate_label_map(mask)
    mapped = remap(mask, table)
    assert type(mapped) is type(mask) and mapped.dtype == mask.dtype and mapped.shape == mask.shape
    mapped_np = mapped.numpy() if as_tensor else mapped
    assert np.array_equal(mapped_np, np.asarray(table)[array.astype(np.int64)])
    inverse = [0] * NUM_CLASSES
    for source, target in enumerate(table):
        inverse[target] = source
    back = remap(mapped, inverse)
    assert np.array_equal(back.numpy() if as_tensor else back, array)


TORCH_DTYPES = (
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint16,
    torch.uint32,
    torch.uint64,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.complex64,
)


@settings(FUZZ, max_examples=120)
@given(
    ids=arrays(np.int64, st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), elements=st.integers(-2, 21)),
    dtype=st.sampled_from(TORCH_DTYPES),
)
@example(ids=np.zeros((1, 1, 1), dtype=np.int64), dtype=torch.uint16)  # NotImplementedError: "lt_cpu" for UInt16
def test_validate_label_maps_and_mask_to_image_of_any_tensor(ids, dtype):
    """A [B, H, W] batch of any integer dtype -> palette image in [-1, 1]; anything else -> MaskError.

    uint16/uint32/uint64 are what torch.from_numpy gives for a 16/32/64-bit label PNG read with numpy.
    """
    integer = not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)
    if integer and torch.iinfo(dtype).min == 0:
        ids = ids.clip(0, None)  # unsigned: no negative ids
    mask = torch.from_numpy(ids).to(dtype)
    valid = integer and ids.ndim == 3 and bool((ids >= 0).all() and (ids < NUM_CLASSES).all())
    if not valid:
        with pytest.raises(MaskError):
            validate_label_maps(mask)
        with pytest.raises(MaskError):
            mask_to_image(mask)
        return
    validate_label_maps(mask)
    image = mask_to_image(mask)
    assert image.shape == (ids.shape[0], 3, *ids.shape[1:]) and image.dtype == torch.float32
    assert torch.equal(image, PALETTE_UNIT[torch.from_numpy(ids)].permute(0, 3, 1, 2))
    assert float(image.min()) >= -1.0 and float(image.max()) <= 1.0


@settings(FUZZ, max_examples=150)
@given(
    rgb=st.one_of(
        arrays(
            np.int64,
            st.tuples(st.integers(1, 4), st.integers(1, 4), st.just(3)),
            elements=st.one_of(
                st.sampled_from(sorted({int(c) for c in PALETTE.ravel()})),
                st.integers(-(2**20), 2**20),
                st.sampled_from([204 << 8, 255 << 8, 153 << 8]),
            ),
        ),
        arrays(
            st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.bool_]),
            st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple),
        ),
    )
)
@example(rgb=np.array([[[0, 204 << 8, 0]]]))  # packs to (204, 0, 0), skin: accepted though not a palette colour
def test_color_to_label_map_accepts_exactly_the_palette_colours(rgb):
    """Any colour not in PALETTE is a MaskError (the docstring's contract), whatever the integer dtype."""
    try:
        labels = color_to_label_map(rgb)
    except MaskError:
        in_palette = rgb.ndim == 3 and rgb.shape[2] == 3 and np.issubdtype(rgb.dtype, np.integer)
        if in_palette:
            in_palette = all(tuple(int(c) for c in colour) in COLOUR_TO_ID for colour in rgb.reshape(-1, 3))
        assert not in_palette, "a palette image was rejected"
    else:
        assert labels.dtype == np.int64 and labels.shape == rgb.shape[:2]
        validate_label_map(labels)
        assert np.array_equal(PALETTE[labels].astype(np.int64), rgb.astype(np.int64)), (
            "a non-palette colour was accepted"
        )


# ----------------------------------------------------------------------------------------------------------------
# Captions: normalise_captions, clean_caption, read_captions, the embedded text conditioner
# ----------------------------------------------------------------------------------------------------------------

# any code point: controls, unassigned, and lone surrogates (what argv holds for non-UTF-8 bytes: surrogateescape)
all_text = st.text(st.one_of(st.characters(codec=None), st.characters(categories=["Cs"])), max_size=40)
spacey_text = st.text(
    st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000\ufeff\u200b\ufffdaZé1.,")), max_size=12
)
caption_items = st.one_of(all_text, spacey_text, st.none(), st.integers(), st.floats(), st.binary(max_size=4))


@settings(FUZZ, max_examples=200)
@given(
    captions=st.one_of(
        st.lists(st.one_of(all_text, spacey_text), max_size=4),
        st.lists(caption_items, max_size=4),
        st.lists(st.one_of(all_text, spacey_text), max_size=4).map(tuple),
        all_text,
        st.none(),
        st.integers(),
        st.binary(max_size=4),
        st.dictionaries(all_text, st.integers(), max_size=2),
    )
)
def test_normalise_captions_returns_the_batch_or_type_or_value_error(captions):
    iterable = isinstance(captions, (list, tuple, dict, bytes))
    items = list(captions) if iterable else None
    if isinstance(captions, str) or not iterable or any(not isinstance(c, str) for c in items):
        with pytest.raises(TypeError):
            normalise_captions(captions)
        return
    if not items:
        with pytest.raises(ValueError):
            normalise_captions(captions)
        return
    out = normalise_captions(captions)
    assert isinstance(out, list) and len(out) == len(items) and all(type(c) is str for c in out)
    for given_caption, caption in zip(items, out):
        assert caption == ("" if not given_caption.strip() else given_caption)


def _assert_clean(caption: str) -> None:
    assert isinstance(caption, str)
    assert caption == caption.strip() and "  " not in caption and "\ufffd" not in caption
    assert all(ch == " " or not ch.isspace() for ch in caption)
    assert len(caption.splitlines()) <= 1


@settings(FUZZ, max_examples=200)
@given(line=st.one_of(all_text, spacey_text, st.binary(max_size=30).map(lambda b: b.decode("latin-1"))))
def test_clean_caption_is_normalised_and_idempotent(line):
    cleaned = clean_caption(line)
    _assert_clean(cleaned)
    assert clean_caption(cleaned) == cleaned


@settings(FUZZ, max_examples=150)
@given(
    data=st.one_of(
        st.binary(max_size=120),
        st.lists(st.one_of(all_text, spacey_text), max_size=5)
        .map(lambda lines: "\n".join(lines))
        .flatmap(
            lambda text: st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]).map(
                lambda enc: text.encode(enc, errors="replace")
            )
        ),
    ),
    exists=st.integers(0, 7).map(bool),  # 1 in 8 examples: a missing file
)
def test_read_captions_of_any_bytes_is_clean_captions_or_value_error(workdir, data, exists):
    path = workdir / "captions.txt"
    path.unlink(missing_ok=True)
    if not exists:
        with pytest.raises(FileNotFoundError):
            read_captions(path)
        return
    path.write_bytes(data)
    try:
        captions = read_captions(path)
    except ValueError as err:
        event("ValueError")
        assert str(path) in str(err)
        return
    event("captions")
    assert isinstance(captions, list) and captions
    assert len(captions) <= len(data.decode("utf-8-sig", errors="replace").splitlines())
    for caption in captions:
        assert caption
        _assert_clean(caption)


WORDS = ["a", "woman", "man", "with", "black", "hair", "smiling", "and", "eyes", "blue", "the", "wears", "hat"]


@functools.cache
def _text_conditioner() -> EmbeddedTextConditioner:
    """Built once (a cache, not a fixture: hypothesis would print the whole module with every failing example)."""
    return EmbeddedTextConditioner.build(WORDS, d_model=16, num_layers=1, num_heads=2, max_length=8)


caption_text = st.one_of(
    all_text,
    spacey_text,
    st.lists(
        st.sampled_from([*WORDS, "WOMAN", "İ", "ß", ",", "!", "<pad>", "</s>", "<unk>", "\u0301", "\udcff"]),
        max_size=12,
    ).map(" ".join),
)


def _is_unicode(text: str) -> bool:
    """False for a str holding lone surrogates (not Unicode text; what Python makes of undecodable argv bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@settings(FUZZ, max_examples=60)
@given(captions=st.lists(caption_text, min_size=1, max_size=3))
@example(captions=["a \udcff woman"])  # `mdit generate --caption` with a non-UTF-8 byte in argv
def test_embedded_text_conditioner_encodes_any_unicode(captions):
    """Any text encodes to [B, 8, 16] tokens and [B, 16] pooled (finite), warns CaptionTruncatedWarning exactly
    when a caption has more than 8 tokens, encodes each row independently of the batch, and a whitespace-only
    caption exactly like the empty prompt. A str with lone surrogates (not Unicode) may instead be a ValueError,
    the documented error for a bad caption value; anything else (the tokenizer's TypeError) is a crash."""
    text_conditioner = _text_conditioner()
    unicode = all(_is_unicode(caption) for caption in captions)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = text_conditioner(captions)
        except ValueError:
            if unicode:
                raise
            return
    if unicode:
        lengths = [len(ids) for ids in text_conditioner.tokenizer(normalise_captions(captions)).input_ids]
        truncated = [w for w in caught if issubclass(w.category, CaptionTruncatedWarning)]
        assert bool(truncated) == any(n > 8 for n in lengths), (lengths, [str(w.message) for w in caught])
    b = len(captions)
    assert out.tokens.shape == (b, 8, 16) and out.pooled.shape == (b, 16) and out.ids.shape == (8, 3)
    assert torch.isfinite(out.tokens).all() and torch.isfinite(out.pooled).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptionTruncatedWarning)
        empty = text_conditioner([""])
        for index, caption in enumerate(captions):
            alone = text_conditioner([caption])
            assert torch.allclose(out.tokens[index], alone.tokens[0], atol=1e-5)
            assert torch.allclose(out.pooled[index], alone.pooled[0], atol=1e-5)
            if not caption.strip():
                assert torch.equal(alone.tokens, empty.tokens) and torch.equal(alone.pooled, empty.pooled)


# ----------------------------------------------------------------------------------------------------------------
# Config loader: load_config(path_or_paths, overrides)
# ----------------------------------------------------------------------------------------------------------------

SCHEMA = OmegaConf.to_container(OmegaConf.structured(ExperimentConfig))


def _flatten(node: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in node.items():
        flat[f"{prefix}{key}"] = value
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
    return flat


FLAT_SCHEMA = _flatten(SCHEMA)  # every key, sections (model, model.lora, ...) included
LEAVES = {key: value for key, value in FLAT_SCHEMA.items() if not isinstance(value, dict)}
SCHEMA_KEYS = sorted(FLAT_SCHEMA)
CHOICES = sorted(
    {
        *STRATEGIES,
        *STATIC_MODULATIONS,
        *FINETUNE_MODES,
        *WANDB_MODES,
        *EVAL_MODES,
        *DATASETS,
        *SPLITS,
        *ON_CORRUPT,
        *SPLIT_SOURCES,
        *ON_MISSING,
        *TRAIN_STRATEGIES,
        "float32",
        "bfloat16",
        "float16",
        "int8",
        "32-true",
        "bf16-mixed",
        "auto",
    }
)
ODD_VALUES = [
    "",
    "null",
    "~",
    "true",
    "false",
    "yes",
    "no",
    "???",
    "nan",
    "-nan",
    "inf",
    "-inf",
    ".inf",
    "1e400",
    "-0.0",
    "1.5",
    "0",
    "-1",
    "0x20",
    "1_000",
    "[]",
    "{}",
    "[a, b]",
    "[1, [2]]",
    "{a: 1}",
    "[1",
    "{",
    "'",
    '"',
    "a: b",
    "- x",
    "!!binary aGk=",
    "&a 1",
    "*a",
    "%x",
    "${seed}",
    "${nope}",
    "${oc.env:NOPE_NOT_SET}",
    "${",
    "${x",
    "${required:x}",
    "${required: }",
    "${oc.decode:'1'}",
    "${model}",
    "${oc.dict.keys:model}",
    "\\${seed}",
]
values = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.sampled_from(CHOICES),
    st.integers(-(2**66), 2**66).map(str),
    st.integers(-3, 600).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-2.0, 2.0).map(str),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10),
)
junk_keys = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
    st.sampled_from(SCHEMA_KEYS).flatmap(
        lambda key: st.sampled_from(
            [f"{key}.x", f"{key}.0", f"{key}[0]", f"{key}..x", f".{key}", f"{key}.", f" {key}", f"{key} ", key.upper()]
        )
    ),
    st.sampled_from(["tags.0", "tags[0]", "model.lora.targets.0", "model.lora.targets[1]", "=", "a=b", "[a]", "${x}"]),
)
overrides = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(SCHEMA_KEYS), values).map("=".join),
        st.tuples(junk_keys, values).map("=".join),
        st.text(st.characters(codec="utf-8", exclude_characters="=\x00"), max_size=12),  # no '=': malformed
    ),
    max_size=4,
)


def _assert_valid_config(cfg: DictConfig) -> None:
    """What a returned config promises: fully resolvable, typed like the schema, and in the ranges validate()
    documents (written positively, so NaN fails them)."""
    assert isinstance(cfg, DictConfig) and OmegaConf.is_readonly(cfg)
    unresolvable = None
    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # no interpolation left to explode
    except Exception as err:
        unresolvable = f"load_config accepted a config whose values raise {type(err).__name__} when read: {err}"
    if unresolvable is not None:
        raise AssertionError(unresolvable)
    flat = _flatten(plain)
    assert set(flat) == set(FLAT_SCHEMA)
    for key, default in LEAVES.items():
        value = flat[key]
        if default is None:
            assert value is None or isinstance(value, str), key
        elif isinstance(default, list):
            assert isinstance(value, list) and all(isinstance(item, str) for item in value), key
        else:
            assert type(value) is type(default), (key, value)

    def get(key: str):
        return flat[key]

    assert get("model.attention") in STRATEGIES
    assert get("model.static_modulation") in STATIC_MODULATIONS and get("model.finetune") in FINETUNE_MODES
    assert get("wandb.mode") in WANDB_MODES and get("eval.mode") in EVAL_MODES and get("data.name") in DATASETS
    assert get("data.split") in SPLITS and get("data.on_corrupt") in ON_CORRUPT
    assert get("data.split_source") in SPLIT_SOURCES and get("data.on_missing") in ON_MISSING
    assert get("train.strategy") in TRAIN_STRATEGIES
    resolve_dtype(get("model.dtype"))
    assert get("model.lora.rank") >= 1 and get("model.lora.alpha") > 0 and 0.0 <= get("model.lora.dropout") < 1.0
    assert get("data.max_captions") >= 0 and get("model.text_max_length") >= 0
    for key in ("model.reference_t", "train.text_dropout", "train.mask_dropout", "data.flip_p"):
        assert 0.0 <= get(key) <= 1.0, key
    assert 0.0 <= get("train.ema_decay") <= 0.99999
    assert 32 <= get("data.resolution") <= 512 and get("data.resolution") % 16 == 0
    for key in (
        "data.train_size",
        "data.val_size",
        "data.test_size",
        "data.batch_size",
        "train.max_steps",
        "train.val_every",
        "train.checkpoint_every",
        "train.log_every",
        "train.sample_steps",
        "train.devices",
        "train.num_nodes",
        "train.accumulate",
        "eval.steps",
        "eval.latency_repeats",
        "eval.batch_size",
        "judges.parser_width",
        "judges.parser_steps",
        "judges.batch_size",
        "judges.heldout_size",
        "judges.clip_steps",
        "judges.clip_batch_size",
        "backbone.max_steps",
        "backbone.hidden",
        "backbone.heads",
        "backbone.text_dim",
    ):
        assert get(key) >= 1, key
    for key in ("train.lr", "backbone.lr", "train.logit_std", "eval.guidance_scale"):
        assert get(key) > 0, (key, get(key))
    assert get("eval.seed") >= 0 and get("judges.seed") >= 0 and get("eval.count") >= 2
    hidden, heads = get("backbone.hidden"), get("backbone.heads")
    assert hidden % heads == 0 and (hidden // heads) % 4 == 0
    assert hidden >= 12 * get("backbone.autoencoder_factor") ** 2


def _event(name: str) -> None:
    if currently_in_test_context():  # also called from the plain parametrized tests below
        event(name)


def _load_or_config_error(path, items) -> None:
    """load_config returns a valid config or raises ConfigError. Any other exception fails at one line, outside the
    except block (no __context__), so hypothesis shrinks it as one bug rather than one per OmegaConf/YAML frame."""
    crash = None
    try:
        cfg = load_config(path, items)
    except ConfigError as err:
        _event("ConfigError")
        assert str(err)
        return
    except Exception as err:
        frames = traceback.extract_tb(err.__traceback__)
        ours = [frame for frame in frames if "/mdit/" in frame.filename][-1:]
        where = "".join(
            traceback.format_list(ours + [frames[-1]] if ours and ours[-1] is not frames[-1] else frames[-1:])
        )
        crash = f"load_config raised {type(err).__module__}.{type(err).__name__}, not ConfigError: {err}\n{where}"
    if crash is not None:
        raise AssertionError(crash)
    _event("config")
    _assert_valid_config(cfg)


EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
BASES = [
    None,
    EXPERIMENTS / "synthfaces.yaml",
    [EXPERIMENTS / "synthfaces.yaml", EXPERIMENTS / "profiles" / "smoke.yaml"],
    EXPERIMENTS / "mm_celeba_flux.yaml",  # holds ${required:...} paths: ConfigError unless the overrides set them
]


@settings(FUZZ, max_examples=120)
@given(base=st.sampled_from(BASES), items=overrides)
def test_load_config_of_any_overrides_is_a_valid_config_or_config_error(base, items):
    """Arbitrary dotlist overrides (schema keys, junk keys, malformed items, any value syntax) over the shipped
    experiment files."""
    _load_or_config_error(base, items)


FLOAT_KEYS = sorted(key for key, value in LEAVES.items() if isinstance(value, float))
INT_KEYS = sorted(key for key, value in LEAVES.items() if isinstance(value, int) and not isinstance(value, bool))
OTHER_KEYS = sorted(set(LEAVES) - set(FLOAT_KEYS) - set(INT_KEYS))
BAD_FLOATS = ["nan", "inf", "-inf", ".nan", "-0.1", "1.5", "0", "-1e-9", "1e400", "abc", "null", "[0.5]", "true"]
BAD_INTS = ["-1", "0", "1", "-5", "16", "31", "48", "513", "1.5", "1e3", "abc", "null", "[1]", "true", "0x10"]


def _schema_value(default: object) -> st.SearchStrategy:
    """Adversarial values for a leaf: out-of-range numbers of its own type, and values of every other type."""
    if isinstance(default, bool):
        own = st.sampled_from(["true", "false", "2", "maybe", "null"])
    elif isinstance(default, int):
        own = st.one_of(st.sampled_from(BAD_INTS), st.integers(-(2**40), 2**40).map(str))
    elif isinstance(default, float):
        own = st.one_of(st.sampled_from(BAD_FLOATS), st.floats(allow_nan=True, allow_infinity=True).map(repr))
    else:
        own = st.sampled_from(CHOICES)
    return st.one_of(own, own, values)


@st.composite
def _schema_items(draw: st.DrawFn, keys: list[str]) -> str:
    key = draw(st.sampled_from(keys))
    return f"{key}={draw(_schema_value(LEAVES[key]))}"


schema_overrides = st.lists(
    st.one_of(_schema_items(FLOAT_KEYS), _schema_items(INT_KEYS), _schema_items(OTHER_KEYS)), min_size=1, max_size=3
)


@settings(FUZZ, max_examples=120)
@given(items=schema_overrides)
def test_load_config_of_out_of_range_schema_values_is_a_valid_config_or_config_error(items):
    """Real schema keys with out-of-range values (negative ranks, p=1.5, NaN, strings for ints, ...)."""
    _load_or_config_error(None, items)


yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(CHOICES),
    st.sampled_from(["${seed}", "${nope}", "???", "${required:x}"]),
)
yaml_any = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=5), yaml_scalars), inner, max_size=3)
    ),
    max_leaves=6,
)


def _safe_load_or_text(text: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _yaml_tree(node: dict) -> st.SearchStrategy:
    """Partial configs shaped like the schema (any subset of its keys, nested), values of any type, junk keys."""
    optional = {
        key: st.one_of(_yaml_tree(value), yaml_any)
        if isinstance(value, dict)
        else st.one_of(_schema_value(value).map(_safe_load_or_text), yaml_any)
        for key, value in node.items()
    }
    tree = st.fixed_dictionaries({}, optional=optional)
    junk = st.dictionaries(st.one_of(st.text(max_size=5), yaml_scalars), yaml_any, max_size=1)
    return st.tuples(tree, junk).map(lambda pair: {**pair[0], **pair[1]} if pair[1] else pair[0])


YAML_SNIPPETS = [
    "seed: [1",
    "- a\n- b",
    "42",
    "'abc'",
    "null",
    "? [a]\n: 1",
    "null: 1",
    "~: 1",
    "a: *b",
    "--- \n--- ",
    "\t",
    "key: value: x",
    "seed: !!python/object:os.system x",
    "seed: !tag 1",
    "seed: 1\nseed: 2",
    "model: 3",
    "model: [1]",
    "tags: {a: 1}",
    "seed: ${x",
    "<<: {seed: 1}",
    "%YAML 1.1\n---\nseed: 1",
    "!!binary aGk=",
    "model:\n  lora: ~",
    "1: 2",
    "true: 1",
    "model:\n  1: x",
    "data: {root: [a]}",
]


def _dump(tree: object) -> bytes:
    try:
        return yaml.safe_dump(tree, allow_unicode=True).encode("utf-8", errors="surrogatepass")
    except yaml.YAMLError:
        return yaml.safe_dump(str(tree)).encode("utf-8", errors="surrogatepass")


_SCHEMA_TREES = _yaml_tree(SCHEMA).map(_dump)


@st.composite
def schema_shaped_yaml(draw: st.DrawFn) -> bytes:
    """A wrapper with a short repr: hypothesis would otherwise print the whole schema-sized strategy (50 kB)."""
    return draw(_SCHEMA_TREES)


yaml_files = st.one_of(
    schema_shaped_yaml(),
    yaml_any.map(_dump),
    st.lists(st.sampled_from(YAML_SNIPPETS), min_size=1, max_size=2).map(lambda parts: "\n".join(parts).encode()),
    st.text(max_size=60).map(lambda text: text.encode("utf-8", errors="surrogatepass")),
    st.binary(max_size=60),
)


@settings(FUZZ, max_examples=120)
@given(data=yaml_files)
def test_load_config_of_any_yaml_file_is_a_valid_config_or_config_error(workdir, data):
    """Arbitrary small YAML files: syntax errors, non-mapping documents, wrong types, bytes that are not UTF-8."""
    path = workdir / "config.yaml"
    path.write_bytes(data)
    _load_or_config_error(path, [])


# The minimal inputs the properties above found (one per distinct crash), pinned so each shows as its own test id.
FOUND_OVERRIDES = {
    "section-set-to-scalar": ["model=1"],  # AttributeError: ValidationError.msg is None in the except clause
    "list-index-key": ["tags.0=a"],  # TypeError: Cannot merge incompatible container types
    "yaml-flow-unclosed": ["seed=[1"],  # yaml.parser.ParserError from OmegaConf.from_dotlist
    "yaml-quote-unclosed": ['seed="'],  # yaml.scanner.ScannerError
    "yaml-undefined-alias": ["seed=*a"],  # yaml.composer.ComposerError
    "yaml-control-char": ["name=\x07"],  # yaml.reader.ReaderError
    "interpolation-syntax": ["name=${x"],  # omegaconf GrammarParseError
    "interpolation-to-section-int": ["backbone.heads=${oc.dict.keys:model}"],  # InterpolationValidationError
    "interpolation-to-section-str": ["data.name=${model}"],  # InterpolationValidationError in validate (_one_of)
    "interpolation-unknown-key": ["name=${nope}"],  # accepted; cfg.name raises InterpolationKeyError later
    "interpolation-unset-env": ["data.root=${oc.env:MDIT_FUZZ_UNSET}"],  # accepted; unresolvable
    "nan-lr": ["train.lr=nan"],  # accepted: `lr <= 0` is False for NaN
    "nan-backbone-lr": ["backbone.lr=nan"],
    "nan-logit-std": ["train.logit_std=nan"],
    "nan-guidance-scale": ["eval.guidance_scale=nan"],
    "nan-lora-alpha": ["model.lora.alpha=nan"],  # LoraSettings: `alpha <= 0` is False for NaN
}
FOUND_YAML = {
    "top-level-int": b"42",  # OSError: Invalid loaded object type: int
    "top-level-list": b"- 1\n- 2",  # TypeError: Cannot merge incompatible container types
    "not-utf8": b"\xff",  # UnicodeDecodeError
    "control-char": b"\x00",  # yaml.reader.ReaderError
    "tab": b"\t",  # yaml.scanner.ScannerError
    "unclosed-flow": b"seed: [1",  # yaml.parser.ParserError
    "duplicate-key": b"seed: 1\nseed: 2",  # yaml.constructor.ConstructorError
    "unknown-tag": b"seed: !tag 1",  # yaml.constructor.ConstructorError
    "undefined-alias": b"a: *b",  # yaml.composer.ComposerError
    "two-documents": b"--- 1\n--- 2",  # yaml.composer.ComposerError
    "null-key": b"~: 1",  # omegaconf KeyValidationError
    "section-set-to-scalar": b"model: 3",  # AttributeError: err.msg is None
    "list-set-to-mapping": b"tags: {a: 1}",  # TypeError: Cannot merge incompatible container types
    "interpolation-syntax": b"seed: ${x",  # omegaconf GrammarParseError
}


@pytest.mark.parametrize("items", list(FOUND_OVERRIDES.values()), ids=list(FOUND_OVERRIDES))
def test_load_config_found_overrides(items):
    _load_or_config_error(None, items)


@pytest.mark.parametrize("data", list(FOUND_YAML.values()), ids=list(FOUND_YAML))
def test_load_config_found_yaml(workdir, data):
    path = workdir / "found.yaml"
    path.write_bytes(data)
    _load_or_config_error(path, [])


@settings(FUZZ, max_examples=10)
@given(
    name=st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=20),
    items=st.lists(st.sampled_from(["seed=1", "model.attention=holistic"]), max_size=2),
)
def test_load_config_of_a_missing_file_is_file_not_found(workdir, name, items):
    with pytest.raises(FileNotFoundError):
        load_config([workdir / "missing" / f"c{name}"], items)
    with pytest.raises(FileNotFoundError):
        load_config(workdir, items)  # a folder is not a config file
