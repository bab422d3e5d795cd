"""``python -m benchmarks.bridge_models``: explain_torch on each public model of tests/bridge_zoo.

Prints a markdown table: the model, its source, what it uses, the result (equal: the explained entry is
PyTorch's own gradient, as explain_torch checks before it returns; refused: the bridge's one-line reason;
error: anything else, which is a fault) and the time to explain one entry and render it as text (the median
of a few runs, conversion and PyTorch's check included). The exit code is 1 when any model ends in an error.
It needs PyTorch.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

CUT = " by backproplab; supported layers: "
"""Where a refusal's list of what is supported begins; the table keeps what comes before it."""


def _cell(text: str, width: int = 220) -> str:
    text = text.replace("|", "\\|").replace("\n", " ⏎ ")
    return text if len(text) <= width else text[:width - 1] + "…"


def _outcome(entry: Any, repeats: int) -> tuple[str, float | None, bool]:
    """(result, median seconds of an explained entry, whether it is a fault)."""
    import backproplab as bl
    from backproplab.bridge import TorchBridgeError

    times = []
    for _ in range(repeats):
        model, loss_fn, x, y, wrt = entry.build()
        start = time.perf_counter()
        try:
            bl.explain_torch(model, loss_fn, x, y, wrt=wrt).to_text()
        except TorchBridgeError as exc:
            reason = str(exc).split(CUT)[0] + (" (and the supported calls)" if CUT in str(exc) else "")
            return f"refused: {reason}", None, "report" in reason or "\n" in str(exc)
        except Exception as exc:  # noqa: BLE001 - a fault is reported in the table, not raised
            return f"error: {type(exc).__name__}: {str(exc).strip()}", None, True
        times.append(time.perf_counter() - start)
    return "equal", statistics.median(times), False


def main(repeats: int = 3) -> int:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests.bridge_zoo
    from tests.bridge_zoo import MODELS

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # the models are float64, also tensors a forward makes
    faults = explained = 0
    try:
        print("| model | source | uses | result | time to explain one entry |")
        print("|---|---|---|---|---:|")
        for entry in MODELS:
            result, seconds, fault = _outcome(entry, repeats)
            faults += fault
            explained += seconds is not None
            source = entry.source.replace("https://github.com/", "").replace("/blob/main/", "/").replace(
                "/blob/master/", "/")
            shown = "—" if seconds is None else f"{seconds:.3f} s"
            print(f"| {entry.name} | {source} | {_cell(entry.uses)} | {_cell(result)} | {shown} |", flush=True)
    finally:
        torch.set_default_dtype(before)
    print(f"\n{explained} of {len(MODELS)} models explained equal to PyTorch; {faults} error(s)")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
