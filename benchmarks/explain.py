"""``python -m benchmarks.explain``: time to explain one entry of a network, rendered as text.

Targets: one weight entry of a Linear model of about 100,000 parameters at batch 64 under half a second;
one kernel entry of a small CNN (two convolutions, 28×28 images, batch 16) under a second, both the first
call in a fresh process (imports done before the clock starts) and later calls; a bias entry at batch 4
no slower than at batch 64 (a small batch has few samples but the same wide layers: the backward pass
through them costs about the same at any batch). Each later-call time is the median of a few runs; with
PyTorch installed the same entries are also explained through ``explain_torch`` (which checks them
against PyTorch's own gradient). Everything is measured in child processes whose BLAS runs one thread,
as ``python -m benchmarks`` times its engines; it adds these rows to its "also measured" table.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

QUICKSTART = (784, 512, 512, 10)  # PyTorch's quickstart network
WIDE = (784, 120, 10)  # about 100,000 parameters: 784·120 + 120 + 120·10 + 10 = 95,410
WIDE_S = 0.5  # one weight entry of WIDE at batch 64, at most
CNN_S = 1.0  # one kernel entry of the small CNN at batch 16, first call and later ones, at most
CNN_BATCH = 16
NOISE_S = 0.005  # a bias entry at batch 4 counts as no slower within this much of batch 64 (timer noise)


def _median_s(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        work()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# --- the networks ------------------------------------------------------------------------------------------------

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
    if not _has_torch():
        return None
    import torch

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


def cnn_core_case(batch: int, wrt: str) -> Callable[[], str]:
    """bl.explain of one entry of a small CNN in bl.nn (conv 1→4, 3×3 → relu → max pool 2, conv 4→8, 3×3 →
    relu → max pool 2 → linear to 10) with cross-entropy on ``batch`` random 28×28 images."""
    import backproplab as bl
    import backproplab.nn.functional as F

    nn = bl.nn
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 5 * 5, 10))
    rng = np.random.default_rng(batch)
    loss = F.cross_entropy(net(bl.Tensor(rng.standard_normal((batch, 1, 28, 28)), name="x")),
                           rng.integers(0, 10, batch))
    layer, name, index = _parse(wrt)
    param = getattr(net[{"conv1": 0, "conv2": 3}[layer]], name)
    return lambda: bl.explain(loss, param, index=index).to_text()


def cnn_torch_case(batch: int, wrt: str) -> Callable[[], str] | None:
    """explain_torch of one entry of the same CNN written as a PyTorch module; None without PyTorch."""
    if not _has_torch():
        return None
    import torch
    import torch.nn.functional as F

    import backproplab as bl

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.pool = torch.nn.Conv2d(1, 4, 3), torch.nn.MaxPool2d(2, 2)
            self.conv2, self.fc = torch.nn.Conv2d(4, 8, 3), torch.nn.Linear(8 * 5 * 5, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(0)
    model = Net().double()
    g = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 1, 28, 28, dtype=torch.float64, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    return lambda: bl.explain_torch(model, F.cross_entropy, x, y, wrt=wrt).to_text()


def _parse(wrt: str) -> tuple[str, str, tuple[int, ...]]:
    """'conv1.weight[0,0,1,2]' → ('conv1', 'weight', (0, 0, 1, 2))."""
    path, _, rest = wrt.partition("[")
    layer, name = path.split(".")
    return layer, name, tuple(int(i) for i in rest.rstrip("]").split(","))


MAKERS = {"bl.explain": cnn_core_case, "explain_torch": cnn_torch_case}
CNN_ENTRIES = ("conv1.weight[0,0,1,2]", "conv2.weight[5,2,0,1]")


ONE_THREAD = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def _child(args: list[str]) -> str:
    """The output of ``python <args>`` in a fresh process whose BLAS runs one thread (on a shared machine BLAS
    spinning on every core would time the machine, not the explainer)."""
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=1200,
                          env={**os.environ, **ONE_THREAD}, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode not in (0, 1):  # 1: a target missed, said in the output
        raise RuntimeError(f"python {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def first_call_s(how: str, wrt: str, batch: int = CNN_BATCH) -> float:
    """Seconds of the first explanation in a fresh process, the network built and imports done beforehand."""
    code = ("import json, time; from benchmarks.explain import MAKERS; "
            f"work = MAKERS[{how!r}]({batch}, {wrt!r}); t = time.perf_counter(); work(); "
            "print(json.dumps(time.perf_counter() - t))")
    return float(json.loads(_child(["-c", code]).strip().splitlines()[-1]))


# --- the rows ----------------------------------------------------------------------------------------------------

MLP_CASES = (
    ("bias entry b1[4] of the quickstart network", QUICKSTART, 0, "bias", (3,), "0.bias[3]"),
    ("weight entry W1[4,6] of the quickstart network", QUICKSTART, 0, "weight", (3, 5), "0.weight[3,5]"),
    ("weight entry W1[4,6] of a 784-120-10 network (95,410 parameters)", WIDE, 0, "weight", (3, 5), "0.weight[3,5]"),
)


def _mlp_verdict(name: str, sizes: tuple[int, ...], small: float, large: float) -> tuple[str, bool]:
    """The target of one MLP row and whether it was met: a bias entry at batch 4 no slower than at batch 64;
    a weight entry at batch 4 at most twice batch 64 (or under half a second); WIDE's at batch 64 < 0.5 s."""
    if name == "bias":
        return f"batch 4 no slower than batch 64 (within {NOISE_S * 1e3:g} ms)", small <= large + NOISE_S
    target = f"batch 4 at most 2× batch 64 or < {WIDE_S} s" + (f", batch 64 < {WIDE_S} s" if sizes == WIDE else "")
    return target, small <= max(2 * large, WIDE_S) and (sizes != WIDE or large < WIDE_S)


