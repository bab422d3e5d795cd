"""Explanations of a whole run, built once and filled in per iteration.

The structure of a parameter's explanation (its paths, factors and formulas) is the same at
every iteration of a run; only the numbers change. :class:`RunExplainer` records the run's
graph once, builds each explanation's structure once, then fills in the numbers of every
iteration from the recorded parameter values: the graph is replayed (``bl.compile``, bit for
bit the plain path's numbers) and the numbers each form shows are taken for all iterations at
once, stacked along a new first axis:

* **paths** (one entry, every path written out): each link's local derivative, from the op's
  own VJP on the stacked values;
* **entry** (one entry of a layer's weight or bias, one term per sample): the unit's δ, the
  input it multiplies and their products;
* **delta** (layer by layer): the replayed gradients themselves; the δ rules are written once.

Only what these numbers are worked out from is kept per iteration (for a layer's entry, one
column of δ and of its inputs), so a long run of a wide network stays small; the graph is
replayed once more for the iteration an explanation is rendered at.

An explanation is rendered only when asked for, and is string for string the one
``bl.explain`` gives at that iteration. It is worked out afresh (``bl.explain`` on a new graph)
only where a structure cannot be shared: a parameter the loss does not depend on, an index that
does not fit, an explanation that is an error (too much work, ``form="paths"`` with too many
terms), an iteration that was not filled in, or a graph that is recorded anew at every step (a
mask taken from values).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from backproplab.engine.autodiff import op_of, unbroadcast
from backproplab.engine.ops import OPS
from backproplab.engine.replay import compile
from backproplab.engine.tensor import Tensor
from backproplab.explain.core import Explanation, Prepared, explain, namer_for, paths_limit, too_much_link_work
from backproplab.explain.delta import delta_plan
from backproplab.explain.document import ExplainError
from backproplab.explain.entry import EntryPlan, entry_plan, entry_work
from backproplab.explain.paths import Paths, TooManyPathsError, transposes
from backproplab.explain.steps import adam_moments
from backproplab.nn import Module
from backproplab.nn.losses import get_loss
from backproplab.train.trace import Trace

Key = tuple[str, tuple[int, ...] | None]  # a parameter, and the entry explained (None: as explain picks)
Gather = tuple[str, int, Any]  # ("value" | "grad", node, column or None) or ("same", node, node): kept per row


class RunExplainer:
    """``explain`` for every parameter at every iteration of ``trace``: structure once, numbers per iteration.

    ``explanation(name, k, index)`` is ``bl.explain`` of parameter ``name`` (of its entry ``index``,
    counted from 0) at the k-th iteration the trace kept (1-based; for a trace that kept every
    iteration, iteration k), with that iteration's step, as ``explain_run`` and ``backproplab
    explain`` show it. ``iterations`` (0-based) are the ones filled in at once, default all; more
    can be added with :meth:`fill`. ``requires_grad`` names the parameters the graph records
    gradients for (default: the optimized ones); ``moments=False`` leaves Adam's m̂ and v̂ out of
    the step. The model is copied, so the one passed in is left as it is.
    """

    def __init__(self, trace: Trace, model: Module, params: list[str] | None = None, *, digits: int = 2,
                 form: str = "auto", max_terms: int = 64, iterations: Iterable[int] | None = None,
                 requires_grad: list[str] | None = None, moments: bool = True) -> None:
        if trace.inputs is None or not trace.iterations:
            raise ExplainError("this trace has no iterations or no data to explain")
        self.trace, self.digits, self.form, self.max_terms = trace, digits, form, max_terms
        self.use_moments = moments and trace.optimizer == "adam"
        self.model = _copy(model)
        self.named = dict(self.model.named_parameters())
        self.names = list(params or trace.optimize)
        unknown = [n for n in self.names if n not in self.named]
        if unknown:
            raise KeyError(f"no parameter named {unknown[0]!r}")
        requires = set(trace.optimize if requires_grad is None else requires_grad)
        for name, p in self.named.items():
            p.requires_grad = name in requires
        self.loss_fn = get_loss(trace.loss)
        self.model.load_state_dict(trace.iterations[0].params)
        x, y = Tensor(trace.inputs, name="x"), Tensor(trace.targets, name="y")
        self.run = compile(lambda: self.loss_fn(self.model(x), y))
        self.loss = self.run.forward()
        self.tape = self.run.tape
        self.nodes = self.tape.nodes if self.tape is not None else []
        self.slot = {id(n): i for i, n in enumerate(self.nodes)}
        self.iterations: list[int] = []
        self.rows: dict[int, int] = {}  # iteration index -> row of the numbers
        self.structure: dict[Key, Prepared | None] = {}
        self._numbers: dict[Key, Any] = {}
        self._gathered: dict[Gather, list[np.ndarray]] = {}
        self._stacks: dict[Gather, np.ndarray] = {}
        self._current: tuple[int, list[Any]] | None = None  # the iteration replayed last, and its gradients
        self._moments: dict[Key, list[Any]] = {}
        for name in self.names:  # the structure of every named parameter's explanation, once
            self.structure[(name, None)] = self._structure(name, None)
        self.fill(range(len(trace.iterations)) if iterations is None else iterations)

    # --- numbers, for every iteration at once --------------------------------------------------
    def fill(self, iterations: Iterable[int]) -> None:
        """Add these iterations (0-based): the graph is replayed at each, once for all the explanations
        built so far, keeping only the values and gradients they show (a column of a layer, not all of it)."""
        new = [k for k in dict.fromkeys(iterations) if k not in self.rows]
        for k in new:
            self.rows[k] = len(self.iterations)
            self.iterations.append(k)
        if new or not self._numbers:
            self._numbers.clear()
            self.prepare(list(self.structure))

    def prepare(self, keys: list[Key]) -> None:
        """Build these explanations' structures (parameter, entry or None) and fill in their numbers,
        with one replay of the iterations for all of them."""
        for key in keys:
            if key not in self.structure:
                self.structure[key] = self._structure(*key)
        keys = [key for key in keys if self.structure[key] is not None]
        self._gather({g for key in keys for g in self._wanted(key)})
        for key in keys:
            self.numbers(key)
        if self.tape is None:  # recorded anew at some iteration: no structure holds for every one
            self.structure = dict.fromkeys(self.structure)

    def _replay(self, k: int) -> list[Any]:
        """Iteration k's values in the recorded graph, and its gradients (node by node)."""
        if self._current is None or self._current[0] != k:
            self.model.load_state_dict(self.trace.iterations[k].params)
            for p in self.named.values():
                p.grad = None
            self.run.forward()
            grads = self.run.backward()
            if self.run.tape is not self.tape:  # recorded anew (a mask from values): nothing to share
                self.tape = None
            self._current = (k, grads)
        return self._current[1]

    def _gather(self, wanted: set[Gather]) -> None:
        """Replay the rows some of ``wanted`` lacks and keep a copy of each at every row."""
        lists = [(g, self._gathered.setdefault(g, [])) for g in wanted]
        start = min((len(got) for _, got in lists), default=len(self.iterations))
        for row in range(start, len(self.iterations)):
            grads = self._replay(self.iterations[row])
            for (what, a, b), got in lists:
                if len(got) > row:
                    continue
                if what == "same":  # whether two nodes' whole gradients are equal
                    got.append(np.array(np.array_equal(grads[a], grads[b])))
                    continue
                x = grads[a] if what == "grad" else self.nodes[a].data
                got.append(np.array(x if b is None else x[:, b], copy=True))

    def stacked(self, node: Tensor, grads: bool = False, column: int | None = None) -> np.ndarray:
        """A node's value (or gradient; or only its column ``column``) at every filled-in iteration,
        along a new first axis."""
        g = ("grad" if grads else "value", self.slot[id(node)], column)
        self._gather({g})
        if g not in self._stacks or len(self._stacks[g]) != len(self.iterations):
            self._stacks[g] = np.stack(self._gathered[g])
        return self._stacks[g]

    def _same(self, below: Tensor, above: Tensor) -> np.ndarray:
        """Per row, whether the two nodes' gradients are equal, entry for entry."""
        g = ("same", self.slot[id(below)], self.slot[id(above)])
        self._gather({g})
        return np.array(self._gathered[g], dtype=bool)

    def _wanted(self, key: Key) -> set[Gather]:
        """What the numbers of ``key``'s explanation are worked out from, at every row."""
        prepared = self.structure[key]
        if prepared is None:
            return set()
        if prepared.found is not None:
            nodes = {id(n): n for path in prepared.found for link in path for n in (link.node, *link.node.parents)}
            return {("value", self.slot[i], None) for i in nodes}
        plan = prepared.entry
        if plan is None:
            return set()
        target = self._target(key)
        wanted = {("grad", self.slot[id(c)], plan.unit(target)) for c in plan.chain}
        wanted |= {("same", self.slot[id(a)], self.slot[id(b)]) for a, b in zip(plan.chain, plan.chain[1:])}
        wanted.add(("grad", self.slot[id(self.named[key[0]])], None))
        if plan.inputs is not None:
            wanted.add(("value", self.slot[id(plan.inputs)], plan.feature(target)))
        return wanted

    def numbers(self, key: Key) -> Any:
        """The numbers ``key``'s explanation shows, for every filled-in iteration (None: not shared)."""
        if key not in self.structure:
            self.structure[key] = self._structure(*key)
        prepared = self.structure[key]
        if prepared is None:
            return None
        if key not in self._numbers:
            self._gather(self._wanted(key))
            if prepared.found is not None:
                self._numbers[key] = self._link_values(prepared)
            elif prepared.entry is not None:
                self._numbers[key] = self._entry_numbers(prepared.entry, self.named[key[0]], self._target(key))
            else:
                self._numbers[key] = True  # the layer-by-layer form shows the replayed gradients as they are
        return self._numbers[key]

    def _link_values(self, prepared: Prepared) -> np.ndarray:
        """Every link's value at every iteration: (iterations, links)."""
        cache: dict[tuple, np.ndarray] = {}
        links = [link for path in prepared.found or [] for link in path]
        columns = [self._link_column(link, cache) for link in links]
        return np.stack(columns, axis=1) if columns else np.empty((len(self.iterations), 0))

    def _link_column(self, link: Any, cache: dict) -> np.ndarray:
        """One link's local derivative at every iteration."""
        node = link.node
        if node.op.elementwise:
            key = (id(node), link.k)
            local = cache.get(key)
            if local is None:
                local = cache[key] = self._elementwise_local(node, link.k)
            every_iteration = (slice(None), *link.out_index)
            return local[every_iteration]
        if transposes(node):  # Wᵀ[j, o] is W[o, j]: its local derivative is 1 at every iteration
            return np.ones(len(self.iterations))
        stacks = [self.stacked(node)] + [self.stacked(p) for p in node.parents]
        return np.array([self._jacobian_entry(link, row, stacks, cache) for row in range(len(self.iterations))])

    def _elementwise_local(self, node: Tensor, k: int) -> np.ndarray:
        """d node / d input_k entry by entry, for all iterations in one call of the op's VJP."""
        out = self.stacked(node)
        width = out.ndim - 1

        def lift(a: np.ndarray) -> np.ndarray:  # (iterations, ...) lined up with the output's axes
            return a.reshape((a.shape[0],) + (1,) * (width - (a.ndim - 1)) + a.shape[1:])

        inputs = [lift(self.stacked(p)) for p in node.parents]
        local = op_of(node).vjp(k)(np.ones_like(out), out, *inputs, **(node.attrs or {}))
        return np.broadcast_to(local, out.shape)

    def _jacobian_entry(self, link: Any, row: int, stacks: list[np.ndarray], cache: dict) -> float:
        """One entry of a non-elementwise op's Jacobian at one iteration: the op's VJP of a unit
        gradient at that output entry, as ``paths`` computes it (which entries are linked is known)."""
        node = link.node
        key = (id(node), link.k, link.out_index, row)
        col = cache.get(key)
        if col is None:
            out = stacks[0][row]
            g = np.zeros_like(out)
            g[link.out_index] = 1.0
            local = node.op.vjps[link.k](g, out, *[s[row] for s in stacks[1:]], **(node.attrs or {}))
            col = cache[key] = unbroadcast(np.asarray(local), node.parents[link.k].data.shape)
        return float(col[link.in_index])

    def _entry_numbers(self, plan: EntryPlan, wrt: Tensor, target: tuple[int, ...]) -> dict[str, Any]:
        """The entry form's numbers at every iteration: which node carries the unit's δ, δ per sample,
        the input it multiplies, their products and the engine's gradient."""
        rows = len(self.iterations)
        k = plan.unit(target)
        chain = plan.chain
        through = np.full(rows, len(chain) - 1)  # the first node of the chain whose gradient differs
        for at in reversed(range(len(chain) - 1)):  # from the one below it ends the chain there
            through[~self._same(chain[at], chain[at + 1])] = at
        delta = np.empty((rows, plan.user.shape[0]), dtype=self.stacked(chain[0], True, k).dtype)
        for at in np.unique(through):
            delta[through == at] = self.stacked(chain[at], True, k)[through == at]
        factors = (self.stacked(plan.inputs, False, plan.feature(target)) if plan.inputs is not None
                   else np.ones((rows, plan.user.shape[0])))
        every_iteration: tuple[Any, ...] = (slice(None), *target)
        exact = self.stacked(wrt, True)[every_iteration]
        return {"through": through, "delta": delta, "factors": factors, "terms": delta * factors, "exact": exact}

    # --- built once ----------------------------------------------------------------------------
    def _target(self, key: Key) -> tuple[int, ...]:
        name, index = key
        return (0,) * self.named[name].data.ndim if index is None else index

    def _structure(self, name: str, index: tuple[int, ...] | None) -> Prepared | None:
        """The structure of ``name``'s explanation (of its entry ``index``), decided as ``explain``
        decides it; None where it is worked out afresh (see the module's docstring)."""
        wrt = self.named[name]
        if self.tape is None or all(n is not wrt for n in self.tape.order):
            return None
        if index is not None and (len(index) != wrt.data.ndim or any(not 0 <= i < n for i, n in zip(index, wrt.shape))):
            return None
        order = self.tape.order
        paths = Paths(order, self.loss, wrt)
        prepared = Prepared(order, paths, None, {})
        namer = namer_for(order, self.loss, wrt)
        if self.form == "paths" or (self.form == "auto" and (wrt.data.size == 1 or index is not None)):
            try:
                if too_much_link_work(paths, order):
                    raise TooManyPathsError("too much work entry by entry")
                prepared.found = paths.enumerate(self._target((name, index)), paths_limit(self.form, self.max_terms))
                return prepared
            except TooManyPathsError:
                prepared.entry = entry_plan(wrt, order, namer)
                if prepared.entry is not None:
                    return prepared
                if self.form == "paths":
                    return None  # explain says why: too many terms
        try:
            prepared.delta = delta_plan(self.loss, wrt, order, namer, paths.reach)
        except ValueError:
            return None  # explain says why: too much work
        return prepared

    # --- rendered on demand --------------------------------------------------------------------
    def explanation(self, name: str, iteration: int, index: tuple[int, ...] | list[int] | None = None) -> Explanation:
        """``bl.explain`` of ``name`` (its entry ``index``, from 0) at ``iteration`` (1-based), with its step."""
        k = iteration - 1
        if not 0 <= k < len(self.trace.iterations):
            raise ExplainError(f"iteration {iteration} is not in this run's trace (1 to {len(self.trace.iterations)})")
        if name not in self.named:
            raise KeyError(f"no parameter named {name!r}")
        key: Key = (name, None if index is None else tuple(int(i) for i in index))
        options = self._options(key, k)
        numbers = self.numbers(key)
        if numbers is None or k not in self.rows:
            return self._plain(name, self.trace.iterations[k], options, key[1])
        prepared = self.structure[key]
        assert prepared is not None  # numbers() found a structure to share
        row = self.rows[k]
        grads = self._replay(k)
        if self.tape is None:  # the graph was recorded anew at this iteration
            return self._plain(name, self.trace.iterations[k], options, key[1])
        wrt = self.named[name]
        if prepared.found is not None:
            links = [link for path in prepared.found for link in path]
            for link, value in zip(links, numbers[row].tolist()):
                link.value = value
            prepared.grads = {id(wrt): grads[self.slot[id(wrt)]]}
        elif prepared.entry is not None:
            prepared.grads = {id(wrt): grads[self.slot[id(wrt)]]}
            prepared.entry = _EntryAt(prepared.entry, numbers, row)
        else:
            assert prepared.delta is not None  # no paths and no entry form: the layer-by-layer form was planned
            wanted: list[Tensor] = [wrt, *(step[0] for step in prepared.delta.steps)]
            prepared.grads = {id(n): np.array(grads[self.slot[id(n)]], copy=True) for n in wanted}
        try:
            return explain(self.loss, wrt, prepared=prepared, index=key[1], **options)
        finally:
            if isinstance(prepared.entry, _EntryAt):
                prepared.entry = prepared.entry.plan

    def _options(self, key: Key, k: int) -> dict[str, Any]:
        """What ``explain`` is told besides the graph: the digits, the form and iteration k's step."""
        name, index = key
        options: dict[str, Any] = {"digits": self.digits, "form": self.form, "max_terms": self.max_terms,
                                   "step_rule": self.trace.optimizer, "lr": None, "step": None, "moments": None}
        if name in self.trace.optimize:
            options["lr"] = self.trace.learning_rate
            options["step"] = _entry(self.trace.iterations[k].step_sizes[name], index)
            if self.use_moments:
                if key not in self._moments:
                    its = self.trace.iterations  # read column by column: no iteration is built whole
                    self._moments[key] = adam_moments([_entry(g, index) for g in its.column("gradients", name)],
                                                      [_entry(s, index) for s in its.column("step_sizes", name)],
                                                      self.trace.learning_rate)
                options["moments"] = self._moments[key][k]
        return options

    def set_values(self, iteration: int) -> int:
        """Put iteration ``iteration``'s values (1-based) into the recorded graph; returns its row."""
        self._replay(iteration - 1)
        return self.rows[iteration - 1]

    def prediction_and_loss(self, iteration: int) -> tuple[np.ndarray, float]:
        """The model's output and the loss at ``iteration`` (1-based), as the run computed them."""
        self.set_values(iteration)
        return self.loss.parents[0].data, float(self.loss.data)

    def _plain(self, name: str, it: Any, options: dict[str, Any], index: tuple[int, ...] | None) -> Explanation:
        model = _copy(self.model)
        model.load_state_dict(it.params)
        x, y = Tensor(self.trace.inputs, name="x"), Tensor(self.trace.targets, name="y")
        loss = self.loss_fn(model(x), y)
        return explain(loss, dict(model.named_parameters())[name], index=index, **options)


