"""The error of a sweep that cannot run, either backend: `mdit sweep` prints its one line and exits with 2."""


class SweepError(ValueError):
    """A sweep that cannot run (random or bayes without run_cap, a failed preparation, W&B without login)."""
