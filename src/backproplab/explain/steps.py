"""The update a run takes, as lines of working: the textbook gradient-descent step, or Adam's
and momentum's, each with the quantity it scales and the numbers put in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal

import numpy as np

from backproplab.explain.document import Math
from backproplab.explain.symbols import fmt_number, latex_name
from backproplab.explain.words import method_name
from backproplab.train.trace import Trace, scalar
from backproplab.util.numbers import decimal_of, enough_digits, holds, number, rounding_note, shown_decimal, wrap

ADAM_DEFAULTS = (0.9, 0.999, 1e-8)  # β1, β2, ε as torch.optim.Adam has them


def step_rule_text(rule: str) -> str:
    """One sentence on how the step is made, for the paragraph before the working."""
    if rule == "gradient_descent":
        return "The gradient-descent step: step size = gradient × learning rate, new value = old value − step size."
    if rule == "adam":
        return ("Adam's step: step size = learning rate × m̂/(√v̂ + ε), where m̂ and v̂ are running averages of the "
                "gradient and of its square (bias-corrected); new value = old value − step size.")
    return f"The {method_name(rule)} step: new value = old value − step size."


def adam_moments(gradients: Sequence[float | None], steps: Sequence[float | None], lr: float,
                 betas_eps: tuple[float, float, float] = ADAM_DEFAULTS) -> list[tuple[float, float, float] | None]:
    """(m̂, v̂, ε) at each step, rebuilt from the run's gradients, for as long as they give the step
    sizes the run recorded (None from where they do not: other β or ε than Adam's defaults)."""
    b1, b2, eps = betas_eps
    m = v = 0.0
    out: list[tuple[float, float, float] | None] = []
    for t, (g, s) in enumerate(zip(gradients, steps), start=1):
        if g is None or s is None or (out and out[-1] is None):
            out.append(None)
            continue
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        ok = math.isclose(lr * m_hat / (math.sqrt(v_hat) + eps), s, rel_tol=1e-9, abs_tol=1e-15)
        out.append((m_hat, v_hat, eps) if ok else None)
    return out


def run_moments(trace: Trace, name: str) -> list[tuple[float, float, float] | None]:
    """Adam's (m̂, v̂, ε) for a scalar parameter at every iteration of ``trace`` (all None for other optimizers)."""
    if trace.optimizer != "adam":
        return [None] * len(trace.iterations)
    grads = [scalar(g) for g in trace.iterations.column("gradients", name)]  # column by column: no iteration
    steps = [scalar(s) for s in trace.iterations.column("step_sizes", name)]  # is built whole
    return adam_moments(grads, steps, trace.learning_rate)


def _with_exact(values: list[float], work: Callable[[list[Decimal]], Decimal], result: str, digits: int,
                make: Callable[[int], Math], exact: float) -> tuple[Math, str, bool]:
    """A line (``make(digits)``), its rounding note if ``work`` done by hand on the numbers shown misses
    the shown ``result``, and whether its exact-factors form (the numbers with the fewest digits that make
    the arithmetic hold) leaves the note unneeded."""
    line = make(digits)
    by_hand = work([decimal_of(v, digits) for v in values])
    if holds(by_hand, result):
        return line, "", True
    d = enough_digits(values, work, result, digits)
    note = rounding_note(by_hand, exact, digits)
    return (Math(line.text, line.latex, make(d)) if d is not None else line), note, d is not None


def step_working(name: str, gradient: float, lr: float, old: float, digits: int, loss: str = "L",
                 latex_param: str | None = None, rule: str = "gradient_descent", step: float | None = None,
                 moments: tuple[float, float, float] | None = None) -> list[tuple[Math, str, bool]]:
    """The step as lines of working, each with its rounding note ('' if none) and whether the
    exact-factors form makes that note unneeded. For Adam, ``moments`` (m̂, v̂, ε) puts the numbers
    into step size = learning rate × m̂/(√v̂ + ε)."""
    step = gradient * lr if step is None else step
    new = old - step
    s_t, n_t = fmt_number(step, digits, "text"), fmt_number(new, digits, "text")
    s_l, n_l = fmt_number(step, digits, "latex"), fmt_number(new, digits, "latex")
    p_l = latex_param or latex_name(name)
    out: list[tuple[Math, str, bool]] = []
    plain = number(step, digits, "-")
    if rule == "gradient_descent":
        def gd(d: int) -> Math:
            g_t, g_l = fmt_number(gradient, d, "text"), fmt_number(gradient, d, "latex")
            return Math(f"step size = gradient × learning rate = {g_t} × {lr:g} = {s_t}",
                        rf"\text{{step size}} = {g_l} \times {lr:g} = {s_l}")
        lr_d = Decimal(f"{lr:g}")
        out.append(_with_exact([gradient], lambda v: v[0] * lr_d, plain, digits, gd, step))
    elif rule == "adam" and moments is not None:
        m_hat, v_hat, eps = moments
        e_t, e_l = fmt_number(eps, 0, "text"), fmt_number(eps, 0, "latex")
        eps_d = shown_decimal(number(eps, 0, "-"))

        def adam(d: int) -> Math:
            m_t, v_t = wrap(fmt_number(m_hat, d, "text"), m_hat), fmt_number(v_hat, d, "text")
            m_l, v_l = fmt_number(m_hat, d, "latex"), fmt_number(v_hat, d, "latex")
            return Math(f"step size (Adam) = learning rate × m̂/(√v̂ + ε) = {lr:g} × {m_t}/(√{v_t} + {e_t}) = {s_t}",
                        rf"\text{{step size}} = \text{{learning rate}} \times \frac{{\hat m}}{{\sqrt{{\hat v}} + "
                        rf"\epsilon}} = {lr:g} \times \frac{{{m_l}}}{{\sqrt{{{v_l}}} + {e_l}}} = {s_l}")

        def by_hand(v: list[Decimal]) -> Decimal:
            return Decimal(f"{lr:g}") * v[0] / (v[1].sqrt() + eps_d) if v[1] > 0 else Decimal("NaN")
        if decimal_of(v_hat, digits) > 0:
            out.append(_with_exact([m_hat, v_hat], by_hand, plain, digits, adam, step))
        else:  # √v̂ shows as 0: no arithmetic to check
            out.append((adam(digits), "", True))
    elif rule == "adam":
        out.append((Math(f"step size (Adam) = learning rate × m̂/(√v̂ + ε) = {s_t}",
                         rf"\text{{step size}} = \text{{learning rate}} \times \frac{{\hat m}}{{\sqrt{{\hat v}} + "
                         rf"\epsilon}} = {s_l}"), "", True))
    else:
        out.append((Math(f"step size ({method_name(rule)}) = {s_t}", rf"\text{{step size}} = {s_l}"), "", True))

    def update(d: int) -> Math:
        o_t, o_l = fmt_number(old, d, "text"), fmt_number(old, d, "latex")
        st, sl = fmt_number(step, d, "text"), fmt_number(step, d, "latex")
        minus_t, minus_l = (f"({st})", f"({sl})") if step < 0 else (st, sl)
        return Math(f"new {name} = old {name} − step size = {o_t} − {minus_t} = {n_t}",
                    rf"{p_l}^{{\text{{new}}}} = {o_l} - {minus_l} = {n_l}")
    out.append(_with_exact([old, step], lambda v: v[0] - v[1], number(new, digits, "-"), digits, update, new))
    return out


def step_work(name: str, gradient: float, lr: float, old: float, digits: int, loss: str = "L",
              latex_param: str | None = None, rule: str = "gradient_descent", step: float | None = None,
              moments: tuple[float, float, float] | None = None) -> tuple[list[Math], list[str]]:
    """:func:`step_working` as its lines and, apart, the notes that are due."""
    working = step_working(name, gradient, lr, old, digits, loss, latex_param, rule, step, moments)
    return [line for line, _, _ in working], [note for _, note, _ in working if note]


def recorded_moments(trace: Trace, name: str, k: int,
                     index: tuple[int, ...] | None = None) -> tuple[float, float, float] | None:
    """Adam's (m̂, v̂, ε) at iteration ``k`` (0-based) of ``name`` (its entry ``index``), rebuilt from the
    run, so that every surface writes the step with its numbers; None for other optimizers."""
    if trace.optimizer != "adam" or not 0 <= k < len(trace.iterations):
        return None

    def entry(value: object) -> float | None:
        arr = np.asarray(value, dtype=float)
        if index is not None and arr.ndim == len(index):
            return float(arr[tuple(index)])
        return float(arr.reshape(-1)[0]) if arr.size == 1 else None

    its = trace.iterations[:k + 1]
    return adam_moments([entry(it.gradients[name]) for it in its], [entry(it.step_sizes[name]) for it in its],
                        trace.learning_rate)[-1]
