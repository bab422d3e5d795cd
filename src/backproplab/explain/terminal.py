"""The worked run in the terminal: per iteration the samples table, the gradient, the step
size and the new value, then where the run ended. Rendered with rich.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from backproplab.explain.forward import output_columns
from backproplab.explain.run import shown_iterations
from backproplab.explain.steps import run_moments, step_working
from backproplab.explain.words import loss_symbol, method_name, stopped_sentence
from backproplab.train.trace import Iteration, Trace, scalar
from backproplab.util.numbers import exact_number, number

MAX_INPUTS = 4  # a samples table is shown when each sample has at most this many inputs
HEAD_ROWS, TAIL_ROWS = 8, 2  # rows of a long samples table: the first and the last few


def has_samples_table(trace: Trace) -> bool:
    """Whether the run's data fits a samples table: one row per sample, a few inputs each
    (x = [0, 0.5, 1] and a CSV's x = ["dose"] alike)."""
    if trace.inputs is None:
        return False
    x = np.asarray(trace.inputs)
    return x.ndim == 1 or (x.ndim == 2 and x.shape[1] <= MAX_INPUTS)


def samples_table(trace: Trace, it: Iteration, digits: int, output: str = "") -> Table:
    """Sample | x_i | y_i | the output, named by ``output_columns`` (ŷ_i, or a classifier's logit
    and probability); a long table shows its first and last rows and how many are between."""
    table = Table(title=None, show_edge=True, header_style="bold")
    x = np.asarray(trace.inputs, dtype=float)
    n = len(x)
    y = np.asarray(trace.targets, dtype=float).reshape(n, -1) if x.size else np.zeros((0, 1))
    outs = output_columns(trace.loss, np.asarray(it.predictions, dtype=float).reshape(n, -1) if x.size
                          else np.zeros((0, 1)), output)
    for col in ("sample", "x_i", "y_i", *(c.text for c in outs)):
        table.add_column(col, justify="right")
    rows = list(range(n)) if n <= HEAD_ROWS + TAIL_ROWS + 2 else [*range(HEAD_ROWS), -1, *range(n - TAIL_ROWS, n)]
    for i in rows:
        if i < 0:
            table.add_row(f"… {n - HEAD_ROWS - TAIL_ROWS} more", "…", "…", *("…" for _ in outs))
            continue
        table.add_row(
            str(i + 1),
            ", ".join(exact_number(v, digits) for v in np.atleast_1d(x[i])),
            ", ".join(exact_number(v, digits) for v in y[i]),
            *(", ".join(number(v, digits) for v in c.values[i]) for c in outs),
        )
    return table


def array_norm(value: Any) -> float:
    """The length of an array gradient or step, as the terminal and the page both show it."""
    return float(np.linalg.norm(np.asarray(value, dtype=float)))


def step_lines(trace: Trace, it: Iteration, digits: int, moments: dict[str, list] | None = None) -> list[str]:
    """The gradient → step size → new value working for every optimized scalar parameter."""
    sym = loss_symbol(trace.loss)
    lines = []
    for name in trace.optimize:
        m = (moments or {}).get(name)
        g, s, old = scalar(it.gradients[name]), scalar(it.step_sizes[name]), scalar(it.params[name])
        if g is None or s is None or old is None:
            norm = array_norm(it.gradients[name])
            lines.append(f"d{sym}/d{name}: a {np.shape(it.gradients[name])} array, norm {number(norm, digits)}")
            continue
        lines.append(f"d{sym}/d{name} = {number(g, digits)}")
        for line, note, _ in step_working(name, g, trace.learning_rate, old, digits, sym, rule=trace.optimizer,
                                          step=s, moments=m[it.step] if m and it.step < len(m) else None):
            lines += [line.text] + ([f"  note: {note}"] if note else [])  # each note under its own line
    return lines


def render_run(
    trace: Trace,
    console: Console,
    digits: int = 2,
    every: int | None = None,
    explain: Callable[[Iteration], None] | None = None,
    title: str = "",
    output: str = "",
) -> None:
    """Print the run as a teacher would work it: one block per shown iteration, then the end.

    ``output`` is the network's name for its output node (``z3``), for the samples table's heading."""
    n = len(trace.iterations)
    sym = loss_symbol(trace.loss)
    if title:
        console.print(f"[bold]{escape(title)}[/bold]")
    console.print(
        f"{method_name(trace.optimizer)} on {', '.join(trace.optimize)} · loss {sym} · learning rate "
        f"{trace.learning_rate:g}", highlight=False, markup=False)
    moments = {name: run_moments(trace, name) for name in trace.optimize if trace.optimizer == "adam"}
    one_d = has_samples_table(trace)
    previous = -1
    for i in shown_iterations(n, every):
        if i > previous + 1:
            console.print(f"\n[dim]… {i - previous - 1} iteration(s) not shown (use --every 1 to see all) …[/dim]")
        previous = i
        it = trace.iterations[i]
        values = {name: scalar(it.params[name]) for name in trace.optimize}
        where = ", ".join(f"{name} = {number(v, digits)}" for name, v in values.items() if v is not None)
        console.print(f"\n[bold]Iteration {it.step + 1}[/bold]" + (f" ({escape(where)})" if where else ""))
        if one_d:
            console.print(samples_table(trace, it, digits, output))
        console.print(f"{sym} = {number(it.loss, digits)}")
        if explain is not None:
            explain(it)
        for line in step_lines(trace, it, digits, moments):
            console.print(line, highlight=False, markup=False)
    final = trace.final
    if final is None:
        return
    console.print()
    hint = " Raise --max-steps to go on." if final.stopped_by == "max_steps" else ""
    console.print(f"[bold]{escape(stopped_sentence(final))}[/bold]{hint}")
    for name in trace.optimize:
        value = scalar(final.params[name])
        last_g = scalar(trace.iterations[-1].gradients[name]) if trace.iterations else None
        if value is not None:
            gtext = f"; the last gradient was {number(last_g, max(digits, 4))} ≈ 0" if (
                last_g is not None and final.converged) else ""
            console.print(f"{name} ≈ {number(value, digits)}{gtext}", highlight=False, markup=False)
    console.print(f"final {sym} = {number(final.loss, max(digits, 4))}", highlight=False)
