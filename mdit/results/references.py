"""The reference row of a table, which every other row's paired differences are against.

A sweep YAML cannot name it: W&B's sweep-config schema (the `sweeps` package's schema.json) allows no key of
our own at the top level. So it is `mdit table --reference ROW`, else the default of the sweep below; the word
`off` turns the comparisons off, and `plain` compares each row with the row of the same training sampled as the
run itself samples (a sweep over eval.* settings: guidance, strength, steps).
"""

from __future__ import annotations

from dataclasses import dataclass

# Sweep name (the file's stem) -> the label of its reference row (mdit.results.rows.setting_label).
PLAIN = "plain"  # `--reference plain`: each row against its own training's row with the run's own sampling
REFERENCES = {
    "ablation_attention": "holistic",  # the paper's Table 4 compares the mask-token variants with holistic
    "ablation_tokenization": "concat",  # channel concatenation, against which the unified mask tokens are measured
    "guidance": PLAIN,  # guidance and mask strength, each against the same training sampled without them
    # the paper's method as published: what each cost-saving option costs in quality
    "ablation_efficiency": "improved_decoupled, mask_token_stride=1, mask_readers=image_text, steps=28",
}
OFF = "off"  # `--reference off`: no paired differences (`none` is a row: the text-only baseline)


@dataclass(frozen=True)
class Reference:
    """The reference row's label, and whether the user named it (an unknown label is then an error)."""

    label: str
    explicit: bool


def choose_reference(sweep: str, option: str | None) -> Reference | None:
    """`--reference`'s row, else the sweep's default (REFERENCES); None when turned off or there is no default."""
    if option is not None:
        return None if option == OFF else Reference(option, explicit=True)
    default = REFERENCES.get(sweep)
    return Reference(default, explicit=False) if default else None
