"""A recorded tape written out as straight-line Python: one function per pass.

:class:`Program` reads a :class:`~backproplab.engine.tape.Tape` and writes the forward pass
and the backward pass as two plain Python functions that call NumPy directly, one line
per op and one per gradient, with a comment naming each op, its node and its local
derivative. It
is the backward pass a person would write by hand, and the fastest way to replay a graph:
no per-op dispatch, no tuples, no lookups.

The calculus still lives in one place. ``backproplab.engine.inline`` holds faster *spellings*
of some ops' forward and VJP from the op table (the same NumPy calls in the same order, so
results are bit for bit the same, which the tests check op by op); every other op, and every
op whose attributes are not plain numbers, is called through the op table itself.

Single numbers are kept in whichever form is faster, with the same bits: the templates'
numbers (the 2.0 of d(y − ŷ)²/dŷ) are 0-d arrays of the operands' dtype, which NumPy takes
faster than Python floats, and a short float64 vector summed to one number (the gradient
of a single-number parameter over a few samples) is added up in Python floats, in the
order NumPy's own summation adds them.

Arrays of a fixed shape are written into buffers kept between steps (``out`` passed by
position). A buffer that can reach the user (a node's ``.data``, a ``.grad``) is first
checked: one that something else still holds is left to it (see ``Program.guard``). A sum adds in
memory order, so every array keeps the memory layout the plain path gives it: buffers take the recorded
one, and gradients met from two sides are added in place or into a new array as that path does (``_add_into``).

Safety: the generated text is made only of the inline templates, slot numbers, shapes
and numbers (each checked to be a plain ``int``, ``bool``, ``float`` or ``None``). User
text never enters the code: node names appear only in comments, cut short, beside the op
table's own statements, with anything that is not printable escaped. The text is compiled once with ``compile()``.
"""

from __future__ import annotations

import re
from functools import cache
from sys import getrefcount
from typing import TYPE_CHECKING, Any

import numpy as np

from backproplab.engine.autodiff import OWN_FROM, op_of, row_ones, sums_rows_by_dot, unbroadcast, unshared
from backproplab.engine.fused import StepPlan, UpdateWriter, update_lines
from backproplab.engine.inline import CONSTANTS, NAMESPACE, OWN, Inline, comment, inline_form, label, literal
from backproplab.engine.ops.table import transposed
from backproplab.engine.scalar import ScalarPasses, fits

if TYPE_CHECKING:
    from backproplab.engine.tape import Tape

BUFFER_FROM = 256  # a node's .data this large is written into a buffer kept between steps (smaller: a new array)
FLOAT_SUM_UPTO = 7  # float64 vectors up to this long are summed to one number in Python floats (float_sums_in_order)
MAX_OPS = 20_000  # longer tapes are replayed by the plain loop (compiling a huge function costs more than it saves)


