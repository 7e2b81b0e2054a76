"""Results: a sweep's runs collected (local folders or W&B), and written as tables (Markdown, CSV, LaTeX), plots,
learning curves and W&B reports, with the paper's numbers beside ours."""
