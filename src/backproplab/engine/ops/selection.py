"""Picking and placing entries: gather, scatter, masked_fill, the triangles (tril, triu), diag, pad, embedding,
contiguous.

Indices and masks are inputs with no gradient, so a compiled step reads the current ones; dims and the
other settings are attributes. The tensor methods check every argument before an op runs, so these
functions can trust them.
"""

from __future__ import annotations

import numpy as np

from backproplab.engine.ops.base import Array, Op


def along(index: Array, axis: int) -> tuple[Array, ...]:
    """PyTorch's gather and scatter addressing as a NumPy index: entry ``i`` of ``index`` names the place
    ``i`` with its ``axis`` coordinate replaced by the index's value."""
    where: list[Array] = list(np.indices(index.shape, sparse=True))
    where[axis] = index
    return tuple(where)


def _part(index: Array) -> tuple[slice, ...]:
    """The corner of ``src`` that scatter reads: as many entries per dimension as the index has."""
    return tuple(slice(0, n) for n in index.shape)


def _gather_grad(g: Array, out: Array, a: Array, index: Array, axis: int) -> Array:
    full = np.zeros(a.shape, dtype=g.dtype)
    np.add.at(full, along(index, axis), g)  # an entry picked twice collects both gradients
    return full


def _scatter(a: Array, index: Array, src: Array, axis: int) -> Array:
    out = a.copy()
    out[along(index, axis)] = src if src.ndim == 0 else src[_part(index)]
    return out


def _scatter_grad_a(g: Array, out: Array, a: Array, index: Array, src: Array, axis: int) -> Array:
    kept = np.array(g, dtype=g.dtype)
    kept[along(index, axis)] = 0  # those entries were overwritten: a has no say in them
    return kept


def _scatter_grad_src(g: Array, out: Array, a: Array, index: Array, src: Array, axis: int) -> Array:
    picked = g[along(index, axis)]
    if src.ndim == 0:
        return np.sum(picked)
    full = np.zeros(src.shape, dtype=g.dtype)
    full[_part(index)] = picked
    return full


def diagonal_places(shape: tuple[int, ...], diagonal: int) -> tuple[Array, Array]:
    """The rows and columns of diagonal ``diagonal`` (above the main one when positive) of a matrix."""
    rows, cols = shape
    start_row, start_col = max(-diagonal, 0), max(diagonal, 0)
    n = max(min(rows - start_row, cols - start_col), 0)
    return np.arange(n) + start_row, np.arange(n) + start_col


def _diag(a: Array, diagonal: int = 0) -> Array:
    return np.diag(a, diagonal) if a.ndim == 1 else np.diagonal(a, diagonal).copy()


def _diag_grad(g: Array, out: Array, a: Array, diagonal: int = 0) -> Array:
    if a.ndim == 1:  # a placed on a diagonal: its gradient is G's diagonal
        return np.diagonal(g, diagonal).copy()
    full = np.zeros(a.shape, dtype=g.dtype)
    full[diagonal_places(a.shape, diagonal)] = g
    return full


def _crop(shape: tuple[int, ...], pad: tuple[tuple[int, int], ...]) -> tuple[slice, ...]:
    """What a negative pad cuts off: the slices that keep the rest."""
    return tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(shape, pad))


def _pad(a: Array, pad: tuple[tuple[int, int], ...], value: float = 0.0) -> Array:
    """Negative widths crop, positive ones add entries equal to ``value``; ``pad`` holds (before, after) per axis."""
    kept = a[_crop(a.shape, pad)]
    return np.pad(kept, [(max(lo, 0), max(hi, 0)) for lo, hi in pad], constant_values=value)


def _pad_grad(g: Array, out: Array, a: Array, pad: tuple[tuple[int, int], ...], value: float = 0.0) -> Array:
    inner = g[_crop(g.shape, tuple((-max(lo, 0), -max(hi, 0)) for lo, hi in pad))]
    return np.pad(inner, [(max(-lo, 0), max(-hi, 0)) for lo, hi in pad])  # cropped entries: no gradient


def _embedding_grad(g: Array, out: Array, weight: Array, index: Array) -> Array:
    full = np.zeros(weight.shape, dtype=g.dtype)
    np.add.at(full, index, g)  # a row used at several positions collects the gradient of each
    return full


