"""The embedding cache of `mdit cache-embeddings`, in one place: its files (store.py), the text reader (text.py),
the latents dataset (latents.py) and the command that fills it (build.py). Import the module you need."""
