"""``python -m workbench``: the terminal front end."""
from workbench.cli.main import main

__all__ = ["main"]
