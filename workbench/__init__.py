"""The applied science workbench: datasets by SQL, quick baselines, and error analysis."""

__version__ = "0.1.0"