class _EntryAt:
    """The entry form at one iteration, called as ``explain`` calls ``entry_blocks``."""

    def __init__(self, plan: EntryPlan, numbers: dict[str, Any], row: int) -> None:
        self.plan, self.numbers, self.row = plan, numbers, row

    def __call__(self, loss: Tensor, wrt: Tensor, target: tuple[int, ...], order: list[Tensor], grads: Any,
                 namer: Any, digits: int, loss_name: str, shown_wrt: str, param_latex: str) -> Any:
        n, row = self.numbers, self.row
        return entry_work(self.plan, target, self.plan.chain[n["through"][row]], n["delta"][row], n["factors"][row],
                          float(n["exact"][row]), namer, digits, loss_name, shown_wrt, param_latex,
                          terms=n["terms"][row])


def _entry(value: Any, index: tuple[int, ...] | None) -> float | None:
    """One entry of a recorded gradient or step (the only one of a single number); None if there is none."""
    arr = np.asarray(value, dtype=float)
    if index is not None and arr.ndim == len(index):
        fits = all(0 <= i < n for i, n in zip(index, arr.shape))
        return float(arr[index]) if fits else None  # explain says why the index does not fit
    return float(arr.reshape(-1)[0]) if arr.size == 1 else None


def _copy(model: Module) -> Module:
    """A deep copy of the model that shares the op table's ops (the engine tells ops apart by identity)."""
    return copy.deepcopy(model, memo={id(op): op for op in OPS.values()})
