"""Convolution and pooling over images laid out as PyTorch's: (batch, channels, height, width).

Each op reads its windows through a strided view of the (padded) input, shape (N, C, OH, OW, kH, kW),
without copying, and computes with one ``einsum``. The VJPs send each window's gradient back to the
entries it read: one slice-add per kernel position, so an entry read by several windows collects them all.
Settings (stride, padding, dilation, groups) are attributes, each a pair (rows, columns); ``nn.conv``
checks them before an op runs.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from backproplab.engine.ops.base import Array, Op

Pair = tuple[int, int]


def out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output positions along one side: PyTorch's floor((size + 2p − d·(k − 1) − 1)/s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _padded(x: Array, padding: Pair, value: float = 0.0) -> Array:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def windows(xp: Array, kernel: Pair, stride: Pair, dilation: Pair) -> Array:
    """The read-only view (N, C, OH, OW, kH, kW) of every window of the padded input ``xp``."""
    n, c, h, w = xp.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh, ow = out_size(h, kh, sh, 0, dh), out_size(w, kw, sw, 0, dw)
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, (n, c, oh, ow, kh, kw), (s0, s1, s2 * sh, s3 * sw, s2 * dh, s3 * dw), writeable=False)


def _unwindow(cols: Array, shape: tuple[int, ...], padding: Pair, stride: Pair, dilation: Pair) -> Array:
    """The adjoint of ``windows``: add each window entry (N, C, OH, OW, kH, kW) back where it was read,
    then cut the padding off."""
    n, c, h, w = shape
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    oh, ow, kh, kw = cols.shape[2:]
    full = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            full[:, :, rows, j * dw: j * dw + sw * (ow - 1) + 1: sw] += cols[..., i, j]
    return full[:, :, ph: ph + h, pw: pw + w]


# --- conv2d ---------------------------------------------------------------------------------------------------

def _grouped(x: Array, weight: Array, stride: Pair, padding: Pair, dilation: Pair, groups: int
             ) -> tuple[Array, Array]:
    """The windows as (N, G, C/G, OH, OW, kH, kW) and the kernel as (G, O/G, C/G, kH, kW)."""
    cols = windows(_padded(x, padding), weight.shape[2:], stride, dilation)
    n, c, oh, ow, kh, kw = cols.shape
    return (cols.reshape(n, groups, c // groups, oh, ow, kh, kw),
            weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:]))


def _conv2d(x: Array, weight: Array, stride: Pair, padding: Pair, dilation: Pair, groups: int) -> Array:
    cols, k = _grouped(x, weight, stride, padding, dilation, groups)
    out = np.einsum("ngcpqij,gocij->ngopq", cols, k, optimize=True)
    return out.reshape(out.shape[0], -1, *out.shape[3:])


def _conv2d_grad_x(g: Array, out: Array, x: Array, weight: Array, stride: Pair, padding: Pair, dilation: Pair,
                   groups: int) -> Array:
    n, _, oh, ow = g.shape
    k = weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])
    cols = np.einsum("ngopq,gocij->ngcpqij", g.reshape(n, groups, -1, oh, ow), k, optimize=True)
    return _unwindow(cols.reshape(n, x.shape[1], oh, ow, *weight.shape[2:]), x.shape, padding, stride, dilation)


def _conv2d_grad_weight(g: Array, out: Array, x: Array, weight: Array, stride: Pair, padding: Pair,
                        dilation: Pair, groups: int) -> Array:
    cols, _ = _grouped(x, weight, stride, padding, dilation, groups)
    n, _, oh, ow = g.shape
    grad = np.einsum("ngopq,ngcpqij->gocij", g.reshape(n, groups, -1, oh, ow), cols, optimize=True)
    return grad.reshape(weight.shape)


conv2d = Op(
    "conv2d", ("x", "K"), _conv2d,
    (_conv2d_grad_x, _conv2d_grad_weight),
    ("Σ_(c_in, i, j) $K[c_out, c_in, i, j]·$x[n, c_in, p·s + i·d, q·s + j·d]",
     r"\sum_{c_{in}, i, j} ${K}_{c_{out}, c_{in}, i, j}\, ${x}_{n, c_{in}, p s + i d, q s + j d}"),
    (
        ("K[c_out, c_in, i, j] (the kernel), summed over every (c_out, p, q, i, j) whose window reads this entry",
         r"\sum_{c_{out}, p, q, i, j\ \text{reading it}} K_{c_{out}, c_{in}, i, j}"),
        ("x[n, c_in, p·s + i·d, q·s + j·d] (the padded input), summed over samples n and positions (p, q)",
         r"\sum_{n, p, q} x_{n, c_{in}, p s + i d, q s + j d}"),
    ),
    elementwise=False, attrs=("stride", "padding", "dilation", "groups"),
    backward=(
        ("dL/d$x[n, c_in, h, w] = Σ over (c_out, p, q, i, j) with p·s + i·d = h, q·s + j·d = w (after padding) of "
         "δ[n, c_out, p, q]·$K[c_out, c_in, i, j]",
         r"\sum_{c_{out}, p, q, i, j:\ p s + i d = h,\ q s + j d = w}"
         r" \delta_{n, c_{out}, p, q}\, {$K}_{c_{out}, c_{in}, i, j}"),
        ("dL/d$K[c_out, c_in, i, j] = Σ over samples and positions δ[n, c_out, p, q]·$x[n, c_in, p·s + i·d, q·s + j·d]",
         r"\sum_{n, p, q} \delta_{n, c_{out}, p, q}\, {$x}_{n, c_{in}, p s + i d, q s + j d}"),
    ),
)

# --- pooling --------------------------------------------------------------------------------------------------

def _max_pool2d(x: Array, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Array:
    cols = windows(_padded(x, padding, -np.inf), kernel_size, stride, dilation)
    return np.max(cols.reshape(*cols.shape[:4], -1), axis=-1)


def _max_pool2d_grad(g: Array, out: Array, x: Array, kernel_size: Pair, stride: Pair, padding: Pair,
                     dilation: Pair) -> Array:
    """G to the entry PyTorch picks in each window: the first largest inside the input (the last NaN, if any)."""
    flat = _flat_windows(x, kernel_size, stride, padding, dilation, -np.inf)
    inside = _flat_windows(np.ones((1, 1, *x.shape[2:]), dtype=bool), kernel_size, stride, padding, dilation, False)
    pick = np.argmax((flat == np.max(flat, axis=-1, keepdims=True)) & inside, axis=-1)
    nan = np.isnan(flat)
    last_nan = flat.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
    pick = np.where(nan.any(axis=-1), last_nan, pick)
    routed = (pick[..., None] == np.arange(flat.shape[-1])) * g[..., None]
    return _unwindow(routed.reshape(*g.shape, *kernel_size), x.shape, padding, stride, dilation)


def _flat_windows(x: Array, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, fill: float) -> Array:
    cols = windows(_padded(x, padding, fill), kernel_size, stride, dilation)
    return cols.reshape(*cols.shape[:4], -1)


max_pool2d = Op(
    "max_pool2d", ("x",), _max_pool2d,
    (_max_pool2d_grad,),
    ("max over the window of $x", r"\max_{\text{window}} $x"),
    (("1 for each window whose first largest entry it is (PyTorch's pick at ties; the last NaN), 0 otherwise",
      r"\mathbb{1}[\text{first largest in its window}]"),),
    elementwise=False, attrs=("kernel_size", "stride", "padding", "dilation"),
    backward=(("each window's G added to its first largest entry", r"\operatorname{unpool}(G)"),),
)


def _divisor(shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair, count_include_pad: bool,
             dtype: np.dtype) -> Array | float:
    """What each window's sum is divided by: kH·kW, or only the entries inside the input."""
    if count_include_pad or padding == (0, 0):
        return float(kernel_size[0] * kernel_size[1])
    ones = np.ones((1, 1, *shape[2:]), dtype=dtype)
    cols = windows(_padded(ones, padding), kernel_size, stride, (1, 1))
    return cols.sum(axis=(-1, -2))


