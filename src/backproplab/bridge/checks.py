"""Why backproplab's numbers and PyTorch's can differ, said in one line.

A forward that draws random numbers (``random.randint`` in PyTorch's DynamicNet) runs other
calls each time: the traced forward is one draw, PyTorch's run another. That is the model's
nature, not a fault of the conversion, so it is said as such, with the line that draws.
"""

from __future__ import annotations

import inspect
import random
import re
from pathlib import Path
from typing import Any

import numpy as np

from backproplab.bridge._torch import require_torch

RUNS = 12  # forwards compared: a draw among a few values repeats in two runs, hardly ever in twelve
_DRAW = re.compile(r"\b(?:random\.\w+|np\.random\.\w+|numpy\.random\.\w+|torch\.rand\w*|torch\.multinomial)\s*\(")


def _outputs(out: Any) -> list[np.ndarray]:
    items = out if isinstance(out, (tuple, list)) else (out,)
    return [o.detach().cpu().numpy() for o in items if hasattr(o, "detach")]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def _draw_line(model: Any) -> str:
    """' (line 12 of model.py: for exp in range(4, random.randint(4, 6)):)': the forward's first random draw."""
    try:
        lines, start = inspect.getsourcelines(type(model).forward)
        path = Path(inspect.getsourcefile(type(model).forward) or "").name
    except (OSError, TypeError):
        return ""
    for k, line in enumerate(lines):
        if _DRAW.search(line):
            return f" (line {start + k} of {path}: {line.strip()[:80]})"
    return ""


def random_forward(model: Any, args: tuple) -> str:
    """'' when runs of the forward on the same input all give the same outputs, else the one-line message
    that it is random and how to make it the same each time. The random generators are left as they were."""
    torch = require_torch()
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        with torch.no_grad():
            first = _outputs(model(*args))
            differ = any(not _same(first, _outputs(model(*args))) for _ in range(RUNS - 1))
    except Exception:  # noqa: BLE001 - a forward that fails on another run is not said to be random
        return ""
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
    if not differ:
        return ""
    return (f"{type(model).__name__}.forward is random: runs on the same input give different outputs"
            f"{_draw_line(model)}, so no single gradient is PyTorch's; seed the draw (random.seed(0) just before it) "
            "or draw outside forward and pass the result in")


def mismatch(what: str, ours: Any, theirs: Any, index: tuple[int, ...] | None = None) -> str:
    """One line: backproplab's number differs from PyTorch's, at the entry that differs most."""
    a, b = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    if a.ndim and a.shape == b.shape:
        worst = np.unravel_index(int(np.argmax(np.abs(a - b))), a.shape)
        where = f" at entry [{', '.join(map(str, worst))}]"
        a, b = a[worst], b[worst]
    else:  # one entry: the same entry of the other side when it is whole
        where = f" at entry [{', '.join(map(str, index))}]" if index else ""
        a = a[index] if index and a.shape != () and a.ndim == len(index) else a.reshape(-1)[0]
        b = b[index] if index and b.shape != () and b.ndim == len(index) else b.reshape(-1)[0]
    return (f"backproplab's {what}{where} is {float(a)!r} but PyTorch's is {float(b)!r}; please report this model "
            "as a bug")
