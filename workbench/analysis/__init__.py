"""The analysis layer: binning, breakdowns, SliceLine and discovery, the error tree and the
chart data of a run. It reads runs and never rewrites them."""
