"""The replay as generated code: bit-identical to the plain path, readable, deterministic, ruff-clean, and
built from the op table and slot numbers only (no user text can enter it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import backproplab as bl
from backproplab import Tensor, losses, ops
from backproplab.engine.inline import CONSTANTS, INLINE, NAMESPACE, comment, literal
from backproplab.engine.ops import Op
from backproplab.engine.tensor import apply
from tests.test_compile import assert_bit_identical, assert_same_arrays, plain_and_compiled

ROOT = Path(__file__).resolve().parents[1]


def _dosage_run():
    net, (x, y) = bl.presets.statquest()
    xt, yt = Tensor(x, name="x"), Tensor(y, name="y")
    run = bl.compile(lambda: losses.ssr(net(xt), yt))
    run()
    return run


def test_classic_2_2_2_network_bit_identical():
    def make():
        net, (x, y) = bl.presets.get_preset("classic").build()
        xt, yt = Tensor(x), Tensor(y)
        return net, lambda: losses.mse(net(xt), yt)

    plain, compiled = plain_and_compiled(make, steps=4)
    assert_bit_identical(plain, compiled)
    assert len(plain[0][1]) == 10  # w1..w8, b1, b2: every parameter was compared


def mlp_cross_entropy(sizes, acts, seed, x, labels, dtype):
    """An MLP and its cross-entropy on (x, labels), as a step function to run plain or compiled."""
    net = bl.MLP(sizes, acts, seed=seed, dtype=dtype)
    xt = Tensor(x)
    return net, lambda: losses.cross_entropy(net(xt), labels)


def backward(net, fn, run):
    """One backward pass, replayed by ``run`` or plain; returns a copy of every parameter's gradient."""
    if run is not None:
        run()
    else:
        fn().backward()
    return [p.grad.numpy().copy() for p in net.parameters()]


def plain_and_compiled_grads(sizes, acts, x, labels, dtype, steps=4, keep_at=None):
    """Every step's gradients of an MLP's cross-entropy trained plain, then compiled; and the compiled function.

    Each step starts from zero gradients, except step ``keep_at``, which adds to the step before's.
    """
    results, run = [], None
    for compiled in (False, True):
        net, fn = mlp_cross_entropy(sizes, acts, 1, x, labels, dtype)
        run = bl.compile(fn) if compiled else None
        grads = []
        for step in range(steps):
            if step != keep_at:
                net.zero_grad()
            grads.append(backward(net, fn, run))
            descend(net)
        results.append(grads)
    return results, run


def descend(net, lr=0.1):
    """One plain gradient-descent step on every parameter."""
    with bl.no_grad():
        for p in net.parameters():
            p.data -= lr * p.grad


def test_large_mlp_with_buffers_bit_identical_and_accumulating():
    """Arrays big enough to live in buffers between steps: values, accumulation without zero_grad, float32."""
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        x = rng.normal(size=(40, 30)).astype(dtype)
        labels = rng.integers(0, 5, 40)
        # step 2 keeps the gradients of step 1: they must add up, as in PyTorch
        results, run = plain_and_compiled_grads([30, 20, 5], ["tanh", "identity"], x, labels, dtype, keep_at=2)
        for a, b in zip(*results):
            assert_same_arrays(a, b)
        assert re.search(r"(, |out=)b\d+\)", run.source)  # the buffers were really used


@st.composite
def graphs(draw):
    """A random graph over a few leaves: elementwise ops, broadcasting, reductions, matmul, reuse of nodes."""
    seed = draw(st.integers(0, 10_000))
    steps = draw(st.lists(st.tuples(st.sampled_from(
        ["add", "sub", "mul", "div", "neg", "exp", "tanh", "sigmoid", "softplus", "relu", "matmul", "sum0", "T",
         "reshape", "mean"]), st.integers(0, 100), st.integers(0, 100)), min_size=1, max_size=12))
    return seed, steps


def _build(seed, steps, leaves):
    """Apply the drawn steps to the leaves; returns a scalar loss."""
    pool = list(leaves)
    for name, i, j in steps:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        if name in ("add", "sub", "mul", "div"):
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:  # (4, 3) and (3, 3), say: b becomes one number
                b = b.sum()
            if name == "div":
                b = b * b + 1.0
            out = {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b}[name]
        elif name == "matmul":
            if a.ndim != 2:
                continue
            out = a @ a.T
        elif name == "sum0":
            out = a.sum(axis=0) if a.ndim else a.sum()
        elif name == "mean":
            out = a.mean()
        elif name == "T":
            out = a.T if a.ndim == 2 else -a
        elif name == "reshape":
            out = a.reshape(-1)
        elif name == "neg":
            out = -a
        else:
            out = getattr(bl, name)(a * 0.5)
        pool.append(out)
    total = pool[-1].sum()
    for t in pool[:-1]:
        total = total + t.sum() * 0.25  # every intermediate reaches the loss: gradients meet and add up
    return total


