"""The data layer: what a dataset holds (column profiles) and the demo and synthetic tables."""
