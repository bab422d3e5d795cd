"""explain_torch on a set of public PyTorch models (tests/bridge_zoo): each entry explained equals PyTorch's own
float64 gradient to 1e-9 and central differences, or the model is refused in one clear line.

A clear refusal is one TorchBridgeError line that names the user's line (file and line number, and the code
on it), and says what to do; when it lists what is supported, every call of the forward that is not in those
lists is named in it. Anything else fails: another exception, a number that is not PyTorch's, a message over
several lines or one that names no line of the model's code.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab.bridge import TorchBridgeError

torch = pytest.importorskip("torch")

from .bridge_zoo import MODELS, ZooModel  # noqa: E402 - the models are PyTorch modules

ZOO = Path(__file__).resolve().parent / "bridge_zoo"
RTOL = 1e-9
ADVICE = ("use ", "call ", "pass ", "leave ", "instead", "must ", "should ", "seed ", "reshape", "give ", "convert ")
_WRT = re.compile(r"([^\[]+)(?:\[([\d,\s]+)\])?")
_LINE = re.compile(r"line (\d+) of ([\w.]+\.py)(?: \(|: )(.{1,20})")


@pytest.fixture(autouse=True)
def float64_default():
    """The models are float64, also the tensors a forward makes (such as makemore's torch.zeros)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def parsed(wrt: str) -> tuple[str, tuple[int, ...] | None]:
    name, index = _WRT.fullmatch(wrt).groups()
    return name, None if index is None else tuple(int(i) for i in index.split(","))


def inputs(loss_fn: Any, x: Any, y: Any) -> tuple:
    """What the model is called with: x (or the inputs in it), and y too when the forward computes the loss."""
    args = x if isinstance(x, tuple) else (x,)
    return args + (() if loss_fn is not None or y is None else (y,))


def torch_loss(model: Any, loss_fn: Any, x: Any, y: Any) -> Any:
    """The loss as PyTorch computes it: loss_fn of the model's output, or the single number the forward returns."""
    out = model(*inputs(loss_fn, x, y))
    items = out if isinstance(out, tuple) else (out,)
    if loss_fn is None:
        (loss,) = [o for o in items if torch.is_tensor(o) and o.numel() == 1]
        return loss
    return loss_fn(items[0], y)


def torch_gradient(model: Any, loss_fn: Any, x: Any, y: Any, name: str) -> np.ndarray:
    param = dict(model.named_parameters())[name]
    (grad,) = torch.autograd.grad(torch_loss(model, loss_fn, x, y), [param])
    return grad.numpy()


def central_difference(model: Any, loss_fn: Any, x: Any, y: Any, name: str, index: tuple[int, ...],
                       eps: float = 1e-6) -> float:
    """d loss / d name[index] from the loss at the entry ± eps; the entry is put back after. (Not on a copy:
    makemore's ``mlpf = lambda x: m.c_proj(...)`` would still call the original's layers.)"""
    param = dict(model.named_parameters())[name]
    losses = []
    with torch.no_grad():
        start = float(param[index])
        try:
            for value in (start + eps, start - eps):
                param[index] = value
                losses.append(float(torch_loss(model, loss_fn, x, y)))
        finally:
            param[index] = start
    return (losses[0] - losses[1]) / (2 * eps)


def assert_equals_pytorch(entry: ZooModel, exp: Any, case: tuple) -> None:
    """The explained number is PyTorch's: computed here for a forward that draws nothing, else the one
    explain_torch compared it with (the same draw, such as dropout's mask)."""
    model, loss_fn, x, y, wrt = case
    name, index = parsed(wrt)
    if entry.random:
        expected = np.asarray(exp.details["torch_gradient"])
    else:
        expected = torch_gradient(model, loss_fn, x, y, name)
        if index is not None:
            numerical = central_difference(model, loss_fn, x, y, name, index)
            np.testing.assert_allclose(expected[index], numerical, rtol=1e-5, atol=1e-8)
    ours = np.asarray(exp.gradient, dtype=float)
    if ours.ndim == 0 and index is not None and expected.ndim:
        expected = expected[index]
    assert ours.shape == np.shape(expected)
    np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=1e-300)


