"""The model layer: feature encodings that round-trip through run.json, splits and training."""
