"""Every parameter of a compiled step moved at once, as ``torch.optim``'s multi-tensor ("foreach") path does.

An elementwise rule (SGD, Adam) gives each entry the same number whether it runs per parameter or on one
array that holds them all. So when a compiled step is written, small parameters of one dtype may be
gathered into one flat array, each parameter's ``.data`` becoming a view of its part; the update is then a
few NumPy calls for all of them, the gradients copied into one array first. The per-parameter lines
still follow: they run whenever the views are no longer the parameters' arrays, or something besides the
step holds one of them (``getrefcount``), which an update in place must not change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor


class Flat:
    """Named arrays that each hold several parameters' worth of numbers, and their views, per parameter."""

    def __init__(self, params: list[Tensor]) -> None:
        self.shapes = [p.data.shape for p in params]
        self.dtype = params[0].data.dtype
        self.arrays: dict[str, np.ndarray] = {}
        self.views: dict[str, list[np.ndarray]] = {}

    def add(self, key: str, parts: list[np.ndarray] | None) -> list[np.ndarray]:
        """A flat array ``key`` filled with ``parts`` (zeros if None) and its views shaped as the parameters."""
        if parts is None:
            flat = np.zeros(sum(int(np.prod(s)) for s in self.shapes), self.dtype)
        else:
            flat = np.concatenate([np.ravel(a) for a in parts]).astype(self.dtype, copy=False)
        views, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            views.append(flat[start:start + size].reshape(shape))
            start += size
        self.arrays[key], self.views[key] = flat, views
        return views


def flat_params(opt: Any, nodes: list[str | None], most: int) -> Flat | None:
    """The optimizer's parameters as one flat array (each ``.data`` made a view of it), or None where they
    do not all qualify: one group, all in the step with a gradient of their dtype, one float dtype, at least
    one axis, at most ``most`` entries each (a larger one is updated in place by ``step()``, which a user
    holding its array sees), contiguous and writeable."""
    params = opt.params
    if len(opt.param_groups) != 1 or len(params) < 2 or None in nodes:
        return None
    dtype = params[0].data.dtype
    for p in params:
        d, g = p.data, p._grad
        if not (d.dtype == dtype and dtype.kind == "f" and 0 < d.ndim and d.size <= most and d.flags.c_contiguous
                and d.flags.writeable and p.requires_grad and g is not None and g.dtype == dtype
                and g.shape == d.shape):
            return None
    flat = Flat(params)
    for p, view in zip(params, flat.add("p", [p.data for p in params])):
        p.data = view
    flat.add("g", None)
    flat.add("s", None)
    return flat


def flat_lines(flat: Flat, nodes: list[str], names: Any, held: dict[str, str], body: list[str],
               views: int, checks: tuple[str, ...] = ()) -> list[str]:
    """The lines that update every parameter at once (``body``, on the flat arrays ``qp``, ``qg``, ``qs``, …)
    while the parameters' arrays are the views and nothing else holds them or the optimizer state's flat
    arrays (``held``: key → the optimizer's list of them); after ``body`` the update returns, else the
    per-parameter lines run. ``views``: how many nodes of the step hold a view of a parameter (a transpose the
    forward pass sets as their ``.data``: as in PyTorch, whose step is always in place, it shows the new values);
    ``checks``: more conditions for the flat path."""
    names.setup += _setup_lines(flat, names, ["p", *held], views, any("qs" in line for line in body))
    rows = [*checks, " and ".join(f"getrefcount(q{k}) <= qflat_{k}" for k in ["p", *held])]
    for i, node in enumerate(nodes):
        rows.append(f"{node}.data is qp{i} and getrefcount(qp{i}) <= qheld_p and qp{i}.flags.writeable")
        rows += [f"{lst}[{i}] is q{k}{i} and getrefcount(q{k}{i}) <= qheld_{k}" for k, lst in held.items()]
    test = ["if (", *(f"        {row} and" for row in rows[:-1]), f"        {rows[-1]}", "):"]
    grads = [f"{n}._grad" for n in nodes]
    gather = [f"        {', '.join(grads[k:k + 6])}," for k in range(0, len(grads), 6)]
    return ["# every parameter at once, in one flat array (the rule is elementwise: the same numbers as one by one),",
            "# while the parameters' arrays are its views and nothing else holds them", *test,
            "    concatenate((  # ∂L/∂p of every parameter, one after another", *gather, "    ), None, qg)",
            *(f"    {line}" for line in body), "    return"]


def _setup_lines(flat: Flat, names: Any, keys: list[str], views: int, scratch: bool) -> list[str]:
    """The lines, run once when the code is made, that name the flat arrays and their views and count what holds
    them then (nothing but this code, the parameters and the optimizer's lists can yet)."""
    me = names.name(flat)
    lines = [f"q{k}, " + ", ".join(f"q{k}{i}" for i in range(len(flat.shapes))) + f" = {me}.arrays['{k}'], "
             f"*{me}.views['{k}']" for k in keys]
    recorded = names.recorded
    same = all(r is not None and (r[1].shape, r[1].dtype, r[1].strides) == (v.shape, v.dtype, v.strides)
               for r, v in zip(recorded, flat.views["p"]))
    lines += [f"qg, qs = {me}.arrays['g'], {me}.arrays['s']" if scratch else f"qg = {me}.arrays['g']",
              "# what holds them when nothing else does: this code, the parameters (the optimizer's lists),",
              "# and the nodes whose forward makes a view of a parameter",
              *(f"qflat_{k} = getrefcount(q{k})" + (f" + {views}" if k == "p" else "") for k in keys),
              *(f"qheld_{k} = getrefcount(q{k}0)" + (" + 1" if k == "p" and same else "") for k in keys)]
    if same:  # unchanged() takes the views as the recorded arrays at a glance
        lines += [f"{r[0]} = qp{i}" for i, r in enumerate(recorded)]
    return lines