def assert_names_the_users_line(text: str) -> None:
    """'line N of file.py (code…)' with that code on line N of the zoo's file (or this test's, for a loss)."""
    found = _LINE.search(text)
    assert found, f"the message names no line of the model's code: {text}"
    number, filename, code = int(found.group(1)), found.group(2), found.group(3).rstrip("…)")
    path = ZOO / filename if (ZOO / filename).exists() else Path(__file__).with_name(filename)
    assert path.exists(), f"the message names {filename}, which is not the model's file: {text}"
    line = path.read_text().splitlines()[number - 1]
    assert code.strip()[:15] in line, f"line {number} of {filename} is {line.strip()!r}, not the code quoted: {text}"


def traced(model: Any, given: int) -> Any:
    """The forward as torch.fx traces it, arguments not given held at their defaults; None when fx cannot."""
    params = list(inspect.signature(model.forward).parameters.values())[given:]
    tracer = torch.fx.Tracer()
    try:
        graph = tracer.trace(model, concrete_args={p.name: p.default for p in params if p.default is not p.empty})
    except Exception:  # noqa: BLE001 - then only the message's own words are checked
        return None
    return torch.fx.GraphModule(tracer.root, graph)


def assert_names_every_unsupported_call(text: str, model: Any, given: int) -> None:
    """Each layer, function and method the forward calls is in the supported lists or named as unsupported."""
    head, _, lists = text.partition(" by backproplab; supported layers: ")
    layers, _, rest = lists.partition("; functions: ")
    functions, _, methods = rest.partition("; tensor methods: ")
    assert layers and functions and methods, f"the message lists no layers, functions and methods: {text}"
    layers_, functions_, methods_ = (set(part.split(", ")) for part in (layers, functions, methods))
    head = " ".join(clause.split(" (")[0] for clause in head.split("; "))  # the calls named, not the code quoted
    gm = traced(model, given)
    for node in [] if gm is None else gm.graph.nodes:
        if node.op == "call_module":
            kind = type(gm.get_submodule(node.target)).__name__
            assert kind in layers_ or kind in head, f"{kind} is neither supported nor named: {text}"
        elif node.op == "call_method" and f".{node.target}" not in methods_:
            assert f".{node.target}()" in head, f".{node.target}() is neither supported nor named: {text}"
        elif node.op == "call_function" and getattr(node.target, "__module__", "") not in ("_operator", "builtins"):
            name = node.target.__name__
            if not any(f == name or f.endswith("." + name) for f in functions_):
                assert name in head, f"{name} is neither supported nor named: {text}"


def assert_clear_refusal(exc: TorchBridgeError, case: tuple) -> None:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text, f"the refusal is not one line: {text!r}"
    assert "report" not in text, f"backproplab's number is not PyTorch's: {text}"
    assert_names_the_users_line(text)
    if "supported layers:" in text:
        model, loss_fn, x, y, _ = case
        assert_names_every_unsupported_call(text, model, len(inputs(loss_fn, x, y)))
    else:
        assert any(word in text for word in ADVICE), f"the refusal says nothing to do: {text}"


def explained_or_refused(entry: ZooModel, case: tuple) -> str:
    """'equal' or 'refused', having checked which it is; anything else raises."""
    model, loss_fn, x, y, wrt = case
    try:
        exp = bl.explain_torch(model, loss_fn, x, y, wrt=wrt)
        text = exp.to_text()  # what the user reads: rendering it must work too
    except TorchBridgeError as exc:
        assert_clear_refusal(exc, case)
        return "refused"
    assert_equals_pytorch(entry, exp, case)
    assert wrt.split("[")[0] in text
    return "equal"


def test_the_set_has_twenty_models_each_from_a_public_file():
    assert len(MODELS) >= 20
    assert len({m.name for m in MODELS}) == len(MODELS)
    for m in MODELS:
        assert m.source.startswith("https://github.com/") and m.source.split("/")[-1].endswith((".py", ".md"))


@pytest.mark.parametrize("entry", MODELS, ids=[m.name for m in MODELS])
def test_an_entry_equals_pytorchs_or_the_model_is_refused_in_one_clear_line(entry):
    assert explained_or_refused(entry, entry.build()) in ("equal", "refused")


CHEAP = [m for m in MODELS if m.name in ("quickstart NeuralNetwork", "Mnist_Logistic", "CharRNN", "makemore Bigram",
                                          "makemore RNN (RNNCell)", "nanoGPT GPT", "SDPA CausalSelfAttention (eval)")]


