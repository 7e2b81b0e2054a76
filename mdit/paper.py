"""The paper's published numbers (MDiTFace, arXiv 2511.12631), shown beside ours and never mixed into them.

Only numbers stated in shared/REFERENCE.md; keyed by the registry label of the attention strategy, so a sweep
value, a config value and a table row are the same string. They hold for the paper's own setting only
(MM-CelebA, FLUX.1-dev, 512 px, 28 steps, 512 text tokens) and for generation with both conditions.
"""

from __future__ import annotations

PAPER_LABEL = "paper (MM-CelebA, FLUX.1-dev)"
PAPER_MODE = "both"  # the published numbers are for mask + text generation
# Table 4: extra TFLOPs of the mask condition, FLUX.1-dev, 512 px, 28 steps, 512 text tokens (paper convention).
PAPER_TABLE4 = {"holistic": 185.79, "improved_decoupled": 9.95}

# attention -> metric -> value. mask_accuracy in %, clip_t = 100 x cosine, topiq in [0, 1],
# delta_tflops = the extra cost of the mask condition per generation, in the paper's own counting.
PAPER_NUMBERS: dict[str, dict[str, float]] = {
    "concat": {"mask_accuracy": 88.73},
    "holistic": {"mask_accuracy": 94.72, "delta_tflops": PAPER_TABLE4["holistic"]},
    "improved_decoupled": {
        "mask_accuracy": 94.64,
        "clip_t": 26.75,
        "topiq": 0.8466,
        "delta_tflops": PAPER_TABLE4["improved_decoupled"],
    },
}

PAPER_SOURCES = (
    "mask accuracy: attention ablation (holistic tri-stream 94.72, improved decoupled 94.64) and tokenization "
    "ablation (channel-concat 88.73 vs unified tokens 94.64)",
    "CLIP-T 26.75 and TOPIQ 0.8466: main results on MM-CelebA, the full method (improved decoupled attention, "
    "unified mask tokens; its mask accuracy there is the same 94.64)",
    "ΔTFLOPs: Table 4, extra cost of the mask condition, FLUX.1-dev, 512x512, 28 steps, 512 text tokens "
    "(185.79 vs 9.95)",
)


def paper_numbers(attention: str | None, mode: str) -> dict[str, float]:
    """The paper's numbers for a row of this attention strategy and eval mode; empty when it has none."""
    if attention is None or mode != PAPER_MODE:
        return {}
    return dict(PAPER_NUMBERS.get(attention, {}))
