"""Recurrent layers, as ``torch.nn.RNN``, ``GRU`` and ``LSTM``: the same parameter names, layouts, gate order
and defaults, so a PyTorch ``state_dict`` loads as it is.

The network is unrolled over the time steps: each step is a few table ops (matmul, add, sigmoid, tanh,
slicing), and its hidden state is named ``h1``, ``h2``, … (``c1``, … for an LSTM's cell; the gates ``r1``,
``z1``, ``n1`` of a GRU and ``i1``, ``f1``, ``g1``, ``o1`` of an LSTM), so the chain rule for an entry of
``weight_hh_l0`` reads step by step, one term per time step the weight was used in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from backproplab.engine.functions import sigmoid, stack, tanh
from backproplab.engine.tensor import ShapeError, Tensor
from backproplab.nn.linear import check_sizes, linear
from backproplab.nn.module import Module
from backproplab.nn.parameter import Parameter

__all__ = ["GRU", "LSTM", "RNN", "LayerWeights", "recurrent"]

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
"""Blocks of ``hidden_size`` rows in ``weight_ih_l0`` and ``weight_hh_l0``: PyTorch's gate order is r, z, n
for a GRU and i, f, g, o for an LSTM."""
GATE_NAMES = {"GRU": "rzn", "LSTM": "ifgo"}


class LayerWeights(NamedTuple):
    """One layer's weight_ih (gates·H, in), weight_hh (gates·H, H), and biases (gates·H,) or None."""

    w_ih: Any  # a Tensor (Any: the bridge hands over what the converted network holds)
    w_hh: Any
    b_ih: Any
    b_hh: Any


def _affine(x: Tensor | None, w: Tensor, b: Tensor | None) -> Tensor | None:
    """x Wᵀ + b; with no x (a zero state) just b, since 0·Wᵀ adds nothing to the value or any gradient."""
    return b if x is None else linear(x, w, b)


def _plus(a: Tensor, b: Tensor | None) -> Tensor:
    return a if b is None else a + b


def _block(t: Any, k: int, size: int) -> Any:
    """Gate k's columns of a pre-activation of all the gates."""
    return None if t is None else t[..., k * size:(k + 1) * size]


class _Step:
    """One layer's step: the names it gives and the function that computes it."""

    def __init__(self, kind: str, size: int, nonlinearity: str, label: str) -> None:
        self.kind, self.size, self.nonlinearity, self.label = kind, size, nonlinearity, label

    def name(self, letter: str, t: int) -> str:
        return f"{letter}{t}{self.label}"

    def __call__(self, gi: Tensor, gh: Tensor | None, state: Any, t: int) -> Any:
        if self.kind == "RNN":
            return self.rnn(gi, gh, t)
        gi.named(self.name("ih", t))  # x_t W_ihᵀ + b_ih, all the gates' input parts
        if gh is not None and _hidden(state) is not None:  # else gh is bias_hh itself, or None
            gh.named(self.name("hh", t))
        return self.lstm(gi, gh, state, t) if self.kind == "LSTM" else self.gru(gi, gh, state, t)

    def gate(self, letter: str, gi: Tensor, gh: Tensor | None, k: int, t: int) -> Tensor:
        """Gate k's pre-activation, the sum of its input and hidden parts, named pre_r3, pre_i3, …"""
        return _plus(_block(gi, k, self.size), _block(gh, k, self.size)).named(self.name(f"pre_{letter}", t))

    def rnn(self, gi: Tensor, gh: Tensor | None, t: int) -> Tensor:
        pre = _plus(gi, gh).named(self.name("z", t))
        out = tanh(pre) if self.nonlinearity == "tanh" else pre.relu()
        return out.named(self.name("h", t))

    def gru(self, gi: Tensor, gh: Tensor | None, h: Tensor | None, t: int) -> Tensor:
        r = sigmoid(self.gate("r", gi, gh, 0, t)).named(self.name("r", t))
        z = sigmoid(self.gate("z", gi, gh, 1, t)).named(self.name("z", t))
        hn, H = _block(gh, 2, self.size), self.size
        pre_n = _block(gi, 2, H) if hn is None else _block(gi, 2, H) + r * hn
        n = tanh(pre_n.named(self.name("pre_n", t))).named(self.name("n", t))
        out = (1.0 - z) * n if h is None else (1.0 - z) * n + z * h
        return out.named(self.name("h", t))

    def lstm(self, gi: Tensor, gh: Tensor | None, state: tuple[Tensor | None, Tensor | None],
             t: int) -> tuple[Tensor, Tensor]:
        i, f, o = (sigmoid(self.gate(letter, gi, gh, k, t)).named(self.name(letter, t))
                   for letter, k in (("i", 0), ("f", 1), ("o", 3)))
        g = tanh(self.gate("g", gi, gh, 2, t)).named(self.name("g", t))
        c = state[1]
        c_new = (i * g if c is None else f * c + i * g).named(self.name("c", t))
        return (o * tanh(c_new).named(self.name("tanh_c", t))).named(self.name("h", t)), c_new


