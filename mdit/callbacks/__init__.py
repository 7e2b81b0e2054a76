"""Lightning callbacks of the framework."""

from mdit.callbacks.cost import CostMetrics
from mdit.callbacks.sample_grid import SampleGrid

__all__ = ["CostMetrics", "SampleGrid"]