LAYOUTS = {
    "C": np.ascontiguousarray,
    "Fortran": np.asfortranarray,
    "strided view": lambda a: np.repeat(a, 2, axis=-1)[..., ::2] if a.ndim else a,
}


def _histories(seed, steps, layouts=None):
    """Three steps of the drawn graph (or one per layout), plain and compiled: each step's loss and gradients.

    ``layouts`` names, per step, the memory layout the first (4 × 3) leaf's data is given
    before that step (same values, other strides).
    """
    rng = np.random.default_rng(seed)
    values = [rng.normal(size=(4, 3)), rng.normal(size=3), np.asarray(rng.normal())]
    histories = []
    for compiled in (False, True):
        leaves = [bl.Parameter(v.copy(), f"p{k}") for k, v in enumerate(values)]
        fn = lambda leaves=leaves: _build(seed, steps, leaves)  # noqa: E731
        run = bl.compile(fn) if compiled else None
        history = []
        for step in range(len(layouts) if layouts else 3):
            if layouts:
                leaves[0].data = LAYOUTS[layouts[step]](leaves[0].data)
            for p in leaves:
                p.grad = None
            with np.errstate(all="ignore"):  # bits are compared, infinities and NaNs included
                loss = run() if compiled else fn()
                if not compiled:
                    loss.backward()
            history.append((loss.data.copy(), [np.array(p.grad, copy=True) for p in leaves]))
            for p in leaves:
                p.data = p.data - 0.01 * p.grad.numpy()
        histories.append(history)
    return histories


@given(graphs())
@settings(deadline=None)
def test_random_graphs_bit_identical(graph):
    assert_bit_identical(*_histories(*graph))


@given(graphs(), st.lists(st.sampled_from(sorted(LAYOUTS)), min_size=4, max_size=4))
@settings(deadline=None)
@example((0, [("sigmoid", 0, 0)]), ["C", "C", "Fortran", "Fortran"])  # a C-ordered buffer summed in another order
@example((0, [("add", 0, 0), ("add", 0, 0), ("add", 0, 0), ("add", 0, 0), ("sub", 0, 72), ("add", 0, 0),
              ("mul", 0, 70), ("add", 0, 0), ("add", 1, 40), ("sub", 0, 11)]),
         ["C", "C", "Fortran", "Fortran"])  # a Fortran-ordered gradient plus a C-ordered one, then summed
def test_an_input_laid_out_otherwise_in_memory_is_recorded_again(graph, layouts):
    """The replay's buffers keep the recorded layout; an input given with other strides must not reuse them."""
    assert_bit_identical(*_histories(*graph, layouts=layouts))


def test_a_gradient_added_into_in_place_keeps_the_plain_paths_layout():
    """A gradient big enough for the plain path to add into in place keeps that array's (Fortran) layout there;
    the replay must not hand the next sum a C-ordered new array, or the bias's sum over the rows adds in
    another order. sin's VJP comes first and is called as it is; the product's, a C-ordered array, comes second.
    """
    rng = np.random.default_rng(3)
    x0, b0, c = rng.normal(size=(10, 8)), rng.normal(size=8), rng.normal(size=(10, 8))
    histories = []
    for compiled in (False, True):
        x, b, ct = bl.Parameter(np.asfortranarray(x0), "x"), bl.Parameter(b0.copy(), "b"), Tensor(c)

        def fn(x=x, b=b, ct=ct):
            h = x + b
            return (h * ct).sum() + bl.sin(h).sum()

        run = bl.compile(fn) if compiled else None
        history = []
        for _step in range(3):
            x.data = np.asfortranarray(x.data)
            x.grad = b.grad = None
            loss = run() if compiled else fn()
            if not compiled:
                loss.backward()
            history.append((loss.data.copy(), [x.grad.numpy().copy(), b.grad.numpy().copy()]))
            x.data, b.data = x.data - 0.01 * x.grad.numpy(), b.data - 0.01 * b.grad.numpy()
        histories.append(history)
    assert_bit_identical(*histories)
    assert "empty_like(g" in run.source  # the sum was written into a new array of the plain path's layout
    x.grad = b.grad = None
    run()
    for k, p in enumerate((x, b)):
        numeric = bl.central_difference(lambda x, b: fn(x, b), [x, b], k)
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-6, atol=1e-7)


