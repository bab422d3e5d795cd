"""``python -m benchmarks.explain``: time to explain one entry of a wide network, small batch against large.

A small batch has few samples but the same wide layers, so it must not take much longer to explain than a
large one (at most twice as long, or under half a second: the backward pass through the wide layers costs
about the same at any batch); and one weight entry of a Linear model of about 100,000 parameters takes
under half a second at batch 64.
Each time is the median of a few runs, the explanation rendered as text; with PyTorch installed the same
entries are also explained through ``explain_torch`` (which checks them against PyTorch's gradient).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

QUICKSTART = (784, 512, 512, 10)  # PyTorch's quickstart network
WIDE = (784, 120, 10)  # about 100,000 parameters: 784·120 + 120 + 120·10 + 10 = 95,410
TARGET_S = 0.5


def _median_s(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        work()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def core_case(sizes: tuple[int, ...], batch: int, layer: int, name: str, index: tuple[int, ...]) -> Callable[[], str]:
    """bl.explain of one entry of an MLP with cross-entropy on ``batch`` random samples."""
    import backproplab as bl
    import backproplab.nn.functional as F

    rng = np.random.default_rng(batch)
    layers: list = []
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers += [bl.nn.Linear(n_in, n_out)] + ([bl.nn.ReLU()] if k < len(sizes) - 2 else [])
    net = bl.nn.Sequential(*layers)
    loss = F.cross_entropy(net(bl.Tensor(rng.random((batch, sizes[0])), name="x")), rng.integers(0, sizes[-1], batch))
    param = getattr(net[2 * layer], name)
    return lambda: bl.explain(loss, param, index=index).to_text()


def torch_case(sizes: tuple[int, ...], batch: int, wrt: str) -> Callable[[], str] | None:
    """explain_torch of one entry of the same MLP written in PyTorch; None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    import backproplab as bl

    torch.manual_seed(0)
    layers: list = []
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers += [torch.nn.Linear(n_in, n_out)] + ([torch.nn.ReLU()] if k < len(sizes) - 2 else [])
    model = torch.nn.Sequential(*layers).double()
    g = torch.Generator().manual_seed(batch)
    x = torch.rand(batch, sizes[0], dtype=torch.float64, generator=g)
    y = torch.randint(0, sizes[-1], (batch,), generator=g)
    return lambda: bl.explain_torch(model, torch.nn.functional.cross_entropy, x, y, wrt=wrt).to_text()


CASES = (
    ("bias entry b1[4] of the quickstart network", QUICKSTART, 0, "bias", (3,), "0.bias[3]"),
    ("weight entry W1[4,6] of the quickstart network", QUICKSTART, 0, "weight", (3, 5), "0.weight[3,5]"),
    ("weight entry W1[4,6] of a 784-120-10 network (95,410 parameters)", WIDE, 0, "weight", (3, 5), "0.weight[3,5]"),
)


def main(repeats: int = 5) -> int:
    print("| entry explained (cross-entropy, text) | how | batch 4 | batch 64 | target |")
    print("|---|---|---:|---:|---|")
    missed = 0
    for what, sizes, layer, name, index, wrt in CASES:
        for how, make in (("bl.explain", lambda b: core_case(sizes, b, layer, name, index)),
                          ("explain_torch", lambda b: torch_case(sizes, b, wrt))):
            works = [make(batch) for batch in (4, 64)]
            if any(w is None for w in works):
                continue
            small, large = (_median_s(w, repeats) for w in works)
            met = small <= max(2 * large, TARGET_S) and (sizes != WIDE or large < TARGET_S)
            missed += not met
            target = f"batch 4 at most 2× batch 64 or < {TARGET_S} s" + (
                f", batch 64 < {TARGET_S} s" if sizes == WIDE else "")
            print(f"| {what} | {how} | {small:.3f} s | {large:.3f} s | {target}: {'met' if met else 'MISSED'} |")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