def mlp_rows(repeats: int) -> list[tuple[str, str, str, str, bool]]:
    """(entry, how, batch 4, batch 64, target) per MLP case, each time the median of ``repeats``."""
    out = []
    for what, sizes, layer, name, index, wrt in MLP_CASES:
        for how, make in (("bl.explain", lambda b: core_case(sizes, b, layer, name, index)),
                          ("explain_torch", lambda b: torch_case(sizes, b, wrt))):
            works = [make(batch) for batch in (4, 64)]
            if any(w is None for w in works):
                continue
            for w in works:  # the first call in the process pays for first uses: timed apart, for the CNN
                w()
            small, large = (_median_s(w, repeats) for w in works)
            target, met = _mlp_verdict(name, sizes, small, large)
            out.append((what, how, f"{small:.3f} s", f"{large:.3f} s", f"{target}: {'met' if met else 'MISSED'}"))
    return out


def cnn_rows(repeats: int) -> list[tuple[str, str, str, str, str]]:
    """(entry, how, first call, later calls, target) per CNN kernel entry."""
    out = []
    for wrt in CNN_ENTRIES:
        for how, make in MAKERS.items():
            work = make(CNN_BATCH, wrt)
            if work is None:
                continue
            first = first_call_s(how, wrt)
            work()
            later = _median_s(work, repeats)
            met = first < CNN_S and later < CNN_S
            out.append((f"kernel entry {wrt} of a small CNN (2 convolutions, 28×28, batch {CNN_BATCH})", how,
                        f"{first:.3f} s", f"{later:.3f} s", f"both < {CNN_S:g} s: {'met' if met else 'MISSED'}"))
    return out


def rows(quick: bool = False) -> list[str]:
    """Rows for ``python -m benchmarks``'s "also measured" table (| what | result | target |), measured in a
    child process."""
    out = _child(["-m", "benchmarks.explain", "--rows", "2" if quick else "5"])
    return [line for line in out.splitlines() if line.startswith("| explain ")]


def _rows(repeats: int) -> list[str]:
    lines = [f"| explain {what} ({how}, cross-entropy, text), batch 4 vs batch 64 | {small} vs {large} | {target} |"
             for what, how, small, large, target in mlp_rows(repeats)]
    lines += [f"| explain {what} ({how}, cross-entropy, text), first call in a process vs later calls | {first} vs "
              f"{later} | {target} |" for what, how, first, later, target in cnn_rows(repeats)]
    return lines


def _tables(repeats: int) -> int:
    mlp, cnn = mlp_rows(repeats), cnn_rows(repeats)
    print("| entry explained (cross-entropy, text) | how | batch 4 | batch 64 | target |")
    print("|---|---|---:|---:|---|")
    for row in mlp:
        print("| " + " | ".join(row) + " |")
    print()
    print("| entry explained (cross-entropy, text) | how | first call in a process | later calls | target |")
    print("|---|---|---:|---:|---|")
    for row in cnn:
        print("| " + " | ".join(row) + " |")
    return 1 if any("MISSED" in row[-1] for row in (*mlp, *cnn)) else 0


def main(argv: list[str]) -> int:
    """``python -m benchmarks.explain [repeats]`` prints the tables; ``--rows N`` the "also measured" rows.
    Either runs itself again with one BLAS thread when it was started with more."""
    if any(os.environ.get(k) != v for k, v in ONE_THREAD.items()):
        out = _child(["-m", "benchmarks.explain", *argv])
        print(out, end="")
        return 1 if "MISSED" in out else 0
    if argv[:1] == ["--rows"]:
        print("\n".join(_rows(int(argv[1]))))
        return 0
    return _tables(int(argv[0]) if argv else 5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