def _eval(template, args, g=None, out=None, attrs=None, buf=None, numbers=None, keep=None):
    """Evaluate an inline template on arrays, in the generated code's namespace.

    ``numbers`` maps the templates' number placeholders to values: 0-d arrays are passed by name,
    as the generated code does; anything else is written as a literal. ``keep`` is the form's kept
    value, evaluated first on the same arguments.
    """
    names = {f"a{k}": a for k, a in enumerate(args)} | {"G": g, "OUT": out, "BUF": buf}
    fills = dict(attrs or {})
    if keep is not None:
        names["KEEP"] = _eval(keep, args, attrs=attrs)
        fills["keep"] = "KEEP"
    for key, value in (numbers or {}).items():
        if isinstance(value, np.ndarray):
            names[f"C_{key}"] = value
            fills[key] = f"C_{key}"
        else:
            fills[key] = literal(value)
    text = template.replace("{g}", "G").replace("{out}", "OUT")
    has = buf is not None
    expr = text.format(*(f"a{k}" for k in range(len(args))), o=", BUF" if has else "",
                       out_kw=", out=BUF" if has else "", **fills)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deprecated spelling (maximum's positional out) is slow as well
        return np.asarray(eval(expr, dict(NAMESPACE), names))  # noqa: S307 - the module's own templates


@pytest.mark.parametrize("name", sorted(INLINE))
@pytest.mark.parametrize("as_arrays", [False, True], ids=["literal numbers", "numbers as 0-d arrays"])
def test_every_inline_form_equals_the_op_table_bit_for_bit(name, as_arrays):
    """The inline spellings are the same calculus as ops.py: same forward, same VJPs, with and without buffers,
    with the templates' numbers written as Python literals or passed as 0-d arrays of the operands' dtype."""
    op = ops.OPS[name]
    form = INLINE[name]
    rng = np.random.default_rng(3)
    for dtype in (np.float64, np.float32):
        if name == "matmul":
            args = [rng.normal(size=(5, 4)).astype(dtype), rng.normal(size=(4, 3)).astype(dtype)]
        elif name == "softmax_cross_entropy":
            labels = rng.integers(0, 4, 5)
            args = [rng.normal(size=(5, 4)).astype(dtype), np.eye(4, dtype=dtype)[labels]]
        elif name in ("log", "pow"):
            args = [rng.uniform(0.5, 2.0, size=(5, 4)).astype(dtype), rng.uniform(0.5, 2.0, size=(5, 4)).astype(dtype)]
        else:
            args = [rng.normal(size=(5, 4)).astype(dtype), rng.normal(size=(5, 4)).astype(dtype)]
        args = args[: len(op.args)]
        attrs = {"sum": {"axis": 0, "keepdims": False}, "mean": {"axis": 1, "keepdims": True},
                 "reshape": {"shape": (4, 5)}}.get(name, {})
        literal_attrs = {k: literal(v) for k, v in attrs.items()}
        numbers = dict(CONSTANTS)
        if name == "mse":
            literal_attrs["n"] = literal(args[1].size)
            numbers["two_over_n"] = 2.0 / args[1].size
        if name == "softmax_cross_entropy":
            literal_attrs["rows"] = literal(args[0].shape[0])
        if as_arrays:
            numbers = {k: np.asarray(v, dtype) for k, v in numbers.items()}
        same = {"attrs": literal_attrs, "numbers": numbers, "keep": form.keep}
        out = np.asarray(op.forward(*args, **attrs))
        if form.forward is not None:
            got = _eval(form.forward, args, **same)
            assert got.dtype == out.dtype and got.tobytes() == out.tobytes()
            if "{o}" in form.forward:
                got = _eval(form.forward, args, buf=np.empty_like(out), **same)
                assert got.tobytes() == out.tobytes()
        g = rng.normal(size=out.shape).astype(dtype)
        for k, template in enumerate(form.vjps):
            if template is None:
                continue
            want = np.asarray(op.vjps[k](g, out, *args, **attrs))
            for buf in (None, np.empty_like(want)):
                if buf is not None and "{o}" not in template:
                    continue
                got = _eval(template, args, g=g, out=out, buf=buf, **same)
                assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (name, k, buf is not None)
        one = np.ones_like(out)
        for k, template in enumerate(form.unit_vjps):
            want = np.asarray(op.vjps[k](one, out, *args, **attrs))
            got = _eval(template, args, out=out, **same)
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_source_reads_like_a_hand_written_backward_pass():
    source = _dosage_run().source
    assert "def forward():" in source and "def backward(seed, slots=True):" in source
    assert "# softplus (slot" in source and "σ(z)" in source  # the op and its derivative statement
    assert "logaddexp(c0, v" in source and "c0 = consts[0]  # 0.0 as float64" in source  # NumPy called directly
    # the seven gradients of single numbers, and the loss, are sums of three entries in Python floats
    assert source.count(".tolist()") == 8 and "add_reduce" not in source
    assert "partial" not in source and "len(" not in source


def test_source_is_deterministic():
    assert _dosage_run().source == _dosage_run().source


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff is not installed")
def test_generated_source_is_ruff_clean(tmp_path):
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    files = []
    for k, run in enumerate([_dosage_run(), _hostile_run()[0]]):
        path = tmp_path / f"replay{k}.py"
        path.write_text(run.source, encoding="utf-8")
        files.append(str(path))
    net = bl.MLP([30, 20, 5], "relu")
    x = Tensor(np.ones((40, 30)))
    big = bl.compile(lambda: losses.cross_entropy(net(x), np.zeros(40, int)))
    big()
    (tmp_path / "replay_big.py").write_text(big.source, encoding="utf-8")
    files.append(str(tmp_path / "replay_big.py"))
    proc = subprocess.run([ruff, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), *files],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


HOSTILE = "w'\"\n# import os; os.system('x')\r\n\"\"\"\u2028\x00 #"


def _hostile_run():
    """A graph whose every name, and even one op's name and statements, is hostile text."""
    evil_op = Op(HOSTILE, ("z",), lambda z: z * 3.0, (lambda g, out, z: g * 3.0,), (HOSTILE, HOSTILE),
                 ((HOSTILE, HOSTILE),))
    w = bl.Parameter([1.0, 2.0], HOSTILE)
    x = Tensor([3.0, 4.0], name=HOSTILE)
    run = bl.compile(lambda: (apply(evil_op, w * x).named(HOSTILE) + w).sum().named(HOSTILE))
    run()
    return run, w


def test_hostile_names_never_enter_the_generated_code():
    run, w = _hostile_run()
    source = run.source
    for line in source.splitlines():  # the hostile text only ever after a "#", on a line of its own making
        code = line.split("#")[0]
        assert "import" not in code.replace("from numpy import", "").replace("from sys import", "")
        assert "os.system" not in code and "w'" not in code
        assert not line.strip().startswith("# import")  # no comment line of the hostile text's own
    assert "(slot 2, w'\"\\n# import os" in source  # the name is there, escaped, in the op's comment
    assert "\x00" not in source and "\u2028" not in source and "\r" not in source
    compile(source, "<test>", "exec")  # still one well-formed module
    w.grad = None
    run()
    np.testing.assert_array_equal(w.grad, [10.0, 13.0])  # d/dw of Σ(3·w·x + w) = 3x + 1: the op ran as itself


def test_comment_escapes_and_literal_refuses_anything_but_plain_numbers():
    assert "\n" not in comment("a\nb\r\u2028c") and comment("σ(z)·2") == "σ(z)·2"
    assert literal((1, 2)) == "(1, 2)" and literal((3,)) == "(3,)" and literal(None) == "None"

    class Sneaky(int):
        def __repr__(self):
            return "__import__('os')"

    for bad in (Sneaky(1), "x", np.int64(1), float("nan"), [1]):
        with pytest.raises(ValueError):
            literal(bad)


def test_a_custom_op_named_like_a_table_op_is_called_as_itself():
    fake_add = Op("add", ("a", "b"), lambda a, b: a - b, (lambda g, out, a, b: g, lambda g, out, a, b: -g),
                  ("$a + $b", "$a + $b"), (("1", "1"), ("1", "1")))
    w = bl.Parameter([1.0, 2.0], "w")
    run = bl.compile(lambda: apply(fake_add, w, Tensor([5.0, 5.0])).sum())
    run()
    assert run().item() == -7.0  # replayed through the op's own forward, not np.add
    assert "add(v" not in run.source.split("def backward")[0]


def test_the_speed_page_shows_the_generated_code_as_it_is():
    section = (ROOT / "docs" / "speed.md").read_text(encoding="utf-8")
    shown = section.split("```text\n", 1)[1].split("```", 1)[0]
    source = _dosage_run().source
    lines = [line for line in shown.splitlines() if line.strip() and line.strip() != "..."]
    assert len(lines) >= 6
    for line in lines:
        assert line in source, line


def test_replayed_steps_keep_no_memory():
    """The peak traced memory of the last window of replayed steps is within 5% of an early window's."""
    import tracemalloc

    net, (x, y) = bl.presets.statquest()
    xt, yt = Tensor(x), Tensor(y)
    run = bl.compile(lambda: losses.ssr(net(xt), yt))
    opt = bl.optim.GradientDescent(net.parameters(), lr=0.01)
    peaks = []
    tracemalloc.start()
    try:
        for _ in range(6):
            tracemalloc.reset_peak()
            for _ in range(300):
                opt.zero_grad()
                run()
                opt.step()
            peaks.append(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    assert run.records == 1 and run.program
    assert peaks[-1] <= 1.05 * peaks[1], peaks


@given(st.integers(1, 9), st.sampled_from(["ssr", "mse"]), st.sampled_from([np.float64, np.float32]),
       st.sampled_from(["softplus", "tanh", "sigmoid"]), st.integers(0, 10_000))
@settings(deadline=None, max_examples=60)
def test_single_number_parameters_over_short_vectors_bit_identical(n, loss_name, dtype, act, seed):
    """Gradients of single numbers summed over a few entries (Python floats in float64), the loss too;
    a parameter used twice, gradients kept across steps, -0.0 and exact zeros in the data."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n).astype(dtype)
    x[rng.random(n) < 0.3] = 0.0
    x[rng.random(n) < 0.2] = -0.0
    y = rng.normal(size=n).astype(dtype)
    start = rng.normal(size=4).astype(dtype)
    histories = []
    for compiled in (False, True):
        w, b, v, c = (bl.Parameter(np.asarray(value), name) for value, name in zip(start, "wbvc"))
        xt, yt = Tensor(x), Tensor(y)

        def fn(w=w, b=b, v=v, c=c, xt=xt, yt=yt):
            h = getattr(bl, act)(w * xt + b)
            return getattr(losses, loss_name)(v * h + w * h * c + c, yt)  # w and c reach the loss twice

        run = bl.compile(fn) if compiled else None
        history = []
        for step in range(4):
            if step != 2:  # step 2 keeps step 1's gradients: they add up
                for p in (w, b, v, c):
                    p.grad = None
            with np.errstate(all="ignore"):  # bits are compared, infinities included
                loss = run() if compiled else fn()
                if not compiled:
                    loss.backward()
            history.append((loss.data.copy(), [np.array(p.grad, copy=True) for p in (w, b, v, c)]))
            for p in (w, b, v, c):
                p.data = p.data - dtype(0.05) * p.grad.numpy()
        histories.append(history)
    assert_bit_identical(*histories)
    source = run.source
    floats = dtype == np.float64 and n <= 7
    assert (".tolist()" in source) == floats  # single numbers as Python floats only where that gives the same bits
    assert ("add_reduce" in source) == (not floats)


def test_numpy_sums_short_float64_vectors_in_the_order_the_replay_writes():
    """The replay's Python float sums rely on it; were it ever false, the replay would fall back to add_reduce."""
    from backproplab.engine.codegen import FLOAT_SUM_UPTO, float_sums_in_order

    assert float_sums_in_order()
    rng = np.random.default_rng(7)
    for n in range(1, FLOAT_SUM_UPTO + 1):
        for _ in range(200):
            a = rng.normal(size=n) * 10.0 ** rng.integers(-15, 15, n)
            total = 0.0
            for item in a.tolist():
                total = total + item
            assert np.add.reduce(a).tobytes() == np.float64(total).tobytes()
    assert np.add.reduce(np.array([-0.0, -0.0])).tobytes() == np.float64(0.0 + -0.0 + -0.0).tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_keeps_its_log_softmax_for_the_backward_pass(dtype):
    """ln softmax is computed once per step, in the forward, and is what the backward pass uses, even when
    the code is made (by .source) before any replayed forward pass."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 4)).astype(dtype)
    labels = rng.integers(0, 3, 8)
    results = []
    for compiled in (False, True):
        net, fn = mlp_cross_entropy([4, 6, 3], ["relu", "identity"], 2, x, labels, dtype)
        grads = []
        if compiled:
            run = bl.compile(fn)
            run.forward()  # recorded
            source = run.source  # the code exists before it has run
            run.backward()
        else:
            fn().backward()
        grads.append([p.grad.numpy().copy() for p in net.parameters()])
        for _ in range(3):
            descend(net)
            net.zero_grad()
            grads.append(backward(net, fn, run if compiled else None))
        results.append(grads)
    for a, b in zip(*results):
        assert_same_arrays(a, b)
    assert source.count("log_softmax(") == 2 and "log_softmax(n" in source  # once in the forward, once when made
