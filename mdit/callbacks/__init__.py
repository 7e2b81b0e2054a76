"""Lightning callbacks of the framework."""

from mdit.callbacks.sample_grid import SampleGrid

__all__ = ["SampleGrid"]
