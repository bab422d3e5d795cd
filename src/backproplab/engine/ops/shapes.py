"""Re-arrangements: permuting axes and joining two tensors along an axis.

Reshape, squeeze, unsqueeze, flatten and view all use the ``reshape`` op; split and chunk use
``getitem`` with slices; expand is element-wise broadcasting (see ``elementwise``).
"""

from __future__ import annotations

import numpy as np

from backproplab.engine.ops.base import VJP, Array, Op


def _cat_grad(k: int) -> VJP:
    def grad(g: Array, out: Array, a: Array, b: Array, axis: int = 0) -> Array:
        cut = a.shape[axis]
        index = [slice(None)] * g.ndim
        index[axis] = slice(None, cut) if k == 0 else slice(cut, None)
        return g[tuple(index)]
    return grad


permute = Op(
    "permute", ("a",), lambda a, dims: np.transpose(a, dims),
    (lambda g, out, a, dims: np.transpose(g, np.argsort(dims)),),
    ("$a permuted", r"\operatorname{permute}($a)"),
    (("1 (each entry moves, its value is unchanged)", "1"),),
    elementwise=False, attrs=("dims",),
    backward=(("G with the axes put back", r"\operatorname{permute}^{-1}(G)"),),
)
cat = Op(
    "cat", ("a", "b"), lambda a, b, axis=0: np.concatenate((a, b), axis=axis),
    (_cat_grad(0), _cat_grad(1)),
    ("[$a, $b]", r"\left[$a,\ $b\right]"),
    (("1", "1"), ("1", "1")),
    elementwise=False, attrs=("axis",),
    backward=(("G's part for $a", r"G_{[$a]}"), ("G's part for $b", r"G_{[$b]}")),
)

SHAPES = (permute, cat)
