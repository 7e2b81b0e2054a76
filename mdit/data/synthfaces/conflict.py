"""Mask-caption pairs that disagree on one shape attribute, each beside the pair that agrees on it: whom does a
generated face follow when the two conditions contradict each other (the paper's third open question)?

Pair i is of attribute ATTRIBUTES[i % 5]. Its face (a SynthFaces seed of its own range) is drawn twice, with the
attribute at the caption's value and at the other value, every other factor equal; the caption is the first of
the face's ten (at the caption's value) that states the attribute:

    agree[i]    = (mask at the caption's value, caption)
    conflict[i] = (mask at the other value,     the same caption)

The two masks differ only where the attribute is drawn (the contested pixels: at least MIN_CONTESTED of them at the
set's resolution, some carrying the attribute's own label): what a generated face shows there says whom it
followed. Accessories (hat, eyeglasses,
earrings) are stated by a caption only when present, so their conflict is always "the caption adds it, the mask
leaves it out"; hair length and an open mouth are stated both ways, and alternate between pairs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from mdit.data.faces import to_sample
from mdit.labels import LABELS
from mdit.variants import CONFLICT_ATTRIBUTES

from .attributes import ShapeAttributes
from .captions import caption_words
from .face import render

SETS = ("conflict", "agree")
ATTRIBUTES = CONFLICT_ATTRIBUTES
CONFLICT_START = 3_000_000  # SynthFaces seeds of the pairs: apart from train (0..), val (1e6..) and test (2e6..)
SEEDS_PER_ATTRIBUTE = 100_000
TRIES = 20  # seeds looked at per pair until one has a caption stating the attribute and enough contested pixels
MIN_CONTESTED = 2
PAIRS = 1000  # 200 per attribute


@dataclass(frozen=True)
class Attribute:
    """A shape attribute both conditions can express: the shapes at one of its values, and how a caption says it."""

    name: str
    values: tuple[str, str]  # the first draws `label` on pixels the second does not: the contested ones
    caption_values: tuple[str, ...]  # what the captions state, in turn over the pairs (accessories: present only)
    shape_at: Callable[[ShapeAttributes, str], ShapeAttributes]
    stated: Callable[[list[str], str], bool]  # do a caption's words state this value?
    label: int  # the official label id the attribute's pixels carry (hat 14, eye_g 3, ear_r 15, hair 13, mouth 10)

    def caption_value(self, pair: int) -> str:
        return self.caption_values[pair % len(self.caption_values)]

    def other_value(self, value: str) -> str:
        return self.values[1] if value == self.values[0] else self.values[0]


def _accessory(name: str, words: tuple[str, ...], label: int, **fixed: object) -> Attribute:
    def shape_at(s: ShapeAttributes, value: str) -> ShapeAttributes:
        return dataclasses.replace(s, **fixed, **{name: value == "present"})

    stated = lambda w, _: any(x in w for x in words)  # noqa: E731
    return Attribute(name, ("present", "absent"), ("present",), shape_at, stated, label)


def _hair(s: ShapeAttributes, value: str) -> ShapeAttributes:
    # No earrings: short hair shows the ears and long hair hides them, which would contest the ears too.
    return dataclasses.replace(s, hair_style=value, earrings=False)


def _states_hair(words: list[str], value: str) -> bool:
    """The value among the adjectives before "hair" ("long wavy red hair"; not "a long face")."""
    return any(value in words[max(0, j - 3) : j] for j, word in enumerate(words) if word == "hair")


def _mouth(s: ShapeAttributes, value: str) -> ShapeAttributes:
    return dataclasses.replace(s, mouth=value)


def _states_mouth(words: list[str], value: str) -> bool:
    if value == "open":
        return "open" in words
    return "closed" in words or "not smiling" in " ".join(words)


REGISTRY: dict[str, Attribute] = {
    a.name: a
    for a in (
        _accessory("hat", ("hat",), LABELS.index("hat")),
        _accessory("eyeglasses", ("glasses", "eyeglasses"), LABELS.index("eye_g")),
        # earrings show only beside visible ears
        _accessory("earrings", ("earrings",), LABELS.index("ear_r"), hair_style="short"),
        Attribute("hair_length", ("long", "short"), ("long", "short"), _hair, _states_hair, LABELS.index("hair")),
        Attribute("open_mouth", ("open", "closed"), ("open", "closed"), _mouth, _states_mouth, LABELS.index("mouth")),
    )
}


@dataclass(frozen=True)
class Pair:
    """One contested attribute: the face, the two masks, the caption (which states `caption_value`)."""

    index: int
    attribute: str
    seed: int
    caption_value: str
    other_value: str
    caption: str
    caption_index: int
    caption_mask: np.ndarray  # the mask at the caption's value
    other_mask: np.ndarray  # the mask at the other value
    caption_image: np.ndarray  # the face drawn at the caption's value
    other_image: np.ndarray
    caption_conditions: dict[str, np.ndarray]  # sketch and keypoints of the face at the caption's value
    other_conditions: dict[str, np.ndarray]

    @property
    def contested(self) -> np.ndarray:
        """The pixels where the two masks differ: the attribute's, and only the attribute's."""
        return self.caption_mask != self.other_mask


def make_pair(index: int, resolution: int) -> Pair:
    """Pair `index` at `resolution`: the first of its seeds whose caption states the attribute and whose masks
    differ in at least MIN_CONTESTED pixels, some of the attribute's label. The same arguments give the same pair in
    any process."""
    if not 0 <= index < PAIRS:
        raise IndexError(f"conflict pair {index} out of range 0..{PAIRS - 1}")
    attribute = REGISTRY[ATTRIBUTES[index % len(ATTRIBUTES)]]
    pair = index // len(ATTRIBUTES)
    value = attribute.caption_value(pair)
    other = attribute.other_value(value)
    first = CONFLICT_START + ATTRIBUTES.index(attribute.name) * SEEDS_PER_ATTRIBUTE + pair * TRIES
    for seed in range(first, first + TRIES):
        shape = render(seed, resolution).attributes.shape
        told = render(seed, resolution, {"shape": attribute.shape_at(shape, value)})
        shown = render(seed, resolution, {"shape": attribute.shape_at(shape, other)})
        stating = [k for k, c in enumerate(told.captions) if attribute.stated(caption_words(c), value)]
        contested = told.mask != shown.mask
        drawn = (told if value == attribute.values[0] else shown).mask  # the version with the attribute's label
        if stating and contested.sum() >= MIN_CONTESTED and (drawn[contested] == attribute.label).any():
            k = stating[0]
            return Pair(
                index=index,
                attribute=attribute.name,
                seed=seed,
                caption_value=value,
                other_value=other,
                caption=told.captions[k],
                caption_index=k,
                caption_mask=told.mask,
                other_mask=shown.mask,
                caption_image=told.image,
                other_image=shown.image,
                caption_conditions=told.conditions,
                other_conditions=shown.conditions,
            )
    raise RuntimeError(f"no seed in {first}..{first + TRIES - 1} gives conflict pair {index} ({attribute.name})")


class ConflictSet(Dataset):
    """`conflict` or `agree`, pair by pair, in the sample format (plus what the following judge needs).

    A sample is the sample format of mdit.data.faces with "image", "sketch" and "keypoints" those of the face drawn
    to its mask, and "caption_mask" / "other_mask" (the masks at the caption's and the other value), "attribute"
    and "pair".
    """

    def __init__(self, which: str, resolution: int, size: int = PAIRS) -> None:
        if which not in SETS:
            raise ValueError(f"conflict set {which!r}; valid: {', '.join(SETS)}")
        if not 0 < size <= PAIRS:
            raise ValueError(f"size must be in 1..{PAIRS}, got {size}")
        self.which, self.resolution, self.size = which, resolution, size

    def __len__(self) -> int:
        return self.size

    def pair(self, index: int) -> Pair:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} pairs")
        return make_pair(index, self.resolution)

    def __getitem__(self, index: int) -> dict:
        p = self.pair(index)
        agree = self.which == "agree"
        mask, image, conditions = (
            (p.caption_mask, p.caption_image, p.caption_conditions)
            if agree
            else (p.other_mask, p.other_image, p.other_conditions)
        )
        source = f"synthfaces-{self.which}"
        sample = to_sample(image, mask, p.caption, p.seed, p.caption_index, source, conditions)
        sample["caption_mask"] = torch.from_numpy(p.caption_mask.astype(np.int64))
        sample["other_mask"] = torch.from_numpy(p.other_mask.astype(np.int64))
        sample["attribute"] = p.attribute
        sample["pair"] = index
        return sample
