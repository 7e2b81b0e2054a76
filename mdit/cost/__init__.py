"""What a variant costs: FLOPs (counted and under the paper's convention) and latency."""