def _sequence(x: Any, input_size: int, batch_first: bool, what: str) -> tuple[Tensor, bool]:
    """The input as (L, N, input_size), and whether it came unbatched as (L, input_size)."""
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))
    if x.ndim not in (2, 3) or x.shape[-1] != input_size:
        layout = "(batch, seq_len, input_size)" if batch_first else "(seq_len, batch, input_size)"
        raise ShapeError(f"{what} takes input of shape {layout} or (seq_len, input_size) with input_size="
                         f"{input_size}, got shape {tuple(x.shape)}")
    if 0 in x.shape:
        raise ShapeError(f"{what}: the input of shape {tuple(x.shape)} has no time steps or no samples")
    if x.ndim == 2:
        return x.unsqueeze(1), True
    return (x.transpose(0, 1) if batch_first else x), False


def _state(hx: Any, shape: tuple[int, ...], unbatched: bool, what: str, name: str) -> list[Tensor | None]:
    """The initial state per layer from a (num_layers, N, H) tensor ((num_layers, H) unbatched); None: zeros."""
    if hx is None:
        return [None] * shape[0]
    hx = hx if isinstance(hx, Tensor) else Tensor(np.asarray(hx, dtype=np.float64))
    wanted = (shape[0], shape[2]) if unbatched else shape
    if tuple(hx.shape) != wanted:
        raise ShapeError(f"{what}: the initial state {name} must have shape {wanted} (num_layers, "
                         f"{'' if unbatched else 'batch, '}hidden_size), got {tuple(hx.shape)}")
    hx = hx.unsqueeze(1) if unbatched else hx
    return [hx[layer] for layer in range(shape[0])]


def _initial(kind: str, hx: Any, shape: tuple[int, ...], unbatched: bool, what: str) -> list[Any]:
    if kind != "LSTM":
        return _state(hx, shape, unbatched, what, "h_0")
    if hx is None:
        return [(None, None)] * shape[0]
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise ShapeError(f"{what}: an LSTM's initial state is a pair (h_0, c_0), got {type(hx).__name__}")
    return list(zip(_state(hx[0], shape, unbatched, what, "h_0"), _state(hx[1], shape, unbatched, what, "c_0")))


def _named_start(state: Any, step: _Step) -> Any:
    """A given starting state named h0 (and c0), as the steps after it are named h1, h2, …"""
    h, c = state if isinstance(state, tuple) else (state, None)
    for t, letter in ((h, "h"), (c, "c")):
        if isinstance(t, Tensor) and not t.name:
            t.named(step.name(letter, 0))
    return state


def recurrent(kind: str, input: Any, hx: Any, layers: Sequence[LayerWeights], *,  # noqa: A002 - PyTorch's names
              batch_first: bool = False, nonlinearity: str = "tanh", label: str = "", what: str = "RNN") -> Any:
    """Run an RNN, GRU or LSTM (``kind``) over ``input``, layer after layer, as PyTorch's modules do.

    Returns (output, h_n), or (output, (h_n, c_n)) for an LSTM; output holds the last layer's hidden state at
    every step, in the input's layout. ``label`` is put after each step's names (h3 → h3_dec)."""
    hidden = layers[0].w_hh.shape[1]
    seq, unbatched = _sequence(input, layers[0].w_ih.shape[1], batch_first, what)
    states = _initial(kind, hx, (len(layers), seq.shape[1], hidden), unbatched, what)
    inputs, finals = [seq[t].named(f"x{t + 1}{label}") for t in range(seq.shape[0])], []
    for number, (weights, state) in enumerate(zip(layers, states)):
        step = _Step(kind, hidden, nonlinearity, label if len(layers) == 1 else f"_l{number}{label}")
        state = _named_start(state, step)
        outputs: list[Any] = []
        for t, x_t in enumerate(inputs, start=1):
            gi, gh = _plus(x_t @ weights.w_ih.T, weights.b_ih), _affine(_hidden(state), weights.w_hh, weights.b_hh)
            state = step(gi, gh, state, t)
            outputs.append(_hidden(state))
        inputs = outputs
        finals.append(state)
    output = stack(inputs, 1 if batch_first and not unbatched else 0)
    if unbatched:
        output = output.squeeze(1)
    h_n = _last(finals, 0, unbatched) if kind == "LSTM" else _last([(s,) for s in finals], 0, unbatched)
    return (output, (h_n, _last(finals, 1, unbatched))) if kind == "LSTM" else (output, h_n)


def _hidden(state: Any) -> Tensor | None:
    return state[0] if isinstance(state, tuple) else state