NO_GRADIENT = ("none (an index has no gradient)", r"\text{none}")
# alike on purpose: an op's entry is data in one shape: name, args, forward, VJPs, expression, derivatives
gather = Op(
    "gather", ("a", "index"), lambda a, index, axis: a[along(index, axis)],
    (_gather_grad, None),
    ("$a[$index] along axis $axis", r"\operatorname{gather}_{$axis}($a, $index)"),
    (("1 at each entry the index picks (added up when picked twice), 0 elsewhere",
      r"\mathbb{1}[\text{picked}]"), NO_GRADIENT),
    elementwise=False, attrs=("axis",),
    backward=(("G added into the entries the index picked (scatter-add)", r"\operatorname{scatter\_add}(G)"),
              NO_GRADIENT),
)
scatter = Op(
    "scatter", ("a", "index", "src"), _scatter,
    (_scatter_grad_a, None, _scatter_grad_src),
    ("$a with $src written at $index along axis $axis", r"\operatorname{scatter}_{$axis}($a, $index, $src)"),
    (("1 where nothing was written, 0 where $src was", r"\mathbb{1}[\text{not written}]"),
     NO_GRADIENT,
     ("1 at the place each entry was written to", r"\mathbb{1}[\text{written}]")),
    elementwise=False, attrs=("axis",),
    backward=(("G with the written entries set to 0", r"G \odot \mathbb{1}[\text{not written}]"),
              NO_GRADIENT,
              ("G gathered from the places written to", r"\operatorname{gather}(G)")),
)
masked_fill = Op(
    "masked_fill", ("a", "mask"), lambda a, mask, value: np.where(mask, np.asarray(value, dtype=a.dtype), a),
    (lambda g, out, a, mask, value: np.where(mask, 0.0, g), None),
    ("$value if $mask else $a", r"\begin{cases} $value & $mask \\ $a & \text{otherwise} \end{cases}"),
    (("0 if $mask else 1", r"\mathbb{1}[\lnot $mask]"), ("none (a mask has no gradient)", r"\text{none}")),
    attrs=("value",),
)
tril = Op(
    "tril", ("a",), lambda a, diagonal=0: np.tril(a, diagonal),
    (lambda g, out, a, diagonal=0: np.tril(g, diagonal),),
    ("tril($a, $diagonal)", r"\operatorname{tril}($a, $diagonal)"),
    (("1 on and below diagonal $diagonal, 0 above it", r"\mathbb{1}[j - i \leq $diagonal]"),),
    elementwise=False, attrs=("diagonal",),
    backward=(("G with the entries above diagonal $diagonal set to 0", r"\operatorname{tril}(G)"),),
)
triu = Op(
    "triu", ("a",), lambda a, diagonal=0: np.triu(a, diagonal),
    (lambda g, out, a, diagonal=0: np.triu(g, diagonal),),
    ("triu($a, $diagonal)", r"\operatorname{triu}($a, $diagonal)"),
    (("1 on and above diagonal $diagonal, 0 below it", r"\mathbb{1}[j - i \geq $diagonal]"),),
    elementwise=False, attrs=("diagonal",),
    backward=(("G with the entries below diagonal $diagonal set to 0", r"\operatorname{triu}(G)"),),
)
diag = Op(
    "diag", ("a",), _diag,
    (_diag_grad,),
    ("diag($a, $diagonal)", r"\operatorname{diag}($a, $diagonal)"),
    (("1 between each entry of diagonal $diagonal and its place in the other tensor, 0 elsewhere",
      r"\mathbb{1}[\text{on diagonal } $diagonal]"),),
    elementwise=False, attrs=("diagonal",),
    backward=(("G's diagonal $diagonal (for a vector), or G placed on it (for a matrix)",
               r"\operatorname{diag}(G)"),),
)
pad = Op(
    "pad", ("a",), _pad,
    (_pad_grad,),
    ("$a padded with $value", r"\operatorname{pad}($a, $value)"),
    (("1 for each kept entry, 0 for the cropped ones", r"\mathbb{1}[\text{kept}]"),),
    elementwise=False, attrs=("pad", "value"),
    backward=(("G with the padding cut off (and 0 for cropped entries)", r"\operatorname{crop}(G)"),),
)
embedding = Op(
    "embedding", ("weight", "index"), lambda weight, index: weight[index],
    (_embedding_grad, None),
    ("$weight[$index]", r"${weight}_{$index}"),
    (("1 for the row $index names, at each position that uses it, 0 for the other rows",
      r"\mathbb{1}[\text{row } $index]"), NO_GRADIENT),
    elementwise=False,
    backward=(("row r: G summed over every position whose index is r (0 for a row no position uses)",
               r"\textstyle\sum_{p:\,\text{index}_p = r} G_p"), NO_GRADIENT),
)
contiguous = Op(
    "contiguous", ("a",), np.ascontiguousarray,
    (lambda g, out, a: g,),
    ("$a", "$a"),
    (("1", "1"),),
)

SELECTION = (gather, scatter, masked_fill, tril, triu, diag, pad, embedding, contiguous)
