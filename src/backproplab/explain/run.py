"""A whole training run as a worked narrative: per iteration the predictions table, the
gradient worked out by the chain rule, the step and the new value; then where it ended.

Each shown iteration is rebuilt from the trace (its parameter values), so the working is
computed from the same graph and ops as the run itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backproplab.explain.core import Explanation
from backproplab.explain.document import Block, ExplainError, Math
from backproplab.explain.formulas import num
from backproplab.explain.forward import output_columns, output_name
from backproplab.explain.plan import RunExplainer
from backproplab.explain.symbols import fmt_number, latex_name
from backproplab.explain.words import loss_symbol, method_name, stopped_sentence
from backproplab.nn import Module
from backproplab.train.trace import Trace, scalar
from backproplab.util.numbers import precision

HEAD_ROWS, TAIL_ROWS = 8, 2  # rows of a long predictions table: the first and the last few


def shown_iterations(n: int, every: int | None = None, head: int = 3, tail: int = 2) -> list[int]:
    """Which iterations to show: all of a short run, else every K-th or the first and last few."""
    if every:
        picks = set(range(0, n, every)) | {n - 1}
    elif n <= head + tail + 3:
        picks = set(range(n))
    else:
        picks = set(range(head)) | set(range(n - tail, n))
    return sorted(i for i in picks if 0 <= i < n)


def predictions_table(trace: Trace, predictions: Any, digits: int, name: str = "") -> Block | None:
    """Sample | x_i | y_i | the output, when each sample has one input and one output; the output
    is named as every samples table names it (a classifier's logit beside its probability)."""
    x = np.asarray(trace.inputs, dtype=float)
    if x.ndim == 2 and x.shape[1] == 1:  # a CSV's x = ["dose"]: one input per sample
        x = x.reshape(-1)
    y = np.asarray(trace.targets, dtype=float).reshape(-1)
    outputs = [c for c in output_columns(trace.loss, predictions, name) if c.values.shape[1] == 1]
    if x.ndim != 1 or not outputs or not all(len(x) == len(y) == len(c.values) for c in outputs):
        return None
    header = [Math("sample", r"\text{sample}"), Math("x_i", "x_i"), Math("y_i", "y_i")]
    header += [Math(c.text, c.latex) for c in outputs]
    columns = [(x, True), (y, True)] + [(c.values[:, 0], False) for c in outputs]
    n = len(x)
    picks = list(range(n)) if n <= HEAD_ROWS + TAIL_ROWS + 2 else [*range(HEAD_ROWS), -1, *range(n - TAIL_ROWS, n)]
    gap = f"… {n - HEAD_ROWS - TAIL_ROWS} more"
    rows = [[Math(gap, rf"\text{{{gap.replace('…', '...')}}}")] + [Math("…", r"\vdots")] * len(columns) if i < 0 else
            [Math(str(i + 1), str(i + 1))]
            + [Math(fmt_number(v[i], digits, "text", data), fmt_number(v[i], digits, "latex", data))
               for v, data in columns]
            for i in picks]
    return Block("table", header=header, rows=rows)


def explain_run(
    trace: Trace, model: Module, *, digits: int = 2, every: int | None = None, form: str = "auto",
    title: str = "", params: list[str] | None = None,
) -> Explanation:
    """Every shown iteration of ``trace`` worked out (for ``params``, default all optimized ones);
    the run's parameters are left as they were."""
    if trace.inputs is None or not trace.iterations:
        raise ExplainError("this trace has no iterations or no data to explain")
    sym = loss_symbol(trace.loss)
    blocks: list[Block] = []
    if title:
        blocks.append(Block("heading", [title]))
    blocks.append(Block("para", [f"{method_name(trace.optimizer)} on {', '.join(trace.optimize)} with loss {sym} "
                                 f"and learning rate {trace.learning_rate:g}. Numbers: {precision(digits)}; every "
                                 "value is computed exactly."]))
    n = len(trace.iterations)
    previous = -1
    shown = shown_iterations(n, every)
    output = output_name(model, trace.inputs)  # before the plan, which may move the model
    plan = RunExplainer(trace, model, params, digits=digits, form=form, iterations=shown)  # the model is copied
    for i in shown:
        it = trace.iterations[i]  # a long run may keep only some iterations: it.step says which
        if it.step > previous + 1:
            blocks.append(Block("para", [f"… {it.step - previous - 1} iteration(s) not shown …"]))
        previous = it.step
        values = {p: scalar(it.params[p]) for p in trace.optimize}
        where = ", ".join(f"{p} = {fmt_number(v, digits, 'text')}" for p, v in values.items() if v is not None)
        blocks.append(Block("heading", [f"Iteration {it.step + 1}" + (f" ({where})" if where else "")]))
        prediction, loss = plan.prediction_and_loss(i + 1)  # the plan counts the iterations the trace kept
        table = predictions_table(trace, prediction, digits, output)
        if table is not None:
            blocks.append(table)
        blocks.append(Block("para", [f"{sym} = {num(loss, digits, 'text')}"]))
        for name in params or trace.optimize:
            blocks += plan.explanation(name, i + 1).blocks
    blocks += _ending(trace, digits)
    return Explanation(sym, ", ".join(trace.optimize), None, "run", digits, blocks,
                       {"iterations": [trace.iterations[i].step + 1 for i in shown_iterations(n, every)],
                        "stopped_by": trace.final.stopped_by if trace.final is not None else None})


def _ending(trace: Trace, digits: int) -> list[Block]:
    final = trace.final
    if final is None:
        return []
    blocks = [Block("heading", ["Where the run ended"])]
    blocks.append(Block("para", [stopped_sentence(final)]))
    lines = []
    last = trace.iterations[-1]
    for name in trace.optimize:
        value, g = scalar(final.params[name]), scalar(last.gradients[name])
        if value is None or g is None:
            continue
        text = f"when {name} ≈ {fmt_number(value, digits, 'text')} the gradient is ≈ 0 ({num(g, 4, 'text')})"
        latex = (rf"\text{{when }} {latex_name(name)} \approx {fmt_number(value, digits, 'latex')}"
                 rf"\text{{, the gradient is }} \approx 0 \; ({num(g, 4, 'latex')})")
        if final.stopped_by != "min_step":
            text = f"{name} = {fmt_number(value, digits, 'text')} (last gradient {num(g, 4, 'text')})"
            latex = rf"{latex_name(name)} = {fmt_number(value, digits, 'latex')}"
        lines.append(Math(text, latex))
    if lines:
        blocks.append(Block("lines", lines=lines))
    return blocks