def _last(finals: list[tuple[Tensor, ...]], k: int, unbatched: bool) -> Tensor:
    """The layers' last states stacked as (num_layers, N, H), or (num_layers, H) unbatched."""
    out = finals[0][k].unsqueeze(0) if len(finals) == 1 else stack([s[k] for s in finals], 0)
    return out.squeeze(1) if unbatched else out


def _refuse_options(what: str, bidirectional: bool, proj_size: int, dropout: float) -> None:
    unsupported = [f"{name}={value!r}" for name, value, default in
                   (("bidirectional", bidirectional, False), ("proj_size", proj_size, 0), ("dropout", dropout, 0))
                   if value != default]
    if unsupported:
        verb = "is" if len(unsupported) == 1 else "are"
        raise ValueError(f"{what}: {', '.join(unsupported)} {verb} not supported by backproplab; it runs one "
                         "direction, no projection and no dropout between layers (leave these at their defaults)")


class _Recurrent(Module):
    """What RNN, GRU and LSTM share: PyTorch's parameters per layer, drawn uniformly within ±1/√hidden_size."""

    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 nonlinearity: str = "tanh", suffix: str = "", rng: np.random.Generator | None = None,
                 dtype: Any = np.float64) -> None:
        super().__init__()
        what = type(self).__name__
        input_size, hidden_size = check_sizes([input_size, hidden_size], f"the {what}", ("input_size", "hidden_size"))
        if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
            raise ValueError(f"{what}: num_layers must be a whole number, 1 or more, got {num_layers!r}")
        _refuse_options(what, bidirectional, proj_size, dropout)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{what}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.nonlinearity = bool(bias), bool(batch_first), nonlinearity
        self.suffix = f"_{suffix}" if suffix else ""
        rng = rng if rng is not None else np.random.default_rng(0)
        bound, rows = 1.0 / np.sqrt(hidden_size), GATES[self.kind] * hidden_size
        for layer in range(num_layers):
            shapes: dict[str, tuple[int, ...]] = {"weight_ih": (rows, input_size if layer == 0 else hidden_size),
                                                  "weight_hh": (rows, hidden_size)}
            if self.bias:
                shapes |= {"bias_ih": (rows,), "bias_hh": (rows,)}
            for base, shape in shapes.items():
                key = f"{base}_l{layer}"
                setattr(self, key, Parameter(rng.uniform(-bound, bound, shape), key + self.suffix, dtype=dtype))

    def layer_weights(self) -> list[LayerWeights]:
        """Each layer's parameters, in the order ``recurrent`` takes them."""
        return [LayerWeights(*(self._params.get(f"{base}_l{layer}") for base in
                               ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))) for layer in range(self.num_layers)]

    def forward(self, input: Any, hx: Any = None) -> Any:  # noqa: A002 - PyTorch's names
        return recurrent(self.kind, input, hx, self.layer_weights(), batch_first=self.batch_first,
                         nonlinearity=self.nonlinearity, label=self.suffix, what=type(self).__name__)

    def __repr__(self) -> str:
        extra = "" if self.num_layers == 1 else f", num_layers={self.num_layers}"
        extra += "" if self.bias else ", bias=False"
        extra += ", batch_first=True" if self.batch_first else ""
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"


class RNN(_Recurrent):
    """An Elman RNN, as ``torch.nn.RNN``: h_t = tanh(x_t W_ihᵀ + b_ih + h_(t−1) W_hhᵀ + b_hh), or relu with
    ``nonlinearity='relu'``. ``forward(input, h_0=None)`` returns (output, h_n)."""

    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 suffix: str = "", rng: np.random.Generator | None = None, dtype: Any = np.float64) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         nonlinearity=nonlinearity, suffix=suffix, rng=rng, dtype=dtype)


class GRU(_Recurrent):
    """A gated recurrent unit, as ``torch.nn.GRU``: reset r, update z and new n gates (rows in that order),
    h_t = (1 − z_t)·n_t + z_t·h_(t−1). ``forward(input, h_0=None)`` returns (output, h_n)."""

    kind = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 suffix: str = "", rng: np.random.Generator | None = None, dtype: Any = np.float64) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         suffix=suffix, rng=rng, dtype=dtype)


class LSTM(_Recurrent):
    """A long short-term memory layer, as ``torch.nn.LSTM``: input i, forget f, cell g and output o gates (rows in
    that order), c_t = f_t·c_(t−1) + i_t·g_t and h_t = o_t·tanh(c_t). ``forward(input, (h_0, c_0)=None)`` returns
    (output, (h_n, c_n))."""

    kind = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 suffix: str = "", rng: np.random.Generator | None = None, dtype: Any = np.float64) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
                         suffix=suffix, rng=rng, dtype=dtype)

