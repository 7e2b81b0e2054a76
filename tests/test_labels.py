"""Label table, palette, BiSeNet remap, flips and mask validation (mdit.labels)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mdit.labels import (
    BISENET_TO_OFFICIAL,
    FLIP_PAIRS,
    LABELS,
    NUM_CLASSES,
    OFFICIAL_TO_BISENET,
    PALETTE,
    MaskError,
    check_same_size,
    color_to_label_map,
    flip_label_map,
    label_map_to_color,
    remap,
    validate_label_map,
)

label_maps = arrays(
    np.int64, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, NUM_CLASSES - 1)
)


def test_table_and_palette_match_reference() -> None:
    assert NUM_CLASSES == 19 and len(LABELS) == 19 and PALETTE.shape == (19, 3) and PALETTE.dtype == np.uint8
    assert LABELS[0] == "background" and LABELS[3] == "eye_g" and LABELS[10] == "mouth"
    assert LABELS[13] == "hair" and LABELS[15] == "ear_r" and LABELS[16] == "neck_l" and LABELS[18] == "cloth"
    assert tuple(PALETTE[1]) == (204, 0, 0)
    assert tuple(PALETTE[4]) == (51, 51, 255)
    assert tuple(PALETTE[13]) == (0, 0, 204)
    assert tuple(PALETTE[17]) == (255, 153, 51)
    assert tuple(PALETTE[18]) == (0, 204, 0)
    assert len({tuple(c) for c in PALETTE}) == 19, "palette colours must be distinct for exact inversion"
    assert FLIP_PAIRS == ((4, 5), (6, 7), (8, 9))


def test_bisenet_remap_is_a_permutation_and_round_trips() -> None:
    assert sorted(BISENET_TO_OFFICIAL) == list(range(19))
    assert BISENET_TO_OFFICIAL[2] == 6 and BISENET_TO_OFFICIAL[10] == 2 and BISENET_TO_OFFICIAL[17] == 13
    ids = np.arange(19).reshape(1, 19)
    assert np.array_equal(remap(remap(ids, BISENET_TO_OFFICIAL), OFFICIAL_TO_BISENET), ids)
    assert np.array_equal(remap(remap(ids, OFFICIAL_TO_BISENET), BISENET_TO_OFFICIAL), ids)
    as_tensor = remap(torch.arange(19).view(1, 19), BISENET_TO_OFFICIAL)
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.tolist()[0] == list(BISENET_TO_OFFICIAL)


@settings(max_examples=50, deadline=None)
@given(label_maps)
def test_flip_is_an_involution_that_swaps_sides(mask: np.ndarray) -> None:
    flipped = flip_label_map(mask)
    assert np.array_equal(flip_label_map(flipped), mask)
    swap = {4: 5, 5: 4, 6: 7, 7: 6, 8: 9, 9: 8}
    expected = np.vectorize(lambda i: swap.get(int(i), int(i)))(mask[:, ::-1])
    assert np.array_equal(flipped, expected)
    assert torch.equal(flip_label_map(torch.from_numpy(mask)), torch.from_numpy(flipped))


@settings(max_examples=50, deadline=None)
@given(label_maps)
def test_colour_round_trip(mask: np.ndarray) -> None:
    rgb = label_map_to_color(mask)
    assert rgb.dtype == np.uint8 and rgb.shape == (*mask.shape, 3)
    back = color_to_label_map(rgb)
    assert back.dtype == np.int64 and np.array_equal(back, mask)


@pytest.mark.parametrize("bad_ids", [[19], [255], [19, 255]])
def test_out_of_range_ids_are_reported(bad_ids: list[int]) -> None:
    mask = np.zeros((8, 8), dtype=np.int64)
    mask[0, : len(bad_ids) * 3] = np.repeat(bad_ids, 3)
    with pytest.raises(MaskError, match=rf"{3 * len(bad_ids)} pixels .*{re.escape(str(bad_ids))}"):
        validate_label_map(mask)
    with pytest.raises(MaskError):
        label_map_to_color(torch.from_numpy(mask))


def test_negative_id_and_bad_shapes_and_dtypes() -> None:
    with pytest.raises(MaskError, match=r"1 pixels .*\[-1\]"):
        validate_label_map(np.array([[0, -1]]))
    with pytest.raises(MaskError, match="dtype"):
        validate_label_map(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(MaskError, match="dtype"):
        validate_label_map(torch.zeros(4, 4))
    with pytest.raises(MaskError, match="2-D"):
        validate_label_map(np.zeros((4, 4, 3), dtype=np.uint8))
    assert issubclass(MaskError, ValueError)


def test_unknown_colour_names_count_and_colours() -> None:
    rgb = label_map_to_color(np.zeros((6, 6), dtype=np.int64)).copy()
    rgb[0, :4] = (1, 2, 3)
    rgb[1, 0] = (204, 0, 1)
    with pytest.raises(MaskError, match=r"5 pixels .*\(1, 2, 3\).*\(204, 0, 1\)"):
        color_to_label_map(rgb)


def test_unknown_colours_listed_at_most_five() -> None:
    rgb = np.arange(30 * 3, dtype=np.uint8).reshape(1, 30, 3) + 1
    with pytest.raises(MaskError) as info:
        color_to_label_map(rgb)
    assert "30 pixels" in str(info.value) and str(info.value).count("(") == 5


def test_size_mismatch() -> None:
    check_same_size((64, 64), (64, 64))
    with pytest.raises(MaskError, match="image is 64x64 but mask is 32x32"):
        check_same_size((64, 64), (32, 32))
