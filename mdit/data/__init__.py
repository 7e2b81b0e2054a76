"""Data: SynthFaces (synthfaces/), CelebAMask-HQ with Multi-Modal-CelebA-HQ captions, face folders, in one sample
format (faces.py), one DataModule (datamodule.py) and one registry keyed by `data.name` (registry.py)."""
