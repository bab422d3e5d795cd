"""The examples run as they are, so they cannot rot."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

import backproplab as bl

from .conftest import needs_torch

ROOT = Path(__file__).resolve().parents[1]


def test_own_network_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "own_network.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "dMSE/dW1[2,1] = Σ_i" in proc.stdout and "stopped by" in proc.stdout
    for name in ("loss-history.png", "network.png", "decision-boundary.png", "explanation.md"):
        assert (tmp_path / name).stat().st_size > 100


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_torch
def test_pytorch_style_script_gives_torch_float64_numbers():
    """The ported script and the same loop in PyTorch, from the same weights: every loss and weight to 1e-9."""
    import torch

    ex = _example("pytorch_style_moons")
    X, y = bl.datasets.moons(n=200, noise=0.1, seed=0)
    model = ex.make_model()
    start = [(lin.weight.data.copy(), lin.bias.data.copy()) for lin in model.linears]
    losses, accuracy = ex.train(model, X, y)

    layers = [torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)]
    net = torch.nn.Sequential(*layers).double()
    with torch.no_grad():
        for lin, (w, b) in zip(net[::2], start):
            lin.weight.copy_(torch.tensor(w))  # both keep W as (out, in)
            lin.bias.copy_(torch.tensor(b))
    opt = torch.optim.AdamW(net.parameters(), lr=ex.LR, weight_decay=ex.WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=ex.STEPS)
    tx, ty = torch.tensor(X), torch.tensor(y)
    theirs = []
    for _ in range(ex.STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(tx), ty)
        loss.backward()
        opt.step()
        sched.step()
        theirs.append(loss.item())
    with torch.no_grad():
        their_accuracy = (net(tx).argmax(dim=1) == ty).float().mean().item()

    assert len(losses) == ex.STEPS and losses[-1] < losses[0] / 5
    np.testing.assert_allclose(losses, theirs, rtol=1e-9, atol=1e-12)
    for lin, tlin in zip(model.linears, net[::2]):
        np.testing.assert_allclose(lin.weight.data, tlin.weight.detach().numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(lin.bias.data, tlin.bias.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert accuracy == their_accuracy and accuracy > 0.9


def test_pytorch_style_script_runs_as_a_script():
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "pytorch_style_moons.py")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "step    1  loss 0." in proc.stdout and "accuracy" in proc.stdout and "after 150 steps" in proc.stdout


@needs_torch
def test_from_pytorch_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "from_pytorch.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "dMSE/d0.weight[2,1]" in proc.stdout and "dSSR/db3 = Σ_i dSSR/dŷ_i · dŷ_i/db3" in proc.stdout
    assert "= −15.66" in proc.stdout and "to_torch gives the same predictions: True" in proc.stdout
    assert (tmp_path / "dosage.pt").stat().st_size > 100 and "class Network" in (tmp_path / "dosage.py").read_text()
