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


class _Steps(threading.local):
    """What a compiled step function did besides computing, in order, while it was being recorded:
    ``("backward", tensor)``, ``("zero_grad", optimizer)``, ``("step", optimizer)``. None when not recording."""

    events: list[tuple[str, Any]] | None = None


STEPS = _Steps()


def note_step(what: str, subject: Any) -> None:
    """Tell a compiled step function being recorded that ``subject`` ran ``what`` (backward, zero_grad, step)."""
    events = STEPS.events
    if events is not None:
        events.append((what, subject))
