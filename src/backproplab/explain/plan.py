"""Explanations of a whole run, built once and filled in per iteration.

The structure of a parameter's explanation (its paths, factors and formulas) is the same at
every iteration of a run; only the numbers change. :class:`RunExplainer` records the run's
graph once, finds each parameter's paths once, then fills in the numbers of every iteration
from the recorded parameter values: the graph is replayed (``bl.compile``, bit for bit the
plain path's numbers) and each link's local derivative is evaluated for all iterations at
once, with the op's own VJP on the values stacked along a new first axis. An explanation is
rendered only when asked for, and is string for string the one ``bl.explain`` gives at that
iteration.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from backproplab.autodiff import compile, unbroadcast
from backproplab.explain.core import Explanation, Prepared, explain, paths_limit
from backproplab.explain.paths import Paths, TooManyPathsError
from backproplab.explain.steps import run_moments
from backproplab.losses import get_loss
from backproplab.nn import Module
from backproplab.ops import OPS
from backproplab.tensor import Tensor
from backproplab.trace import Trace, scalar


class RunExplainer:
    """``explain`` for every parameter at every iteration of ``trace``: structure once, numbers per iteration.

    ``explanation(name, k)`` is ``bl.explain`` of parameter ``name`` at the k-th iteration the
    trace kept (1-based; for a trace that kept every iteration, iteration k), with that
    iteration's step, as ``explain_run`` shows it. The model is copied, so the one passed in
    is left as it is.
    """

    def __init__(self, trace: Trace, model: Module, params: list[str] | None = None, *, digits: int = 2,
                 form: str = "auto", max_terms: int = 64, iterations: list[int] | None = None) -> None:
        if trace.inputs is None or not trace.iterations:
            raise ValueError("this trace has no iterations or no data to explain")
        self.trace, self.digits, self.form, self.max_terms = trace, digits, form, max_terms
        self.model = _copy(model)
        self.named = dict(self.model.named_parameters())
        self.names = list(params or trace.optimize)
        unknown = [n for n in self.names if n not in self.named]
        if unknown:
            raise KeyError(f"no parameter named {unknown[0]!r}")
        for name, p in self.named.items():
            p.requires_grad = name in trace.optimize
        self.loss_fn = get_loss(trace.loss)
        self.moments = {n: run_moments(trace, n) for n in self.names if trace.optimizer == "adam"}
        self.model.load_state_dict(trace.iterations[0].params)
        x, y = Tensor(trace.inputs, name="x"), Tensor(trace.targets, name="y")
        self.run = compile(lambda: self.loss_fn(self.model(x), y))
        self.loss = self.run.forward()
        self.tape = self.run.tape
        self.iterations = list(range(len(trace.iterations))) if iterations is None else list(iterations)
        self.rows = {k: row for row, k in enumerate(self.iterations)}  # iteration index -> row of the numbers
        self.structure: dict[str, Prepared | None] = {n: self._structure(self.named[n]) for n in self.names}
        self._fill()

    # --- built once ----------------------------------------------------------------------------
    def _structure(self, wrt: Tensor) -> Prepared | None:
        """The paths of ``wrt``'s explanation, or None when it is not written path by path."""
        if self.tape is None or not (self.form == "paths" or (self.form == "auto" and wrt.data.size == 1)):
            return None
        order = self.tape.order
        if all(n is not wrt for n in order):
            return None
        paths = Paths(order, self.loss, wrt)
        try:
            if self.form != "paths" and paths.cost(order) > 5_000:
                return None
            found = paths.enumerate((0,) * wrt.data.ndim, paths_limit(self.form, self.max_terms))
        except TooManyPathsError:
            return None
        return Prepared(order, paths, found, {})

    # --- numbers, for every iteration at once --------------------------------------------------
    def _fill(self) -> None:
        """Every node's value and every gradient per iteration (replayed), then every link's value."""
        nodes = self.tape.nodes if self.tape is not None else []
        slot = {id(n): i for i, n in enumerate(nodes)}
        values: list[list[np.ndarray]] = []
        grads: list[list[Any]] = []
        params = list(self.named.values())
        for k in self.iterations:
            self.model.load_state_dict(self.trace.iterations[k].params)
            for p in params:
                p.grad = None
            self.run.forward()
            g = self.run.backward()
            values.append([n.data.copy() for n in nodes])
            grads.append([None if a is None else np.array(a, copy=True) for a in g])
        self.values = values
        self.stacked = [np.stack([v[i] for v in values]) for i in range(len(nodes))] if values else []
        self.grads = {n: [g[slot[id(self.named[n])]] for g in grads] for n in self.names if self.structure[n]}
        self.link_values: dict[str, np.ndarray] = {}
        local_cache: dict[tuple[int, int], np.ndarray] = {}
        for name, prepared in self.structure.items():
            if prepared is None:
                continue
            links = [link for path in prepared.found for link in path]
            columns = [self._link_column(link, slot, local_cache) for link in links]
            self.link_values[name] = np.stack(columns, axis=1) if columns else np.empty((len(values), 0))

    def _link_column(self, link: Any, slot: dict[int, int], cache: dict) -> np.ndarray:
        """One link's local derivative at every iteration."""
        node = link.node
        if node.op.elementwise:
            key = (id(node), link.k)
            local = cache.get(key)
            if local is None:
                local = cache[key] = self._elementwise_local(node, link.k, slot)
            return local[(slice(None), *link.out_index)]
        return np.array([self._jacobian_entry(link, slot, k, cache) for k in range(len(self.values))])

    def _elementwise_local(self, node: Tensor, k: int, slot: dict[int, int]) -> np.ndarray:
        """d node / d input_k entry by entry, for all iterations in one call of the op's VJP."""
        out = self.stacked[slot[id(node)]]
        width = out.ndim - 1

        def lift(a: np.ndarray) -> np.ndarray:  # (iterations, ...) lined up with the output's axes
            return a.reshape((a.shape[0],) + (1,) * (width - (a.ndim - 1)) + a.shape[1:])

        inputs = [lift(self.stacked[slot[id(p)]]) for p in node.parents]
        local = node.op.vjps[k](np.ones_like(out), out, *inputs, **(node.attrs or {}))
        return np.broadcast_to(local, out.shape)

    def _jacobian_entry(self, link: Any, slot: dict[int, int], k: int, cache: dict) -> float:
        """One entry of a non-elementwise op's Jacobian at one iteration: the op's VJP of a unit
        gradient at that output entry, as ``paths`` computes it (which entries are linked is known)."""
        node = link.node
        key = (id(node), link.k, link.out_index, k)
        col = cache.get(key)
        if col is None:
            row = self.values[k]
            out = row[slot[id(node)]]
            g = np.zeros_like(out)
            g[link.out_index] = 1.0
            local = node.op.vjps[link.k](g, out, *[row[slot[id(p)]] for p in node.parents], **(node.attrs or {}))
            col = cache[key] = unbroadcast(np.asarray(local), node.parents[link.k].data.shape)
        return float(col[link.in_index])

    # --- rendered on demand --------------------------------------------------------------------
    def explanation(self, name: str, iteration: int) -> Explanation:
        """``bl.explain`` of ``name`` at ``iteration`` (1-based), with that iteration's step."""
        k = iteration - 1
        if not 0 <= k < len(self.trace.iterations):
            raise ValueError(f"iteration {iteration} is not in this run's trace (1 to {len(self.trace.iterations)})")
        it = self.trace.iterations[k]
        moments = self.moments[name][k] if name in self.moments else None
        options = {"digits": self.digits, "form": self.form, "max_terms": self.max_terms,
                   "lr": self.trace.learning_rate, "step_rule": self.trace.optimizer,
                   "step": scalar(it.step_sizes[name]), "moments": moments}
        prepared = self.structure.get(name)
        if prepared is None or k not in self.rows:
            return self._plain(name, it, options)
        row = self.set_values(iteration)
        links = [link for path in prepared.found for link in path]
        for link, value in zip(links, self.link_values[name][row].tolist()):
            link.value = value
        wrt = self.named[name]
        prepared.grads = {id(wrt): self.grads[name][row]}
        return explain(self.loss, wrt, prepared=prepared, **options)

    def set_values(self, iteration: int) -> int:
        """Put iteration ``iteration``'s values (1-based) into the recorded graph; returns its row."""
        row = self.rows[iteration - 1]
        for node, value in zip(self.tape.nodes, self.values[row]):
            node.data = value
        return row

    def prediction_and_loss(self, iteration: int) -> tuple[np.ndarray, float]:
        """The model's output and the loss at ``iteration`` (1-based), as the run computed them."""
        self.set_values(iteration)
        return self.loss.parents[0].data, float(self.loss.data)

    def _plain(self, name: str, it: Any, options: dict[str, Any]) -> Explanation:
        model = _copy(self.model)
        model.load_state_dict(it.params)
        x, y = Tensor(self.trace.inputs, name="x"), Tensor(self.trace.targets, name="y")
        loss = self.loss_fn(model(x), y)
        return explain(loss, dict(model.named_parameters())[name], **options)


def _copy(model: Module) -> Module:
    """A deep copy of the model that shares the op table's ops (the engine tells ops apart by identity)."""
    return copy.deepcopy(model, memo={id(op): op for op in OPS.values()})
