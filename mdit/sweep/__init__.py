"""Sweeps: the YAMLs of `sweeps/` run locally (`mdit sweep --backend local`) or on W&B, through one entry point.

`mdit sweep-run key=value ...` trains one parameter set and evaluates it; the local runner and a W&B agent
both call it with the same `key=value` arguments, so they share run folders and names.
"""
