"""The store layer: the workspace and its names, source tables, datasets, runs and saved slices,
all written atomically. It imports the engine and nothing above it."""