@functools.cache
def verdict(name: str) -> str:
    (entry,) = [m for m in MODELS if m.name == name]
    return explained_or_refused(entry, entry.build())


@settings(max_examples=10, phases=[Phase.explicit, Phase.generate])  # each example explains a model: no shrinking
@given(st.sampled_from(CHEAP), st.integers(0, 2**16), st.integers(1, 4))
def test_other_seeds_and_batch_sizes_give_the_same_verdict(entry, seed, batch):
    """A model explained for one batch is explained for others; a refused one is refused (clearly) for all."""
    assert explained_or_refused(entry, entry.build(seed=seed, batch=batch)) == verdict(entry.name)


def test_the_checks_fail_a_number_off_by_a_little_and_an_unclear_refusal():
    """The verdicts above can fail: a gradient 1e-7 off, or a refusal without a line, advice or a single line."""
    entry = next(m for m in MODELS if m.name == "Mnist_Logistic")
    case = entry.build()
    exp = bl.explain_torch(*case[:4], wrt=case[4])
    assert_equals_pytorch(entry, exp, case)
    with pytest.raises(AssertionError):
        assert_equals_pytorch(entry, dataclasses.replace(exp, gradient=exp.gradient * (1 + 1e-7)), case)
    source = (ZOO / "pytorch_tutorials.py").read_text().splitlines()
    number = source.index("        return xb @ self.weights + self.bias") + 1
    clear = f"the thing (used at line {number} of pytorch_tutorials.py (return xb @ self.weights…)) cannot; use x"
    assert_clear_refusal(TorchBridgeError(clear), case)
    for unclear in (clear.replace("; use x", ""), clear.replace("; ", "\n"), clear.replace(f"line {number}", "line 3"),
                    clear.replace("pytorch_tutorials.py", "model.py"), clear + "; please report this model as a bug"):
        with pytest.raises(AssertionError):
            assert_clear_refusal(TorchBridgeError(unclear), case)


def test_a_listing_refusal_must_name_each_call_it_does_not_list_as_supported():
    entry = next(m for m in MODELS if m.name == "quickstart NeuralNetwork")
    case = entry.build()
    source = (ZOO / "pytorch_tutorials.py").read_text().splitlines()
    number = source.index("        x = self.flatten(x)") + 1
    lists = "by backproplab; supported layers: Linear, ReLU; functions: torch.add; tensor methods: .sum"
    named = f"Flatten (the layer 'flatten', used at line {number} of pytorch_tutorials.py (x = self.flatten(x))) " \
            f"is not supported {lists}"
    assert_clear_refusal(TorchBridgeError(named), case)
    with pytest.raises(AssertionError, match="Flatten is neither supported nor named"):
        assert_clear_refusal(TorchBridgeError(named.replace("Flatten (the layer", "A layer (the layer")), case)


def one_line_refusal(case: tuple, **changes: Any) -> str:
    model, loss_fn, x, y, wrt = case
    arguments = {"x": x, "y": y, "wrt": wrt, **changes}
    with pytest.raises(TorchBridgeError) as info:
        bl.explain_torch(model, loss_fn, arguments["x"], arguments["y"], wrt=arguments["wrt"])
    text = str(info.value)
    assert "\n" not in text and "report" not in text
    return text


def test_bad_input_to_a_zoo_model_is_refused_in_one_line_that_names_it():
    (gpt,) = [m for m in MODELS if m.name == "nanoGPT GPT"]
    case = gpt.build()
    shape = tuple(dict(case[0].named_parameters())["transformer.h.0.attn.c_attn.weight"].shape)
    assert "transformer.wte.weight" in one_line_refusal(case, wrt="lm_head.weight[1,2]")  # tied: its other name
    assert str(shape) in one_line_refusal(case, wrt=f"transformer.h.0.attn.c_attn.weight[{shape[0]},0]")
    assert "'nope'" in one_line_refusal(case, wrt="nope")
    (quickstart,) = [m for m in MODELS if m.name == "quickstart NeuralNetwork"]
    case = quickstart.build()
    text = one_line_refusal(case, x=case[2][:, :5])
    assert "36" in text and "pytorch_tutorials.py" in text
