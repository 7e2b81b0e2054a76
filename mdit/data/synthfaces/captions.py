"""MM-CelebA-HQ-style captions for SynthFaces, from a fixed, enumerable grammar.

Every caption names the hair colour; together the 10 captions of a face name
all its colours (hair, skin, lips, eyes, background, clothes), and most single
captions name most of them. Shapes (hair length, bangs, mouth, accessories,
face, brows, nose) are mentioned now and then, as in the real captions.
Every word comes from ``caption_vocabulary()``: templates hold literal text
plus {slots} filled only from the word lists below.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

import numpy as np

from .attributes import (
    BACKGROUND_COLOURS,
    CLOTHES_COLOURS,
    EYE_COLOURS,
    FACE_SHAPES,
    HAIR_COLOURS,
    LIP_COLOURS,
    METAL_COLOURS,
    SKIN_TONES,
    FaceAttributes,
    pick_index,
)

CAPTIONS_PER_FACE = 10
COLOUR_FACTS = ("skin", "lips", "eyes", "background", "clothes")
P_COLOUR = 0.8
P_SHAPE = 0.4
P_MOUTH = 0.6
FEATURE_COUNT_P = (0.35, 0.45, 0.2)  # how many of face / nose / brows a caption describes: 0, 1, 2
P_ACCESSORY = 0.85

NOUNS = {"woman": ("woman", "lady"), "man": ("man", "gentleman"), "person": ("person",)}
PRONOUNS = {"woman": ("she",), "man": ("he",), "person": ("the person", "this person")}
GARMENTS = {"round": "sweater", "v": "shirt", "low": "top"}
HAIR_LENGTHS = {"short": ("short",), "bob": ("short", "chin length"), "long": ("long",)}
EYE_SIZE_WORDS = {"small": "small", "big": "big"}
BROW_WORDS = ("thin", "thick", "straight", "arched", "angled")
DETERMINERS = ("the", "this", "a")

HAS = "{subject} has {items}."
WITH = "{subject} with {items}{tail}."
IS_AND_HAS = "{subject} is {states} and has {items}."
IS = "{subject} is {states}."
WEARS = ("{subject} wears {items}.", "{subject} is wearing {items}.")
IS_TAIL = " is {states}"
BACKGROUNDS = ("The background is {c}.", "The background of the photo is {c}.", "The photo has a {c} background.")

HAIR_PHRASES = ("{adjectives} hair", "{adjectives} hair with bangs", "a {c} bob", "a {c} bob with bangs")
BALD_STATES = ("bald with {c} hair on the sides",)
BALD_HAS = ("a bald head with {c} hair on the sides",)
SKIN_PHRASES = ("{c} skin", "a {c} complexion")
LIP_PHRASES = ("{c} lips",)
LIPSTICK_PHRASES = ("{c} lipstick",)
EYE_PHRASES = ("{c} eyes", "{size} {c} eyes", "{size} eyes")
CLOTHES_PHRASES = ("a {c} {garment}", "a {garment}")
DRESSED_STATES = ("dressed in a {c} {garment}",)
FACE_PHRASES = ("an oval face", "a round face", "a long face")
NOSE_PHRASES = ("a small nose", "a big nose")
BROW_PHRASES = ("{thickness} {shape} eyebrows", "{thickness} eyebrows", "{shape} eyebrows")
MOUTH_HAS = {
    "closed": ("a closed mouth",),
    "open": ("a slightly open mouth", "the mouth slightly open"),
    "smiling": ("a smile",),
}
MOUTH_IS = {"closed": ("not smiling",), "open": ("smiling with an open mouth",), "smiling": ("smiling",)}
ACCESSORY_PHRASES = {
    "eyeglasses": ("eyeglasses", "glasses"),
    "hat": ("a {c} hat", "a hat"),
    "earrings": ("{m} earrings", "earrings"),
    "necklace": ("a {m} necklace", "a necklace"),
}

_TEMPLATES = (
    HAS,
    WITH,
    IS_AND_HAS,
    IS,
    *WEARS,
    IS_TAIL,
    *BACKGROUNDS,
    *HAIR_PHRASES,
    *BALD_STATES,
    *BALD_HAS,
    *SKIN_PHRASES,
    *LIP_PHRASES,
    *LIPSTICK_PHRASES,
    *EYE_PHRASES,
    *CLOTHES_PHRASES,
    *DRESSED_STATES,
    *FACE_PHRASES,
    *NOSE_PHRASES,
    *BROW_PHRASES,
    *(p for v in MOUTH_HAS.values() for p in v),
    *(p for v in MOUTH_IS.values() for p in v),
    *(p for v in ACCESSORY_PHRASES.values() for p in v),
    "and",
    ",",
    "wavy",
    "straight",
)
_SLOT_WORDS = (
    *HAIR_COLOURS,
    *SKIN_TONES,
    *LIP_COLOURS,
    *EYE_COLOURS,
    *BACKGROUND_COLOURS,
    *CLOTHES_COLOURS,
    *METAL_COLOURS,
    *(n for v in NOUNS.values() for n in v),
    *(p for v in PRONOUNS.values() for p in v),
    *GARMENTS.values(),
    *(w for v in HAIR_LENGTHS.values() for w in v),
    *EYE_SIZE_WORDS.values(),
    *BROW_WORDS,
    *DETERMINERS,
)

_TOKEN = re.compile(r"[^\s.,]+|[.,]")


def caption_words(caption: str) -> list[str]:
    """Lowercase word tokens with '.' and ',' as separate tokens (the tokenizer's pre-split)."""
    return _TOKEN.findall(caption.lower())


def caption_vocabulary() -> list[str]:
    """Every token the grammar can produce, sorted: what a word-level tokenizer is fitted on."""
    words: set[str] = set()
    for text in (*_TEMPLATES, *_SLOT_WORDS):
        literal = "".join(part[0] for part in string.Formatter().parse(text))
        words.update(caption_words(literal))
    return sorted(words)


@dataclass
class _Facts:
    """Phrases chosen for one caption, grouped by the verb that introduces them."""

    has: list[str]
    wears: list[str]
    states: list[str]
    background: str | None


def _choice(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _join(rng: np.random.Generator, items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    last_sep = ", and " if len(items) > 2 and rng.random() < 0.3 else " and "
    return ", ".join(items[:-1]) + last_sep + items[-1]


def _hair(attrs: FaceAttributes, rng: np.random.Generator, facts: _Facts) -> None:
    s, colour = attrs.shape, attrs.colours.hair.name
    if s.hair_style == "bald":
        if rng.random() < 0.5:
            facts.states.append(_choice(rng, BALD_STATES).format(c=colour))
        else:
            facts.has.append(_choice(rng, BALD_HAS).format(c=colour))
        return
    bangs = s.fringe and rng.random() < P_ACCESSORY
    if s.hair_style == "bob" and rng.random() < 0.4:
        facts.has.append(HAIR_PHRASES[3 if bangs else 2].format(c=colour))
        return
    adjectives = []
    if rng.random() < 0.85:
        adjectives.append(_choice(rng, HAIR_LENGTHS[s.hair_style]))
    if s.wavy and rng.random() < 0.8:
        adjectives.append("wavy")
    elif not s.wavy and rng.random() < 0.15:
        adjectives.append("straight")
    adjectives.append(colour)
    facts.has.append(HAIR_PHRASES[1 if bangs else 0].format(adjectives=" ".join(adjectives)))


def _colours(attrs: FaceAttributes, mention: dict[str, bool], rng: np.random.Generator, facts: _Facts) -> None:
    c, s = attrs.colours, attrs.shape
    if mention["skin"]:
        facts.has.append(_choice(rng, SKIN_PHRASES).format(c=c.skin.name))
    if mention["lips"]:
        if rng.random() < 0.7:
            facts.has.append(_choice(rng, LIP_PHRASES).format(c=c.lips.name))
        else:
            facts.wears.append(_choice(rng, LIPSTICK_PHRASES).format(c=c.lips.name))
    size = EYE_SIZE_WORDS.get(s.eye_size)
    if mention["eyes"]:
        template = EYE_PHRASES[1] if size and rng.random() < 0.7 else EYE_PHRASES[0]
        facts.has.append(template.format(c=c.eyes.name, size=size))
    elif size and rng.random() < P_SHAPE:
        facts.has.append(EYE_PHRASES[2].format(size=size))
    garment = GARMENTS[s.neckline]
    if mention["clothes"]:
        if rng.random() < 0.75:
            facts.wears.append(CLOTHES_PHRASES[0].format(c=c.clothes.name, garment=garment))
        else:
            facts.states.append(_choice(rng, DRESSED_STATES).format(c=c.clothes.name, garment=garment))
    elif rng.random() < P_SHAPE:
        facts.wears.append(CLOTHES_PHRASES[1].format(garment=garment))


def _shapes(attrs: FaceAttributes, rng: np.random.Generator, facts: _Facts) -> None:
    s, c = attrs.shape, attrs.colours
    features = (
        FACE_PHRASES[tuple(FACE_SHAPES).index(s.face_shape)],
        NOSE_PHRASES[0 if s.nose_size == "small" else 1],
        _choice(rng, BROW_PHRASES).format(thickness=s.brow_thickness, shape=s.brow_shape),
    )
    count = pick_index(rng, len(FEATURE_COUNT_P), FEATURE_COUNT_P)
    facts.has += [features[i] for i in rng.permutation(len(features))[:count]]
    if rng.random() < P_MOUTH:
        if rng.random() < 0.6:
            facts.states.append(_choice(rng, MOUTH_IS[s.mouth]))
        else:
            facts.has.append(_choice(rng, MOUTH_HAS[s.mouth]))
    present = {"eyeglasses": s.eyeglasses, "hat": s.hat, "earrings": s.earrings, "necklace": s.necklace}
    for name, is_present in present.items():
        if is_present and rng.random() < P_ACCESSORY:
            facts.wears.append(_choice(rng, ACCESSORY_PHRASES[name]).format(c=c.hat.name, m=c.metal.name))


def _mentions(rng: np.random.Generator) -> list[dict[str, bool]]:
    """Which colours each caption names: each with P_COLOUR, then every colour forced into at least one."""
    table = rng.random((CAPTIONS_PER_FACE, len(COLOUR_FACTS))) < P_COLOUR
    for column in range(len(COLOUR_FACTS)):
        if not table[:, column].any():
            table[int(rng.integers(CAPTIONS_PER_FACE)), column] = True
    return [dict(zip(COLOUR_FACTS, row.tolist(), strict=True)) for row in table]


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:]


def _compose(attrs: FaceAttributes, facts: _Facts, rng: np.random.Generator) -> str:
    noun = _choice(rng, NOUNS[attrs.gender])
    pronoun = _choice(rng, PRONOUNS[attrs.gender])
    for group in (facts.has, facts.wears, facts.states):
        order = rng.permutation(len(group))
        group[:] = [group[i] for i in order]
    opening_style = rng.random()
    if not facts.has:
        opening = IS.format(subject=f"{_choice(rng, DETERMINERS[:2])} {noun}", states=_join(rng, facts.states))
        facts.states.clear()
    elif facts.states and opening_style < 0.25:
        subject = f"{_choice(rng, DETERMINERS[:2])} {noun}"
        opening = IS_AND_HAS.format(subject=subject, states=_join(rng, facts.states), items=_join(rng, facts.has))
        facts.states.clear()
    elif opening_style < 0.55:
        tail = IS_TAIL.format(states=_join(rng, facts.states)) if facts.states else ""
        subject = f"{_choice(rng, DETERMINERS)} {noun}"
        opening = WITH.format(subject=subject, items=_join(rng, facts.has), tail=tail)
        facts.states.clear()
    else:
        opening = HAS.format(subject=f"{_choice(rng, DETERMINERS[:2])} {noun}", items=_join(rng, facts.has))
    rest = []
    if facts.wears:
        rest.append(_choice(rng, WEARS).format(subject=pronoun, items=_join(rng, facts.wears)))
    if facts.states:
        rest.append(IS.format(subject=pronoun, states=_join(rng, facts.states)))
    rest = [rest[i] for i in rng.permutation(len(rest))]
    sentences = [opening, *rest]
    if facts.background is not None:
        background = _choice(rng, BACKGROUNDS).format(c=facts.background)
        sentences.insert(0 if rng.random() < 0.15 else len(sentences), background)
    return " ".join(_sentence(s) for s in sentences)


def make_captions(attrs: FaceAttributes, rng: np.random.Generator) -> tuple[str, ...]:
    """Ten captions for one face; hair colour in each, every sampled colour in at least one."""
    captions = []
    for mention in _mentions(rng):
        facts = _Facts([], [], [], attrs.colours.background.name if mention["background"] else None)
        _hair(attrs, rng, facts)
        _colours(attrs, mention, rng, facts)
        _shapes(attrs, rng, facts)
        captions.append(_compose(attrs, facts, rng))
    return tuple(captions)
