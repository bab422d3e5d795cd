"""``python -m backproplab`` runs the command line."""

from backproplab.cli import run

run()
