"""Lightning callbacks of the framework."""

from mdit.callbacks.cost import CostMeasurement
from mdit.callbacks.finite_loss import StopOnNonFiniteLoss
from mdit.callbacks.progress import ProgressLines
from mdit.callbacks.sample_grid import SampleGrid

__all__ = ["CostMeasurement", "ProgressLines", "SampleGrid", "StopOnNonFiniteLoss"]
