"""PyTorch's own tutorial scripts run with ``import backproplab as torch`` and give PyTorch's numbers.

Each script in tests/tutorials/ is one source text that imports ``backproplab as torch``. It runs twice,
each time in a fresh namespace: as written, and with that line changed back to ``import torch`` (float64
by default). The test passes both runs the same starting values and data (NumPy, fixed seeds) and compares
every number the script records in its ``results`` dict to 1e-9. Without PyTorch, the backproplab run is
still checked on its own: it finishes, its numbers are finite and its losses go down.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TUTORIALS = Path(__file__).resolve().parent / "tutorials"
OURS = "import backproplab as torch\n"
OURS_NN = "from backproplab import nn\n"
THEIRS = "import torch\ntorch.set_default_dtype(torch.float64)\n"
THEIRS_NN = "from torch import nn\n"
STEPS = 500


def _uniform_layer(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """A weight of PyTorch's shape (out, in) and a bias, drawn as nn.Linear draws them."""
    bound = 1 / math.sqrt(n_in)
    return rng.uniform(-bound, bound, (n_out, n_in)), rng.uniform(-bound, bound, n_out)


def _polynomial_start() -> dict[str, Any]:
    weight, bias = _uniform_layer(np.random.default_rng(1), 3, 1)
    return {"START": {"0.weight": weight, "0.bias": bias}, "STEPS": STEPS}


def _quickstart_inputs() -> dict[str, Any]:
    """Learnable random "images": the class is the largest of ten fixed linear scores of the pixels."""
    rng = np.random.default_rng(4)
    images = rng.normal(size=(96, 1, 6, 6))
    labels = (images.reshape(96, 36) @ rng.normal(size=(36, 10))).argmax(axis=1)
    start = {}
    for i, (n_in, n_out) in zip((0, 2, 4), [(36, 32), (32, 32), (32, 10)]):
        start[f"linear_relu_stack.{i}.weight"], start[f"linear_relu_stack.{i}.bias"] = _uniform_layer(rng, n_in, n_out)
    data = {"train_images": images[:64], "train_labels": labels[:64],
            "test_images": images[64:], "test_labels": labels[64:]}
    return {"START": start, "DATA": data, "EPOCHS": 6}


def _inputs(name: str) -> dict[str, Any]:
    """The names a script reads from its namespace: its starting values, its data and how long it runs."""
    if name == "polynomial_autograd":
        return {"START": dict(zip("abcd", np.random.default_rng(0).normal(size=4).tolist())), "STEPS": STEPS}
    if name in ("polynomial_nn", "polynomial_optim"):
        return _polynomial_start()
    if name == "quickstart":
        return _quickstart_inputs()
    rng = np.random.default_rng(5)
    return {"START": {"w": rng.normal(size=(5, 3)), "b": rng.normal(size=3)}}


SCRIPTS = ["polynomial_autograd", "polynomial_nn", "polynomial_optim", "quickstart", "autograd_basics"]


def source(name: str) -> str:
    text = (TUTORIALS / f"{name}.py").read_text()
    assert text.count(OURS) == 1, f"{name}.py must import backproplab as torch exactly once"
    return text


def as_torch(text: str) -> str:
    """The same script for PyTorch: only the import lines change."""
    return text.replace(OURS, THEIRS).replace(OURS_NN, THEIRS_NN)


def run(name: str, text: str) -> dict[str, Any]:
    """Run one script text in a fresh namespace (tracebacks name the script's own lines); its ``results``."""
    namespace = {"__name__": "__main__", **_inputs(name)}
    exec(compile(text, str(TUTORIALS / f"{name}.py"), "exec"), namespace)
    return namespace["results"]


def run_with_torch(name: str) -> dict[str, Any]:
    torch = pytest.importorskip("torch")
    default = torch.get_default_dtype()
    try:
        return run(name, as_torch(source(name)))
    finally:
        torch.set_default_dtype(default)


def assert_same_numbers(ours: dict[str, Any], theirs: dict[str, Any], where: str = "") -> None:
    """Every recorded number to 1e-9 relative (1e-12 absolute near zero); flags and keys exactly."""
    assert ours.keys() == theirs.keys(), (where, sorted(ours), sorted(theirs))
    for key, value in theirs.items():
        if isinstance(value, dict):
            assert_same_numbers(ours[key], value, f"{where}{key}.")
        elif isinstance(value, bool):
            assert ours[key] is value, (f"{where}{key}", ours[key], value)
        else:
            np.testing.assert_allclose(np.asarray(ours[key], dtype=float), np.asarray(value, dtype=float),
                                       rtol=1e-9, atol=1e-12, err_msg=f"{where}{key}")


def _numbers(results: dict[str, Any]) -> list[float]:
    out: list[float] = []
    for value in results.values():
        out += _numbers(value) if isinstance(value, dict) else np.ravel(np.asarray(value, dtype=float)).tolist()
    return out


def assert_decreasing(losses: list[float]) -> None:
    assert len(losses) >= 2 and all(b < a for a, b in zip(losses, losses[1:])), losses


@pytest.mark.parametrize("name", SCRIPTS)
def test_tutorial_script_runs_with_backproplab(name):
    results = run(name, source(name))
    assert np.isfinite(_numbers(results)).all()
    if name.startswith("polynomial"):
        assert len(results["losses"]) == STEPS // 100 and len(results["final"]) == 4
        assert_decreasing(results["losses"])
    elif name == "quickstart":
        assert len(results["train_losses"]) == 6 * 4 and len(results["accuracies"]) == 6
        assert_decreasing(results["test_losses"])
        assert np.mean(results["train_losses"][-4:]) < np.mean(results["train_losses"][:4])
    else:
        first = np.array(results["first call"])
        np.testing.assert_array_equal(results["second call"], 2 * first)  # gradients add up ...
        np.testing.assert_array_equal(results["after zeroing"], first)  # ... until zero_()
        assert (results["tracked"], results["under no_grad"], results["detached"]) == (True, False, False)


@pytest.mark.parametrize("name", SCRIPTS)
def test_tutorial_script_gives_pytorch_numbers(name):
    theirs = run_with_torch(name)
    ours = run(name, source(name))
    assert_same_numbers(ours, theirs)