class Program:
    """The generated source for one tape, and the forward and backward functions compiled from it."""

    def __init__(self, tape: Tape, buffer_from: int = BUFFER_FROM, plan: StepPlan | None = None,
                 scalar: bool | None = None) -> None:
        self.tape = tape
        if scalar is None:  # a whole training step on tiny arrays is written in Python floats (engine.scalar)
            scalar = plan is not None and plan.optimizer is not None and fits(tape, float_sums_in_order())
        self.scalar = scalar
        self.plan = plan or StepPlan()  # the optimizer step written after the backward pass, if any
        self.writer = UpdateWriter()
        self.buffer_from = buffer_from
        self.fns: list[Any] = []  # op functions called as they are (no inline form), by number
        self.buffers: list[np.ndarray] = []
        self.consts: list[np.ndarray] = []  # the templates' numbers as 0-d arrays (see CONSTANTS), by number
        self._const_names: dict[tuple[str, str], str] = {}
        self.kept: dict[int, str] = {}  # slots whose op keeps a value for its VJPs: the value from the recorded data
        self.guarded: list[str] = []  # the buffers the pass being written checks before writing (see guard)
        self.source = self._write()
        namespace: dict[str, Any] = {}
        exec(compile(self.source, "<backproplab replay>", "exec"), namespace)  # text written above: templates, numbers
        state = [value for _node, data, _shape, dtype, _flag in tape._state for value in (data, dtype)]
        self.unchanged, self.forward, self.backward, self.replay = namespace["make"](
            tape.nodes, self.fns, self.buffers, self.consts, state, tape.seed, self.writer.objects)
        self.buffers = []  # now held by the generated functions alone, which guard() relies on

    def _fn(self, fn: Any) -> str:
        self.fns.append(fn)
        return f"f{len(self.fns) - 1}"

    def _buffer(self, like: np.ndarray) -> str:
        """A buffer of ``like``'s shape, dtype and memory order: a reduction over it adds in the same order."""
        self.buffers.append(np.empty_like(like))
        return f"b{len(self.buffers) - 1}"

    def _const(self, value: float, dtype: np.dtype) -> str:
        """The name of a 0-d array holding ``value`` in ``dtype``, made once per program."""
        return self._named_const((repr(float(value)), dtype.str), np.asarray(value, dtype))

    def _ones(self, n: int, dtype: np.dtype) -> str:
        """The name of the vector of ``n`` ones (1ᵀ in 1ᵀ·G) that ``unbroadcast`` uses, passed in once."""
        return self._named_const((f"{n} ones", dtype.str), row_ones(n, dtype))

    def _named_const(self, key: tuple[str, str], value: np.ndarray) -> str:
        """``c0``, ``c1``, …: the name of the constant ``key`` stands for, ``value`` passed in the first time."""
        name = self._const_names.get(key)
        if name is None:
            self.consts.append(value)
            name = self._const_names[key] = f"c{len(self.consts) - 1}"
        return name

    def _numbers(self, template: str, ins: tuple[int, ...], arrays: list[Any]) -> dict[str, str]:
        """The template's numbers: 0-d arrays when every array of the call has one float dtype, else literals."""
        values = {k: v for k, v in CONSTANTS.items() if "{" + k + "}" in template}
        if "{two_over_n}" in template:
            values["two_over_n"] = 2.0 / self.tape.nodes[ins[1]].data.size
        dtypes = {np.asarray(a).dtype for a in arrays}
        dtype = dtypes.pop() if len(dtypes) == 1 else None
        if dtype is not None and dtype.kind == "f":
            return {k: self._const(v, dtype) for k, v in values.items()}
        return {k: literal(v) for k, v in values.items()}

    def _write(self) -> str:
        tape = self.tape
        forward, backward, code = self._scalar_passes() if self.scalar else self._array_passes()
        consts = set(re.findall(r"\bc\d+\b", code))
        clear, update = update_lines(self.plan, tape, self.writer)
        lines = ["def make(nodes, fns, bufs, consts, state, seed, objs):"]
        lines += [f"    n{i} = nodes[{i}]" + (f"  # {label(node.name)}" if node.name else "")
                  for i, node in enumerate(tape.nodes)]
        lines += [f"    f{k} = fns[{k}]" for k in range(len(self.fns))]
        lines += [f"    b{k} = bufs[{k}]" for k in range(len(self.buffers))]
        lines += [f"    c{k} = consts[{k}]  # {_described(self.consts[k])} as {self.consts[k].dtype}"
                  for k in range(len(self.consts)) if f"c{k}" in consts]
        lines += [f"    k{i} = {expr}" for i, expr in self.kept.items()]
        lines += [f"    u{k} = objs[{k}]  # {comment(type(obj).__name__)}" for k, obj in enumerate(self.writer.objects)]
        for k in range(len(tape._state)):  # each input's recorded array and dtype, for unchanged()
            lines += [f"    i{k} = state[{2 * k}]", f"    t{k} = state[{2 * k + 1}]"]
        lines += [f"    {line}" for line in self.writer.setup]
        lines += ["", "    def unchanged():", *_indent(self._unchanged_lines(), 8)]
        lines += ["", "    def forward():", *_indent(forward, 8)]
        signature = "seed, slots=True, values=None" if self.scalar else "seed, slots=True"
        lines += ["", f"    def backward({signature}):", *_indent(backward, 8)]
        if update:
            lines += ["", "    def update():", *_indent(update, 8)]
        lines += ["", "    def replay():", *_indent(self._replay_lines(clear, bool(update)), 8)]
        lines += ["", "    return unchanged, forward, backward, replay", ""]
        return "\n".join(_imports(lines) + lines)

    def _array_passes(self) -> tuple[list[str], list[str], str]:
        """The forward and backward pass in NumPy calls, and their code without comments."""
        tape = self.tape
        ops = self._forward_lines()
        code = "\n".join(line for line in ops if not line.startswith("#"))
        used = set(re.findall(r"\bv\d+\b", code))  # one pass over the code, not one per name
        assigned = set(re.findall(r"^(k\d+) = ", code, re.MULTILINE))
        forward = [f"v{i} = n{i}.data" for i, _ in tape.inputs if f"v{i}" in used] + ops
        rebound = [f"k{i}" for i in self.kept if f"k{i}" in assigned]
        forward = _nonlocal(rebound + self.guarded) + forward
        self.guarded = []
        backward = self._backward_lines()
        backward = _nonlocal(self.guarded) + backward
        code += "\n".join(line for line in backward if not line.lstrip().startswith("#"))
        return forward, backward, code

    def _scalar_passes(self) -> tuple[list[str], list[str], str]:
        """The forward and backward pass in Python floats (``engine.scalar``), gradients stored as arrays."""
        passes = ScalarPasses(self.tape, self._fn, self._op_comment)
        body, grads = passes.backward()
        forward = [*passes.forward(), *passes.values()]
        store = []
        for i, _node in self.tape.keep:
            if i in grads:
                store += [f"w = {passes.pack(grads[i], i)}", f"if n{i}._grad is None:", f"    n{i}._grad = w",
                          "else:", f"    n{i}._grad += w"]
        root = len(self.tape.order) - 1
        names = ["seed" if i == root else passes.pack(grads[i], i) if i in grads else "None"
                 for i in range(len(self.tape.nodes))]
        result = ["if slots:", "    return [", *(f"        {name}," for name in names), "    ]"]
        backward = [*body, *store, *result]
        code = "\n".join(line for line in forward + backward if not line.lstrip().startswith("#"))
        return forward, backward, code

    def _replay_lines(self, clear: list[str], update: bool) -> list[str]:
        """One step as recorded: gradients cleared (if the step did), forward, backward, the optimizer's update."""
        root = len(self.tape.order) - 1
        before = clear if self.plan.clear_before else []
        after = clear if self.plan.clear_after else []
        what = "forward, backward and update" if update else "forward and backward"
        return [f"# the step as recorded: {what}, without the list of every node's gradient",
                f"if n{root}.requires_grad is not True or not unchanged():",
                "    return False", *before,
                *(["backward(seed, False, forward())"] if self.scalar else ["forward()", "backward(seed, False)"]),
                *(["update()"] if update else []), *after, "return True"]

    def _unchanged_lines(self) -> list[str]:
        """Tape.unchanged written out, and each input's memory layout (strides) as recorded.

        The buffers keep the recorded layout, and a sum adds in memory order: an input laid out
        otherwise (a transposed or Fortran-ordered array) is recorded again, so that the bits still
        equal the plain path's.
        """
        lines = []
        for k, ((i, _), (_node, data, shape, _dtype, flag)) in enumerate(zip(self.tape.inputs, self.tape._state)):
            shape_text = literal(tuple(int(n) for n in shape))
            strides = literal(tuple(int(n) for n in data.strides))
            lines += [f"d = n{i}.data",
                      f"if d is not i{k} and (d.shape != {shape_text} or d.dtype != t{k} or d.strides != {strides}):",
                      "    return False",
                      f"if n{i}.requires_grad is not {literal(bool(flag))}:",
                      "    return False"]
        return [*lines, "return True"]

    def _op_comment(self, i: int, node: Any) -> list[str]:
        """``# add (slot 4, z1): d(a + b)/da = 1; d(a + b)/db = 1``, from the op table, wrapped at 100 characters."""
        op = node.op
        slot = f"slot {i}, {label(node.name)}" if node.name else f"slot {i}"
        text = comment(f"{op.name} ({slot}): " + "; ".join(op.rule(k) for k in range(len(op.args))))
        out, line = [], "#"
        for word in text.split(" "):
            if len(line) + 1 + len(word) > 100 and line != "#":
                out.append(line)
                line = "#  "
            line += " " + word
        return [*out, line]

    def _extra(self, node: Any, ins: tuple[int, ...]) -> dict[str, str] | None:
        """The node's attributes as literals (and derived constants); None if one is not a plain value."""
        out: dict[str, str] = {}
        try:
            for key, value in (node.attrs or {}).items():
                out[key] = literal(value)
        except ValueError:
            return None
        if node.op.name == "mse":
            out["n"] = literal(int(self.tape.nodes[ins[1]].data.size))
        if node.op.name == "softmax_cross_entropy":
            z = self.tape.nodes[ins[0]].data
            out["rows"] = literal(int(z.size // z.shape[-1]))
        return out

    def _keep(self, i: int, form: Inline, ins: tuple[int, ...], extra: dict[str, str]) -> str | None:
        """The line that computes the op's kept value in the forward (into a buffer of its own), or None."""
        template = form.keep
        if template is None:
            return None
        into = "{o}" in template  # written into the value kept from the recorded data: its own buffer
        keep = _fill(template, [f"v{j}" for j in ins], extra, f"k{i}" if into else None)
        kept = _fill(template, [f"n{j}.data" for j in ins], extra, None)
        if keep is None or kept is None:
            return None
        self.kept[i] = kept
        extra["keep"] = f"k{i}"
        return keep if into else f"k{i} = {keep}"

    def _float_loss(self, i: int, node: Any, ins: tuple[int, ...]) -> list[str] | None:
        """SSR or MSE of two short float64 vectors in Python float arithmetic (``float_sums_in_order``); else None."""
        form = inline_form(node.op)
        if node.op.name not in ("ssr", "mse") or form is None:
            return None
        yhat, y = (self.tape.nodes[j].data for j in ins)
        if not (_float_sum(y) and yhat.shape == y.shape and yhat.dtype == node.data.dtype == np.float64):
            return None
        keep = self._keep(i, form, ins, {})
        if keep is None:
            return None
        names = [f"s{k}" for k in range(y.size)]
        total = " + ".join(["0.0", *(f"{s} * {s}" for s in names)])  # Σ r·r in NumPy's order (float_sums_in_order)
        if node.op.name == "mse":
            total = f"({total}) / {y.size}"
        return [keep, f"{_unpack(names)} = k{i}.tolist()", f"v{i} = array({total})"]

    def _forward_lines(self) -> list[str]:
        """The forward pass. An op's inner steps write into a buffer of their own; its result, which
        becomes the node's ``.data``, does so only when large (see ``guard``), else it is a new array."""
        lines: list[str] = []
        for i, node, bound, ins in self.tape.forward_program:
            lines += self._op_comment(i, node)
            small = self._float_loss(i, node, ins)
            if small is not None:
                lines += [*small, f"n{i}.data = v{i}"]
                continue
            form = inline_form(node.op)
            expr = None
            if form is not None and form.forward is not None:
                expr = self._inline_forward(i, node, ins, form, lines)
            if expr is None:
                expr = f"{self._fn(bound)}({', '.join(f'v{j}' for j in ins)})"
            if node.data.ndim == 0:
                expr = f"asarray({expr})"
            lines += [f"v{i} = {expr}", f"n{i}.data = v{i}"]
        return lines

    def _inline_forward(self, i: int, node: Any, ins: tuple[int, ...], form: Inline, lines: list[str]) -> str | None:
        """Node ``i``'s forward from its inline form (its kept value and buffer guard added to ``lines``); else None."""
        value = node.data
        extra = self._extra(node, ins)
        if extra is None or form.forward is None:
            return None
        if node.op.name == "matmul" and any(self.tape.nodes[j].data.ndim != 2 for j in ins):
            return None  # not two matrices: the op's own forward, which promotes or batches them as @ does
        extra.update(self._numbers(form.forward, ins, [*(self.tape.nodes[j].data for j in ins), value]))
        if form.keep is not None:
            keep = self._keep(i, form, ins, extra)
            if keep is not None:
                lines.append(keep)
        buf = f"b{len(self.buffers)}"  # claimed below if the expression uses it
        expr = _fill(form.forward, [f"v{j}" for j in ins], extra, buf if value.ndim else None)
        if expr is None:
            return None
        held = value.size >= self.buffer_from
        if not held:
            expr = _fresh_result(expr, buf)
        if re.search(rf"\b{buf}\b", expr):
            self._buffer(value)
            if held:
                lines += self.guard(buf, f"n{i}.data")
        return expr

    def guard(self, buf: str, holder: str | None = None) -> list[str]:
        """A buffer that something besides this code still holds (a ``.grad`` or ``.data`` from the last
        step, or an array a user kept) is left to its holder: the step writes into a new one instead.

        ``getrefcount`` counts the holders; ``unheld()`` is its count for a buffer held by this code alone.
        """
        self.guarded.append(buf)
        limit = f"{unheld()} + ({holder} is {buf})" if holder else f"{unheld()}"
        return [f"if getrefcount({buf}) > {limit}:", f"    {buf} = empty_like({buf})"]

    def _backward_lines(self) -> list[str]:
        """The backward pass. The VJPs' result shapes come from running them once on the recorded values."""
        tape = self.tape
        walk = _Walk(tape)
        for i, ins, edges in tape.backward_program:
            node = tape.nodes[i]
            walk.body += self._op_comment(i, node)
            form = inline_form(node.op)
            extra = self._extra(node, ins) if form is not None else None
            ks = [k for k, parent in enumerate(node.parents) if parent.requires_grad]
            for k, edge in zip(ks, edges):
                self._edge_lines(walk, i, ins, k, edge, form, extra)
        lines = [f"g{walk.root} = seed"] + [f"v{j} = n{j}.data" for j in sorted(walk.used)]
        guards, store = self._store_lines(walk)
        names = [f"g{i}" if g is not None else "None" for i, g in enumerate(walk.grads)]
        result = ["if slots:", "    return [", *(f"        {', '.join(part)}," for part in _chunks(names)), "    ]"]
        return [*guards, *lines, *walk.body, *store, *result]

    def _edge_lines(self, walk: _Walk, i: int, ins: tuple[int, ...], k: int, edge: tuple[Any, int, tuple[int, ...]],
                    form: Inline | None, extra: dict[str, str] | None) -> None:
        """The lines for the gradient node ``i`` passes to its ``k``-th input: its VJP, summed back to the input's
        shape if broadcast, then kept as that input's gradient or added to it."""
        bound, p, shape = edge
        values = walk.values
        args = [values[j] for j in ins]
        local = bound(walk.grads[i], values[i], *args)
        if type(local) is not np.ndarray:
            local = np.asarray(local)
        plain_owns = local.shape != shape or _fresh(local, walk.grads[i], values[i], args)
        template = self._vjp_template(i, k, form, extra, args, local)
        expr, fresh, buf = self._vjp_expr(walk, i, ins, template, extra, bound, local, p)
        if local.ndim == 0 and template != "{g}":
            expr = f"asarray({expr})"
        if local.shape != shape:  # broadcast in the forward: sum back to the operand's shape
            expr, buf = self._sum_back(walk, expr, local, shape, template)
            local = unbroadcast(local, shape)
            fresh = True
        if walk.grads[p] is None:
            walk.body += _assign(f"g{p}", expr)
            walk.grads[p], walk.owned[p], walk.plain_owned[p] = local, fresh, plain_owns
            if buf is not None and fresh:
                walk.holder[p] = buf
            return
        ours = walk.owned[p] and p not in walk.views  # a view shares its memory with another slot's gradient
        line, walk.grads[p], in_place = _add_into(f"g{p}", walk.grads[p], local, expr, ours, walk.plain_owned[p])
        walk.body.append(line)
        walk.plain_owned[p] = True  # the plain path's sum is a new array of its own, or its own added into
        if not in_place:
            walk.owned[p] = True
            walk.holder.pop(p, None)

    def _vjp_template(self, i: int, k: int, form: Inline | None, extra: dict[str, str] | None,
                      args: list[np.ndarray], local: np.ndarray) -> str | None:
        """The inline form of node ``i``'s VJP for input ``k``, with its kept value named; None: call the op's own."""
        tape = self.tape
        template = form.vjps[k] if form is not None and extra is not None and k < len(form.vjps) else None
        if (i == len(tape.order) - 1 and form is not None and template is not None and k < len(form.unit_vjps)
                and np.all(tape.seed == 1) and np.result_type(*args) == local.dtype):
            template = form.unit_vjps[k]  # the seed is 1: multiplying by it changes no bit
        op = op_of(tape.nodes[i])
        if op.name == "matmul" and not (args[0].ndim == 2 and args[1].ndim == 2):
            return None  # 1-D operands: the op's own VJP promotes them
        if op.name == "matmul" and k == 1 and transposed(args[1]):
            return "dot({g}.T, {0}).T"  # x·Wᵀ: dW in W's own order, as the op's own VJP gives it
        if template is not None and "{keep}" in template:
            if i not in self.kept:
                return None  # the forward did not keep the value: the op's own VJP computes it
            template = template.replace("{keep}", f"k{i}")
        return template

    def _vjp_expr(self, walk: _Walk, i: int, ins: tuple[int, ...], template: str | None,
                  extra: dict[str, str] | None, bound: Any, local: np.ndarray,
                  p: int) -> tuple[str, bool, str | None]:
        """The expression for one VJP, whether it makes a fresh array, and the buffer it writes into (or None)."""
        if template == "{g}":
            return f"g{i}", False, None
        if template == "{g}.T":  # a view of the gradient: ours to hand to .grad where that is, through its buffer
            walk.views.add(p)
            return f"g{i}.T", walk.owned.get(i, False), walk.holder.get(i)
        if template is not None:
            buf = self._buffer(local) if "{o}" in template and local.ndim else None  # a .grad is guarded
            arrays = [*(walk.values[j] for j in ins), walk.values[i], walk.grads[i], local]
            numbers = self._numbers(template, ins, arrays)
            expr = _fill(template.replace("{g}", f"g{i}").replace("{out}", f"v{i}"),
                         [f"v{j}" for j in ins], {**(extra or {}), **numbers}, buf)
            if expr is not None and " if " in template:
                expr = f"({expr})"  # a conditional expression (relu's): one term wherever it goes
            if expr is not None:
                walk.used.update(j for j in (*ins, i) if re.search(rf"\bv{j}\b", expr))
                return expr, True, buf
        walk.used.update((*ins, i))
        return f"{self._fn(bound)}(g{i}, v{i}{''.join(f', v{j}' for j in ins)})", False, None

    def _sum_back(self, walk: _Walk, expr: str, local: np.ndarray, shape: tuple[int, ...],
                  template: str | None) -> tuple[str, str | None]:
        """``expr`` summed back to the shape of an operand the forward broadcast, and the buffer it writes into."""
        if not shape:  # into a 0-d array of its own: one call instead of a sum and an asarray
            buf = self._buffer(np.empty((), local.dtype))
            if template is not None and _float_sum(local):
                names = [f"s{k}" for k in range(local.size)]
                total = " + ".join(["0.0", *names])  # NumPy's order: see float_sums_in_order
                walk.body += [f"{_unpack(names)} = {expr}.tolist()", f"{buf}[()] = {total}"]
                return buf, buf
            return f"add_reduce({expr}, None, None, {buf})", buf
        if sums_rows_by_dot(local, shape):  # 1ᵀ·G, as unbroadcast sums a bias's rows
            into = self._buffer(unbroadcast(local, shape)) if local.size >= self.buffer_from else None
            ones = self._ones(local.shape[0], local.dtype)
            walk.body.append(f"# summed over the {local.shape[0]} rows as 1ᵀ·G, one BLAS product ({ones}: the ones)")
            return f"dot({ones}, {expr}{', ' + into if into else ''})", into
        if local.ndim == len(shape) + 1 and local.shape[1:] == shape:
            into = self._buffer(unbroadcast(local, shape)) if local.size >= self.buffer_from else None
            return f"add_reduce({expr}, axis=0{', out=' + into if into else ''})", into
        return f"unbroadcast({expr}, {literal(tuple(int(n) for n in shape))})", None

    def _store_lines(self, walk: _Walk) -> tuple[list[str], list[str]]:
        """The guards of the buffers handed to ``.grad``, and the lines that add the gradients into ``.grad``."""
        guards, store = [], []
        for i, node in self.tape.keep:
            g = walk.grads[i]
            if g is None:
                continue
            same = g.dtype == node.data.dtype
            if i in walk.holder and walk.owned[i] and same:  # handed to .grad: a new buffer while that is still held
                guards += self.guard(walk.holder[i])
            if walk.owned[i] and same:
                handoff = f"g{i}"
            else:
                handoff = f"array(g{i}, copy=True)" if same else f"array(g{i}, dtype=n{i}.data.dtype)"
            store += [f"if n{i}._grad is None:", f"    n{i}._grad = {handoff}", "else:", f"    n{i}._grad += g{i}"]
        return guards, store


class _Walk:
    """What writing the backward pass knows so far, per slot: each gradient's value on the recorded data
    (its shape, dtype and layout), and who holds it."""

    def __init__(self, tape: Tape) -> None:
        self.values = [n.data for n in tape.nodes]
        self.grads: list[Any] = [None] * len(tape.nodes)
        self.root = len(tape.order) - 1
        self.grads[self.root] = tape.seed
        self.owned = {self.root: False}  # per gradient: a fresh array that nothing else holds (may be added into)
        self.plain_owned: dict[int, bool] = {}  # per gradient: whether the plain path adds into it in place
        self.holder: dict[int, str] = {}  # gradients that are a buffer kept between steps, and which one
        self.used: set[int] = set()  # the slots whose values the backward pass reads
        self.views: set[int] = set()  # gradients that are a view of another slot's (a transpose's)
        self.body: list[str] = []


def _imports(lines: list[str]) -> list[str]:
    """The import lines for the NumPy functions the code calls (and nothing else, so ruff finds none unused)."""
    code = "\n".join(line.partition("  # ")[0] for line in lines if not line.lstrip().startswith("#"))
    words = set(re.findall(r"\b\w+\b", code))  # one pass over the code, not one per name
    used = sorted(name for name in NAMESPACE if name in words)
    numpy_names = sorted({"add" if name == "add_reduce" else name for name in used} - set(OWN))
    out = ["# The replay of a recorded graph, written by backproplab.engine.codegen.", ""]
    standard = _from_lines([name for name in used if name in OWN and not OWN[name].startswith("backproplab")])
    if standard:  # the standard library's, first
        out += [*standard, ""]
    line = f"from numpy import {', '.join(numpy_names)}"
    out += [line] if len(line) <= 120 else ["from numpy import (", *(f"    {n}," for n in numpy_names), ")"]
    own = _from_lines([name for name in used if OWN.get(name, "").startswith("backproplab")])
    if own:
        out += ["", *own]
    out += ["", "add_reduce = add.reduce", "", ""] if "add_reduce" in used else ["", ""]
    return out


def _from_lines(names: list[str]) -> list[str]:
    """``from … import …`` for names of ``OWN``, as isort writes them: by module, a module's names under their own
    name on one line, each renamed one (``tanh as math_tanh``) on a line of its own, the lines in the order of
    the first name they import."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name in names:
        found.setdefault(OWN[name], []).append((NAMESPACE[name].__name__, name))
    out = []
    for module in sorted(found):
        plain = sorted(real for real, name in found[module] if real == name)
        lines = [(plain[0], f"from {module} import {', '.join(plain)}")] if plain else []
        lines += [(real, f"from {module} import {real} as {name}") for real, name in found[module] if real != name]
        out += [line for _, line in sorted(lines)]
    return out


@cache
def unheld() -> int:
    """What ``sys.getrefcount`` reports for an array that one closure variable alone holds (2 on CPython 3.11).

    Measured, not assumed, since Python versions count the call's own reference differently.
    """
    buf = np.empty(1)

    def probe() -> int:
        return getrefcount(buf)

    return probe()


@cache
def float_sums_in_order() -> bool:
    """Whether NumPy sums a float64 vector of up to ``FLOAT_SUM_UPTO`` entries as ``0.0 + a0 + a1 + …``.

    Its pairwise summation does so below 8 entries (starting from +0.0, so a sum of -0.0s is
    +0.0). Such a sum is then written as Python float additions in that same order: the same
    IEEE additions, so the same bits as the plain path's ``np.add.reduce``, at a fraction of a
    reduction's fixed cost. Checked once per process on vectors whose entries span forty
    orders of magnitude, where another order gives other bits.
    """
    rng = np.random.default_rng(0)
    for n in range(1, FLOAT_SUM_UPTO + 1):
        vectors = np.vstack([np.full(n, -0.0), rng.normal(size=(300, n)) * 10.0 ** rng.integers(-20, 20, (300, n))])
        totals = np.zeros(len(vectors))  # +0.0, then each column added in order: the same IEEE additions as floats
        for column in vectors.T:
            totals = totals + column
        sums = np.array([np.add.reduce(a, axis=None) for a in vectors])  # each row as the plain path sums a vector
        if sums.tobytes() != totals.tobytes():
            return False
    return True


def _float_sum(a: np.ndarray) -> bool:
    """Whether the sum of ``a`` to one number may be written as Python float additions (``float_sums_in_order``)."""
    return a.ndim == 1 and 1 <= a.size <= FLOAT_SUM_UPTO and a.dtype == np.float64 and float_sums_in_order()


def _fresh(local: np.ndarray, g: Any, out: np.ndarray, args: list[np.ndarray]) -> bool:
    """Whether the plain path (``autodiff.gradients``) keeps a first gradient to add the next ones into in place."""
    return local.size > OWN_FROM and unshared(local, g, out, args)


def _add_into(name: str, prev: np.ndarray, local: np.ndarray, expr: str, ours: bool,
              plain_in_place: bool) -> tuple[str, np.ndarray, bool]:
    """The line adding ``expr`` to gradient ``name``, the sum (as the replay lays it out), and whether in place.

    A later sum adds in memory order, so the sum must have the layout and dtype of the plain path's:
    that path adds in place into a gradient it allocated (``_fresh``) and otherwise makes a new array,
    which NumPy lays out from both operands (C order for one C- and one Fortran-ordered array, say).
    Where both give the same layout (always, for vectors and single numbers), the cheaper line is written.
    """
    total = f"{name} + {expr}"
    anew = f"{name} = asarray({total})" if local.ndim == 0 else f"{name} = {total}"
    with np.errstate(all="ignore"):  # the replay itself reports overflow; this only reads the layout
        new = np.asarray(prev + local)
        if not np.can_cast(new.dtype, prev.dtype, "same_kind"):  # nothing to add into: a new array
            return anew, new, False
        kept = np.add(prev, local, np.empty_like(prev))  # in place: prev's layout and dtype
    same = new.dtype == kept.dtype and new.strides == kept.strides
    if ours and (plain_in_place or same):
        return f"{name} += {expr}", kept, True
    if plain_in_place and not same:  # the plain path's layout, in a new array: ``name`` may be held elsewhere
        return f"{name} = add({name}, {expr}, empty_like({name}))", kept, False
    return anew, new, False


def _assign(name: str, expr: str) -> list[str]:
    """``name = expr``; a conditional expression (``(a if c else b)``, ``b`` perhaps one too) written as an if
    statement, a branch a line."""
    inner = expr[1:-1]
    if not (expr.startswith("(") and expr.endswith(")") and " if " in expr and _outside_parentheses(inner, ")", 0) < 0):
        return [f"{name} = {expr}"]  # not one conditional expression in parentheses
    at_if = _outside_parentheses(inner, " if ", 0)
    at_else = _outside_parentheses(inner, " else ", at_if + 1) if at_if >= 0 else -1
    if at_else < 0:
        return [f"{name} = {expr}"]
    value, condition, other = inner[:at_if], inner[at_if + 4:at_else], inner[at_else + 6:]
    rest = _assign(name, f"({other})")  # a conditional after else: an elif
    if rest[0].startswith("if "):
        return [f"if {condition}:", f"    {name} = {value}", f"el{rest[0]}", *rest[1:]]
    return [f"if {condition}:", f"    {name} = {value}", "else:", f"    {name} = {other}"]


def _outside_parentheses(text: str, word: str, start: int) -> int:
    """Where ``word`` first occurs in ``text`` from ``start`` on, outside any brackets (a closing bracket without
    its opening one included); -1 if nowhere."""
    depth = 0
    for k in range(len(text)):
        if k >= start and depth == 0 and text.startswith(word, k):
            return k
        depth += (text[k] in "([{") - (text[k] in ")]}")
    return -1


def _unpack(names: list[str]) -> str:
    return ", ".join(names) if len(names) > 1 else f"[{names[0]}]"


def _nonlocal(names: list[str]) -> list[str]:
    return [f"nonlocal {', '.join(part)}" for part in _chunks(names)]


def _described(const: np.ndarray) -> str:
    """A constant for its comment: a number, or how many ones (1ᵀ in 1ᵀ·G)."""
    return repr(const.item()) if const.ndim == 0 else f"{const.size} ones"


def _fresh_result(expr: str, buf: str) -> str:
    """The expression with its outermost call writing a new array instead of into ``buf``."""
    for tail in (f", {buf})", f", out={buf})"):
        if expr.endswith(tail):
            return expr[: -len(tail)] + ")"
    return expr


def _chunks(names: list[str], size: int = 12) -> list[list[str]]:
    return [names[k:k + size] for k in range(0, len(names), size)]


def _fill(template: str, args: list[str], extra: dict[str, str], buf: str | None) -> str | None:
    """The template filled in; None when the node lacks an attribute the template names."""
    try:
        return template.format(*args, o=f", {buf}" if buf else "", out_kw=f", out={buf}" if buf else "", **extra)
    except (KeyError, IndexError):
        return None


def _indent(lines: list[str], n: int) -> list[str]:
    return [" " * n + line if line else "" for line in lines]


def make_program(tape: Tape, plan: StepPlan | None = None) -> Program | bool:
    """The tape as generated code (with the optimizer's update, if ``plan`` has one), or False for a tape
    too long to be worth compiling."""
    if len(tape.forward_program) > MAX_OPS:
        return False
    return Program(tape, BUFFER_FROM, plan)
