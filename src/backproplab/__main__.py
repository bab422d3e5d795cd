"""``python -m backproplab`` runs the command line."""

from backproplab.cli.program import run

run()
