"""The numbers "check my working" compares with, read off one iteration of a run: the predictions
and parameters before and after, the chain rule's terms with each factor named (from the paths
form of the explainer), and the explainer's own lines of working to show as the right ones.

Nothing here knows a derivative: the factors are the explainer's, their formulas the op table's.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backproplab.engine.autodiff import op_of, topological_order
from backproplab.engine.ops import OPS
from backproplab.engine.tensor import Tensor
from backproplab.explain.chain import factor_line
from backproplab.explain.core import Explanation, namer_for
from backproplab.explain.document import ExplainError
from backproplab.explain.forward import forward_table, output_name
from backproplab.explain.paths import Paths, TooManyPathsError, split
from backproplab.explain.plan import RunExplainer
from backproplab.nn import Module
from backproplab.nn.losses import get_loss
from backproplab.spec import presets
from backproplab.train.trace import Iteration, Trace
from backproplab.util.messages import InputError
from backproplab.util.numbers import number

MAX_PATHS = 200  # a parameter with more chain-rule paths is checked without its chain-factor mistakes
SIGN_LOSSES = ("ssr", "mse")  # losses whose first factor is −2 × (y − ŷ) …: the residual's sign and the −2 to get wrong


@dataclass
class Chain:
    """The chain rule for one parameter at one iteration: per term, its sample, its factors' values and names."""

    samples: list[int]  # the sample of each term's first factor (dL/dŷ_i), or -1
    values: list[list[float]]
    names: list[list[str]]
    lines: dict[str, str]  # factor name -> its line, dŷ_i/dh1_i = w3
    jacobian: np.ndarray | None = None  # dŷ_i/dp per sample, when every term starts at dL/dŷ_i


@dataclass
class Work:
    """One iteration of a run, as the checker needs it. ``previous`` is iteration k−1 (None at k = 1)."""

    trace: Trace
    model: Module
    k: int  # 1-based, as people count the iterations
    row: int  # where it is in the trace (0-based; a thinned run keeps only some iterations)
    it: Iteration
    previous: Iteration | None  # iteration k − 1, when the trace keeps it (then at row − 1)
    params: list[str]  # the optimised single-number parameters
    digits: int = 2
    chains: dict[str, Chain | None] = field(default_factory=dict)
    explanations: dict[tuple[str, int], Explanation] = field(default_factory=dict)
    plan: RunExplainer | None = None
    predicted: dict[tuple, np.ndarray] = field(default_factory=dict)

    @property
    def lr(self) -> float:
        return float(self.it.lr if self.it.lr is not None else self.trace.learning_rate)

    @property
    def plain_descent(self) -> bool:
        """Whether the step is the textbook one, step size = gradient × learning rate."""
        return self.trace.optimizer == "gradient_descent"

    def yhat(self) -> np.ndarray:
        return np.asarray(self.it.predictions, dtype=float).reshape(-1)

    def predictions(self, params: dict[str, Any]) -> np.ndarray:
        """The model's output on the run's data with these parameter values (the others as at iteration k);
        kept, as every sample's check asks for the same few."""
        key = tuple((p, np.asarray(v, dtype=float).tobytes()) for p, v in sorted(params.items()))
        if key not in self.predicted:
            model = copy_model(self.model)
            model.load_state_dict({**self.it.params, **params})
            self.predicted[key] = np.asarray(model(Tensor(self.trace.inputs, name="x")).data, dtype=float).reshape(-1)
        return self.predicted[key]

    def loss_derivative(self, yhat: np.ndarray) -> np.ndarray | None:
        """dL/dŷ_i at these predictions, by the loss op's own backward rule; None for a loss it does not fit."""
        loss = self._loss(self.it.params)
        if loss.op is None or not loss.parents:
            return None
        out = loss.parents[0]
        shaped = np.asarray(yhat, dtype=float).reshape(out.data.shape)
        g = op_of(loss).vjp(0)(np.ones_like(loss.data), loss.data, shaped, *[p.data for p in loss.parents[1:]],
                               **(loss.attrs or {}))
        return np.asarray(g, dtype=float).reshape(-1)

    def loss_name(self) -> str:
        loss = self._loss(self.it.params)
        return loss.op.name if loss.op is not None else ""

    def _loss(self, params: dict[str, Any], model: Module | None = None) -> Tensor:
        """The loss graph with these parameter values (in ``model``, a copy of the run's network, if given)."""
        model = copy_model(self.model) if model is None else model
        model.load_state_dict(params)
        x, y = Tensor(self.trace.inputs, name="x"), Tensor(self.trace.targets, name="y")
        return get_loss(self.trace.loss)(model(x), y)

    def chain(self, name: str) -> Chain | None:
        """The chain rule for ``name`` at this iteration; None when there are too many paths to name each factor."""
        if name not in self.chains:
            self.chains[name] = self._chain(name)
        return self.chains[name]

    def _chain(self, name: str) -> Chain | None:
        model = copy_model(self.model)
        loss = self._loss(self.it.params, model)
        wrt = dict(model.named_parameters())[name]
        order = topological_order(loss)
        if all(n is not wrt for n in order):
            return None
        namer = namer_for(order, loss, wrt)
        try:
            found = Paths(order, loss, wrt).enumerate((0,) * wrt.data.ndim, MAX_PATHS)
        except TooManyPathsError:
            return None
        terms = [split(p, namer, loss) for p in found]
        out = loss.parents[0] if loss.parents else None
        chain = Chain([], [], [], {})
        for t in terms:
            first = t.factors[0]
            at_output = out is not None and first.bottom[0] is out and len(first.bottom[1]) >= 1
            chain.samples.append(int(first.bottom[1][0]) if at_output else -1)
            chain.values.append([f.value for f in t.factors])
            named = [factor_line(f, namer) for f in t.factors]
            chain.names.append([n for n, _ in named])
            chain.lines.update({n: line for n, line in named})
        n = len(self.yhat())
        if all(0 <= s < n for s in chain.samples) and out is not None and out.data.size == n:
            jac = np.zeros(n)
            for s, values in zip(chain.samples, chain.values):
                jac[s] += math.prod(values[1:])
            chain.jacobian = jac
        return chain

    def explanation(self, name: str, previous: bool = False) -> Explanation:
        """The explainer's working of ``name`` at this iteration (or the one before), with its step."""
        row = self.row - 1 if previous else self.row  # the trace's row: a thinned run keeps only some iterations
        if (name, row) not in self.explanations:
            if self.plan is None:
                rows = [self.row] + ([self.row - 1] if self.previous is not None else [])
                self.plan = RunExplainer(self.trace, self.model, self.params, digits=self.digits, iterations=rows)
            self.explanations[(name, row)] = self.plan.explanation(name, row + 1)  # the plan counts rows from 1
        return self.explanations[(name, row)]

    def forward_line(self, sample: int, value: float) -> str:
        """ŷ_i's formula, as the forward-pass table heads its column, with sample ``sample``'s value."""
        model = copy_model(self.model)
        model.load_state_dict(self.it.params)
        table = forward_table(model, self.trace.inputs, self.trace.targets, self.trace.loss, digits=self.digits)
        symbol = output_name(model, self.trace.inputs) + "_i"
        column = next((c for c in table.details["columns"] if c["name"] == symbol and c["formula"]), None)
        lhs = f"{symbol} = {column['formula']}" if column is not None else symbol
        return f"{lhs}; for sample {sample + 1}: {number(value, self.digits)}"