def _avg_pool2d(x: Array, kernel_size: Pair, stride: Pair, padding: Pair, count_include_pad: bool) -> Array:
    cols = windows(_padded(x, padding), kernel_size, stride, (1, 1))
    total = np.einsum("ncpqij->ncpq", cols)
    return total / _divisor(x.shape, kernel_size, stride, padding, count_include_pad, x.dtype)


def _avg_pool2d_grad(g: Array, out: Array, x: Array, kernel_size: Pair, stride: Pair, padding: Pair,
                     count_include_pad: bool) -> Array:
    share = g / _divisor(x.shape, kernel_size, stride, padding, count_include_pad, x.dtype)
    cols = np.broadcast_to(share[..., None, None], (*g.shape, *kernel_size))
    return _unwindow(cols, x.shape, padding, stride, (1, 1))


avg_pool2d = Op(
    "avg_pool2d", ("x",), _avg_pool2d,
    (_avg_pool2d_grad,),
    ("mean over the window of $x", r"\operatorname{mean}_{\text{window}} $x"),
    (("1/(entries averaged) for each window that reads it, summed",
      r"\sum_{\text{windows}} \frac{1}{|\text{window}|}"),),
    elementwise=False, attrs=("kernel_size", "stride", "padding", "count_include_pad"),
    backward=(("each window's G, divided by the entries it averages, added to every entry it reads",
               r"\operatorname{unpool}(G / |\text{window}|)"),),
)


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows along one side: floor(i·size/out) to ceil((i + 1)·size/out)."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def _side_means(x: Array, axis: int, out: int) -> Array:
    """Means of the adaptive windows along ``axis``: summed, never multiplied by 0 (so ±inf stays itself)."""
    parts = [np.mean(x.take(range(a, b), axis=axis), axis=axis) for a, b in adaptive_windows(x.shape[axis], out)]
    return np.stack(parts, axis=axis)


def _side_spread(g: Array, axis: int, size: int) -> Array:
    """The adjoint of ``_side_means``: each window's gradient, divided by its size, to every entry it holds."""
    shape = list(g.shape)
    shape[axis] = size
    full = np.zeros(shape, dtype=g.dtype)
    for k, (a, b) in enumerate(adaptive_windows(size, g.shape[axis])):
        index = [slice(None)] * g.ndim
        index[axis] = slice(a, b)
        full[tuple(index)] += np.expand_dims(g.take(k, axis=axis), axis) / (b - a)
    return full


def _adaptive_avg_pool2d(x: Array, output_size: Pair) -> Array:
    return _side_means(_side_means(x, 2, output_size[0]), 3, output_size[1])


def _adaptive_avg_pool2d_grad(g: Array, out: Array, x: Array, output_size: Pair) -> Array:
    return _side_spread(_side_spread(g, 3, x.shape[3]), 2, x.shape[2])


adaptive_avg_pool2d = Op(
    "adaptive_avg_pool2d", ("x",), _adaptive_avg_pool2d,
    (_adaptive_avg_pool2d_grad,),
    ("mean over the adaptive window of $x", r"\operatorname{mean}_{\text{window}} $x"),
    (("1/(window size) for each window that holds it, summed", r"\sum_{\text{windows}} \frac{1}{|\text{window}|}"),),
    elementwise=False, attrs=("output_size",),
    backward=(("each window's G divided by its size, added to every entry it holds",
               r"\operatorname{unpool}(G / |\text{window}|)"),),
)

CONV = (conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d)
