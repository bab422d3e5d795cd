"""The update a run takes, as lines of working: the textbook gradient-descent step, or Adam's
and momentum's, each with the quantity it scales and the numbers put in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from backproplab.display import rounding_note, shown, wrap
from backproplab.explain.document import Math
from backproplab.explain.symbols import fmt_number, latex_name
from backproplab.trace import Trace, scalar

METHODS = {"gradient_descent": "Gradient descent", "sgd": "SGD", "adam": "Adam"}
ADAM_DEFAULTS = (0.9, 0.999, 1e-8)  # β1, β2, ε as torch.optim.Adam has them


def method_name(rule: str) -> str:
    """The optimizer as a heading names it: 'Gradient descent', 'Adam', …"""
    return METHODS.get(rule, rule.replace("_", " ").capitalize())


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
    grads = [scalar(it.gradients[name]) for it in trace.iterations]
    steps = [scalar(it.step_sizes[name]) for it in trace.iterations]
    return adam_moments(grads, steps, trace.learning_rate)


def step_work(name: str, gradient: float, lr: float, old: float, digits: int, loss: str = "L",
              latex_param: str | None = None, rule: str = "gradient_descent", step: float | None = None,
              moments: tuple[float, float, float] | None = None) -> tuple[list[Math], list[str]]:
    """The step as lines of working, plus rounding notes where they are due. For Adam, ``moments``
    (m̂, v̂, ε) puts the numbers into step size = learning rate × m̂/(√v̂ + ε)."""
    step = gradient * lr if step is None else step
    new = old - step
    g_t, s_t, o_t, n_t = (fmt_number(v, digits, "text") for v in (gradient, step, old, new))
    g_l, s_l, o_l, n_l = (fmt_number(v, digits, "latex") for v in (gradient, step, old, new))
    p_l = latex_param or latex_name(name)
    lines = []
    notes = []
    if rule == "gradient_descent":
        lines.append(Math(f"step size = gradient × learning rate = {g_t} × {lr:g} = {s_t}",
                          rf"\text{{step size}} = {g_l} \times {lr:g} = {s_l}"))
        notes.append(rounding_note(shown(gradient, digits) * lr, step, digits))
    elif rule == "adam" and moments is not None:
        m_hat, v_hat, eps = moments
        m_t, v_t = wrap(fmt_number(m_hat, digits, "text"), m_hat), fmt_number(v_hat, digits, "text")
        m_l, v_l = fmt_number(m_hat, digits, "latex"), fmt_number(v_hat, digits, "latex")
        e_t, e_l = fmt_number(eps, 0, "text"), fmt_number(eps, 0, "latex")
        lines.append(Math(f"step size (Adam) = learning rate × m̂/(√v̂ + ε) = {lr:g} × {m_t}/(√{v_t} + {e_t}) = {s_t}",
                          rf"\text{{step size}} = \text{{learning rate}} \times \frac{{\hat m}}{{\sqrt{{\hat v}} + "
                          rf"\epsilon}} = {lr:g} \times \frac{{{m_l}}}{{\sqrt{{{v_l}}} + {e_l}}} = {s_l}"))
        m_s, v_s = shown(m_hat, digits), shown(v_hat, digits)
        if v_s > 0:
            notes.append(rounding_note(lr * m_s / (math.sqrt(v_s) + eps), step, digits))
    elif rule == "adam":
        lines.append(Math(f"step size (Adam) = learning rate × m̂/(√v̂ + ε) = {s_t}",
                          rf"\text{{step size}} = \text{{learning rate}} \times \frac{{\hat m}}{{\sqrt{{\hat v}} + "
                          rf"\epsilon}} = {s_l}"))
    else:
        lines.append(Math(f"step size ({method_name(rule)}) = {s_t}", rf"\text{{step size}} = {s_l}"))
    minus_step_t = f"({s_t})" if step < 0 else s_t
    minus_step_l = f"({s_l})" if step < 0 else s_l
    lines.append(Math(
        f"new {name} = old {name} − step size = {o_t} − {minus_step_t} = {n_t}",
        rf"{p_l}^{{\text{{new}}}} = {o_l} - {minus_step_l} = {n_l}"))
    notes.append(rounding_note(shown(old, digits) - shown(step, digits), new, digits))
    return lines, [n for n in notes if n]
