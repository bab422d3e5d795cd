"""Grad mode: whether new ops are recorded for backward, as ``torch.no_grad`` and ``torch.enable_grad`` set it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager


class _GradMode(threading.local):
    """Whether ops are recorded, per thread as in PyTorch: a server may train in several threads at once."""

    enabled = True


_mode = _GradMode()
_lock = threading.Lock()
_disabled = 0  # no_grad blocks open now, in any thread: while there are none, every thread records


def is_grad_enabled() -> bool:
    """Whether new ops are being recorded for backward (in this thread)."""
    return not _disabled or _mode.enabled  # the count first: a thread-local costs more than a global


@contextmanager
def _grad_mode(enabled: bool) -> Iterator[None]:
    global _disabled
    if not enabled:
        with _lock:
            _disabled += 1
    previous, _mode.enabled = _mode.enabled, enabled
    try:
        yield
    finally:
        _mode.enabled = previous
        if not enabled:
            with _lock:
                _disabled -= 1


def no_grad() -> AbstractContextManager[None]:
    """Run ops without recording them (for updates and evaluation), as ``torch.no_grad``."""
    return _grad_mode(False)


def enable_grad() -> AbstractContextManager[None]:
    """Record ops again inside a ``no_grad`` block."""
    return _grad_mode(True)
