"""The render layer: plotly figures and text tables drawn from result objects."""
