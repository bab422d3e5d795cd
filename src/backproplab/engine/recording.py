"""Whether the graph being recorded holds a result taken from values, such as a mask or an index.

``bl.compile`` replays a recorded graph with new values, but keeps such a result (a comparison, an
argmax, the order a sort found) as a constant, which would be stale once the parameters move: a graph
that holds one is recorded anew at every call instead.
"""

from __future__ import annotations

import threading
from typing import Any


class _Recording(threading.local):
    """Set when a result with no gradient (a comparison, an argmax) is taken from a tensor that needs one."""

    value_dependent = False


RECORDING = _Recording()


def note_value_dependent(*operands: Any) -> None:
    """Mark the graph being recorded as not replayable when any operand needs a gradient."""
    if any(getattr(t, "requires_grad", False) for t in operands):
        RECORDING.value_dependent = True
