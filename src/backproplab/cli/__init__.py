"""The ``backproplab`` command: ``main`` parses the flags (``main``) and runs a command (``commands``)."""

from backproplab.cli.program import main, run

__all__ = ["main", "run"]
