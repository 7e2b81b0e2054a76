"""`mdit eval`: a run's generated test samples scored by the judges, into metrics.json and the W&B summary."""

from mdit.evaluation.checkpoints import evaluate_checkpoints
from mdit.evaluation.command import check_overrides, evaluate
from mdit.evaluation.judges import Judges, load_judges
from mdit.evaluation.samples import eval_split, sample_seed
from mdit.evaluation.scoring import score

__all__ = [
    "Judges",
    "check_overrides",
    "eval_split",
    "evaluate",
    "evaluate_checkpoints",
    "load_judges",
    "sample_seed",
    "score",
]
