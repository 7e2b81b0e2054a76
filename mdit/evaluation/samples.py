"""The evaluation samples: the first N test items (or conflict / agree pairs), one fixed caption each, one noise
seed each.

Sample i starts from the noise of its own seed `sample_seed(eval.seed, i)`, so its image depends on the
run, the seed and i only, never on the batch it was generated in: it is the image `mdit generate --seed
<that seed>` gives for its mask and caption (tests/test_eval.py checks both).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from omegaconf import DictConfig
from torch.utils.data import Dataset, default_collate

from mdit.data.registry import build_splits
from mdit.data.synthfaces.conflict import ConflictSet


def sample_seed(seed: int, index: int) -> int:
    """The noise seed of evaluation sample `index`: a hash of (seed, index), whatever the batching."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def eval_split(cfg: DictConfig, count: int) -> Dataset:
    """The samples eval.set names, checked to hold `count`: the test split of the run's data set, or SynthFaces'
    conflict or agree pairs at the run's resolution (mdit.data.synthfaces.conflict; sample i of both sets is pair i,
    with the same noise seed).

    Captions are fixed per sample: SynthFaces' test split gives caption `seed % 10` of each face. A data set
    with several captions per image (MM-CelebA-HQ: 10) must pick one the same way, from the sample id and
    never at random, so every run and every mode is scored against the same text.
    """
    if cfg.eval.set == "test":
        samples, what = build_splits(cfg)[2], "test samples (data.test_size)"
    else:
        samples, what = ConflictSet(cfg.eval.set, cfg.data.resolution), f"{cfg.eval.set} pairs"
    if count > len(samples):
        raise ValueError(f"eval.count={count} exceeds the {len(samples)} {what}")
    return samples


def batches(test_set: Dataset, count: int, batch_size: int) -> Iterator[tuple[list[int], dict]]:
    """(indices, collated batch) over the first `count` samples, in order."""
    for start in range(0, count, batch_size):
        indices = list(range(start, min(start + batch_size, count)))
        yield indices, default_collate([test_set[i] for i in indices])