def working_lines(exp: Explanation, start: str) -> list[str]:
    """The lines of the explainer's working that follow its paragraph starting with ``start``."""
    blocks = exp.blocks
    for at, block in enumerate(blocks):
        if block.kind == "para" and block.parts and str(block.parts[0]).startswith(start):
            out = []
            for b in blocks[at + 1:]:
                if b.kind in ("para", "heading"):
                    break
                out += [" ".join(line.text.split()) for line in b.lines]  # a line wrapped for the terminal, unwrapped
            return out
    return []


def step_lines(exp: Explanation) -> tuple[str, str]:
    """The explainer's step line (step size = …) and update line (new p = old p − step size = …)."""
    lines = [line.text for b in exp.blocks if b.kind == "lines" for line in b.lines]
    step = next((t for t in lines if t.startswith("step size")), "")
    new = next((t for t in lines if t.startswith("new ")), "")
    return step, new


def copy_model(model: Module) -> Module:
    """A deep copy of the model that shares the op table's ops (the engine tells ops apart by identity)."""
    return copy.deepcopy(model, memo={id(op): op for op in OPS.values()})


def dosage_model(trace: Trace) -> Module:
    """The dosage example's network, when ``trace`` is a run of it (the same parameters, data and predictions)."""
    net, (x, y) = presets.statquest()
    it = trace.iterations[0] if trace.iterations else None
    same = (it is not None and set(it.params) == {n for n, _ in net.named_parameters()}
            and np.shape(trace.inputs) == np.shape(x) and np.allclose(trace.inputs, x)
            and np.allclose(np.asarray(trace.targets, dtype=float).reshape(-1), np.asarray(y, dtype=float).reshape(-1)))
    if same and it is not None:
        net.load_state_dict(it.params)
        if np.allclose(np.asarray(net(Tensor(x)).data).reshape(-1), np.asarray(it.predictions).reshape(-1),
                       rtol=1e-12, atol=1e-12):
            return net
    raise InputError("this run is not of the dosage example, so the checker needs its network: "
                     "bl.check(trace, model=net, iteration=…, …)")


def work_for(trace: Trace, iteration: int, model: Module | None = None, digits: int = 2) -> Work:
    """One iteration of ``trace`` ready to check; an :class:`InputError` for an iteration it does not hold."""
    if not isinstance(trace, Trace):
        raise TypeError(f"check takes a trace (what fit() returns), got {type(trace).__name__}")
    if trace.inputs is None or not trace.iterations:
        raise ExplainError("this trace has no iterations or no data to check against")
    steps = {it.step + 1: i for i, it in enumerate(trace.iterations)}
    if isinstance(iteration, bool) or not isinstance(iteration, (int, np.integer)) or int(iteration) not in steps:
        some = list(steps)[:6]
        kept = "" if len(steps) == trace.iterations[-1].step + 1 else \
            f" that this trace keeps ({', '.join(map(str, some))}{', …' if len(steps) > len(some) else ''})"
        raise InputError(f"iteration {iteration!r} is not in this run: choose a whole number from 1 to "
                         f"{trace.iterations[-1].step + 1}{kept}")
    k = int(iteration)
    row = steps[k]
    it = trace.iterations[row]
    previous = trace.iterations[row - 1] if steps.get(k - 1) == row - 1 else None
    model = dosage_model(trace) if model is None else model
    params = [p for p in trace.optimize if np.asarray(it.params[p]).size == 1]
    return Work(trace, model, k, row, it, previous, params, digits)
