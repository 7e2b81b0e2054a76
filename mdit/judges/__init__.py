"""Judges of the metrics: the embedded ones trained on SynthFaces, the real ones loaded from local files."""
