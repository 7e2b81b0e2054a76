"""Metrics of the ablation tables, as torchmetrics Metrics (they accumulate over batches and sync under DDP)."""
