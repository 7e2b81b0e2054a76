"""The conflict and agree sets: deterministic, and each pair contests exactly the attribute it claims, checked on the
rendered masks, the faces' attributes and the caption's words (not through the set's own checks)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from mdit.data.synthfaces import render
from mdit.data.synthfaces.conflict import ATTRIBUTES, PAIRS, ConflictSet, make_pair
from mdit.labels import LABELS

ID = {name: i for i, name in enumerate(LABELS)}
PAIR_COUNT = 40  # 8 per attribute
# The shape fields each attribute may change (hair length also shows or hides the ears; never earrings then).
FIELDS = {
    "hat": {"hat"},
    "eyeglasses": {"eyeglasses"},
    "earrings": {"earrings"},
    "hair_length": {"hair_style"},
    "open_mouth": {"mouth"},
}
# What a caption says of each value, written out here from the caption grammar's phrases.
SAYS = {
    ("hat", "present"): r"\bhat\b",
    ("eyeglasses", "present"): r"\b(eye)?glasses\b",
    ("earrings", "present"): r"\bearrings\b",
    ("hair_length", "long"): r"\blong( \w+){0,2} hair\b",
    ("hair_length", "short"): r"\bshort( \w+){0,2} hair\b",
    ("open_mouth", "open"): r"\bopen\b",
    ("open_mouth", "closed"): r"\b(closed mouth|not smiling)\b",
}


@pytest.fixture(scope="module")
def pairs():
    return [make_pair(i, 32) for i in range(PAIR_COUNT)]


def test_pairs_cycle_through_the_attributes_and_are_deterministic(pairs):
    assert [p.attribute for p in pairs[:10]] == [*ATTRIBUTES, *ATTRIBUTES]
    again = make_pair(7, 32)
    assert again.seed == pairs[7].seed and again.caption == pairs[7].caption
    assert np.array_equal(again.caption_mask, pairs[7].caption_mask)
    assert np.array_equal(again.other_image, pairs[7].other_image)
    assert len({p.seed for p in pairs}) == len(pairs)  # every pair a face of its own
    assert all(p.seed >= 3_000_000 for p in pairs)  # apart from the train, val and test seeds


def test_the_caption_states_its_value_and_not_the_other(pairs):
    for p in pairs:
        text = p.caption.lower()
        assert re.search(SAYS[p.attribute, p.caption_value], text), (p.attribute, p.caption)
        if (p.attribute, p.other_value) in SAYS:
            assert not re.search(SAYS[p.attribute, p.other_value], text), (p.attribute, p.caption)
    values = {a: {p.caption_value for p in pairs if p.attribute == a} for a in ATTRIBUTES}
    assert values["hair_length"] == {"long", "short"} and values["open_mouth"] == {"open", "closed"}
    assert values["hat"] == values["eyeglasses"] == values["earrings"] == {"present"}


def test_the_two_faces_differ_only_in_the_attribute(pairs):
    for p in pairs:
        shape = render(p.seed, 32).attributes.shape
        told = dataclasses.asdict(_shape_at(p, p.caption_mask))
        shown = dataclasses.asdict(_shape_at(p, p.other_mask))
        changed = {k for k in told if told[k] != shown[k]}
        assert changed == FIELDS[p.attribute], (p.attribute, changed)
        assert p.caption_mask.shape == p.other_mask.shape == (32, 32) and p.contested.sum() >= 2
        assert shape.head_x == _shape_at(p, p.caption_mask).head_x  # the same face


def _shape_at(p, mask):
    """The attributes of the face a pair drew for this mask: re-rendered from the seed and compared pixel for pixel."""
    base = render(p.seed, 32).attributes.shape
    for candidate in _candidates(base, p.attribute):
        face = render(p.seed, 32, {"shape": candidate})
        if np.array_equal(face.mask, mask):
            return candidate
    raise AssertionError(f"no {p.attribute} value of face {p.seed} draws this mask")


def _candidates(shape, attribute):
    if attribute == "hair_length":
        return [dataclasses.replace(shape, hair_style=v, earrings=False) for v in ("long", "short")]
    if attribute == "open_mouth":
        return [dataclasses.replace(shape, mouth=v) for v in ("open", "closed")]
    extra = {"hair_style": "short"} if attribute == "earrings" else {}
    return [dataclasses.replace(shape, **extra, **{attribute: v}) for v in (True, False)]


def test_the_masks_show_the_values_they_claim(pairs):
    for p in pairs:
        told, shown = p.caption_mask, p.other_mask
        if p.attribute in ("hat", "eyeglasses", "earrings"):
            label = ID[{"hat": "hat", "eyeglasses": "eye_g", "earrings": "ear_r"}[p.attribute]]
            assert (told == label).any() and not (shown == label).any(), p.attribute
        elif p.attribute == "hair_length":
            long, short = (told, shown) if p.caption_value == "long" else (shown, told)
            assert (long == ID["hair"]).sum() > (short == ID["hair"]).sum()
            assert (long[24:] == ID["hair"]).sum() > (short[24:] == ID["hair"]).sum()  # below the chin
        else:
            opened, closed = (told, shown) if p.caption_value == "open" else (shown, told)
            assert (opened == ID["mouth"]).any() and not (closed == ID["mouth"]).any()


def test_conflict_and_agree_samples_share_the_caption_and_differ_in_the_mask(pairs):
    conflict, agree = ConflictSet("conflict", 32, PAIR_COUNT), ConflictSet("agree", 32, PAIR_COUNT)
    for i in (0, 3, 9):
        c, a, p = conflict[i], agree[i], pairs[i]
        assert c["caption"] == a["caption"] == p.caption and c["id"] == a["id"] == p.seed
        assert torch.equal(c["mask"], torch.from_numpy(p.other_mask)) and not torch.equal(c["mask"], a["mask"])
        assert torch.equal(a["mask"], torch.from_numpy(p.caption_mask))
        assert torch.equal(c["caption_mask"], a["caption_mask"]) and torch.equal(c["other_mask"], a["other_mask"])
        assert c["attribute"] == a["attribute"] == p.attribute and c["pair"] == a["pair"] == i
        expected = torch.from_numpy(p.other_image).permute(2, 0, 1).float() / 127.5 - 1
        assert torch.equal(c["image"], expected)  # the real image is the face drawn to the given mask


def test_bad_indices_and_sets_are_errors():
    with pytest.raises(ValueError, match="conflict set 'conflicts'; valid: conflict, agree"):
        ConflictSet("conflicts", 32)
    with pytest.raises(IndexError, match="out of range"):
        ConflictSet("agree", 32, 5)[5]
    with pytest.raises(IndexError, match=f"0..{PAIRS - 1}"):
        make_pair(PAIRS, 32)
