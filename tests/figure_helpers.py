"""What the figure tests share: warnings are errors, and a dosage run to draw."""

from __future__ import annotations

import warnings

import pytest

import backproplab as bl
from backproplab.optim import GradientDescent


@pytest.fixture(autouse=True)
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # an object an earlier test left for the garbage collector (a test client's stream) is not this figure's
        warnings.simplefilter("ignore", pytest.PytestUnraisableExceptionWarning)
        yield


def fitted(names=("b3",), lr=0.1, **kw):
    """The dosage network trained on ``names``, put back at its starting values, with its trace."""
    net, (x, y) = bl.presets.statquest()
    trace = GradientDescent(net.parameters(only=list(names)), lr=lr, **kw).fit(net, x, y)
    net.load_state_dict(trace.iterations[0].params)
    return net, x, y, trace
