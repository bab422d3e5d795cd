"""Check my working: a learner's hand calculation of one iteration against the exact one.

:func:`candidates` lists every checkable quantity of an iteration (each ŷ_i; for each optimised
parameter its gradient, step size and new value) with its exact value, the digits the surfaces show
it with, the values that rounded inputs give, and the wrong value each common mistake gives, each
with its message and the right line from the explainer's own working. Those lists are all a check
needs: :func:`~backproplab.explain.check_answer.check` only compares a given value with them, and a
page without Python can compare with the same lists (``Quantity.to_dict``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from backproplab.explain.check_work import SIGN_LOSSES, Work, step_lines, work_for, working_lines
from backproplab.nn import Module
from backproplab.train.trace import Trace, single
from backproplab.util.numbers import decimal_of, number

ROUNDINGS = (2, 1, 3)  # the digits a hand calculation may round an input to (number()'s digits), the usual 2 first
MISTAKES = ("residual_sign", "plus_two", "minus_two_forgotten", "factor_left_out", "old_value", "step_added",
            "step_twice", "lr_on_new")


@dataclass(frozen=True)
class Candidate:
    """A value a hand calculation may reach: from rounded inputs (``kind`` "rounded") or by a mistake
    (``kind`` one of :data:`MISTAKES`; ``factor`` names the factor left out). ``message`` follows the
    given value ("−0.03 comes from rounding …"); ``line`` is the right line where it differs from the
    quantity's own."""

    value: float
    kind: str
    message: str
    line: str = ""
    factor: str = ""
    hint: str = ""  # the line of working where it went wrong, without the answer (predict, then reveal)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Quantity:
    """One number of an iteration to check: ``key`` as a check names it (yhat2, grad.b3, step.b3, b3),
    its exact value, as the surfaces show it (``shown``, with ``digits``), its right line, and the
    values rounded inputs and mistakes give."""

    key: str
    label: str
    exact: float
    shown: str
    digits: int
    line: str
    rounded: list[Candidate] = field(default_factory=list)
    mistakes: list[Candidate] = field(default_factory=list)
    parameter: str = ""  # the parameter a gradient, step or new value belongs to

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "exact": self.exact, "exact_text": text(self.exact),
                "shown": self.shown,
                "digits": self.digits, "line": self.line, "parameter": self.parameter,
                "rounded": [c.to_dict() for c in self.rounded], "mistakes": [c.to_dict() for c in self.mistakes]}


def text(value: Decimal | float) -> str:
    """A number as a hand calculation writes it, with a typographic minus (−1.6, 1.57)."""
    if isinstance(value, Decimal):
        return str(value).replace("-", "−")
    return number(value, 4)


def _add(found: list[Candidate], exact: float, candidate: Candidate) -> None:
    """Keep a candidate whose value is finite, new, and not the exact value itself."""
    v = candidate.value
    if not math.isfinite(v) or math.isclose(v, exact, rel_tol=1e-12, abs_tol=1e-15):
        return
    if any(c.kind == candidate.kind and c.factor == candidate.factor
           and math.isclose(c.value, v, rel_tol=1e-12, abs_tol=1e-15) for c in found):
        return
    found.append(candidate)


# --- ŷ ---------------------------------------------------------------------------------------------
def _moved(work: Work, step: float, gradient: float = 0.0, lr: float = 1.0) -> np.ndarray:
    """The predictions with every optimised parameter at (old + ``step`` × step size + ``gradient`` × gradient)
    × ``lr``, old, step size and gradient those of iteration k − 1."""
    prev = work.previous
    assert prev is not None
    return work.predictions({p: (np.asarray(prev.params[p]) + step * np.asarray(prev.step_sizes[p])
                                 + gradient * np.asarray(prev.gradients[p])) * lr for p in work.trace.optimize})


def _yhat_mistakes(work: Work) -> dict[str, tuple[np.ndarray, str]]:
    """ŷ as each update mistake of iteration k − 1 makes it, with the mistake in words."""
    prev = work.previous
    if prev is None or not work.trace.optimize:
        return {}
    names = ", ".join(work.trace.optimize)
    out = {"old_value": (np.asarray(prev.predictions, dtype=float).reshape(-1),
                         f"is ŷ at iteration {work.k - 1}: the old {names} used where the new value belongs"),
           "step_added": (_moved(work, 1.0), f"comes from adding the step to {names} (new = old − step size)"),
           "step_twice": (_moved(work, -2.0), f"comes from subtracting the step from {names} twice")}
    if work.plain_descent:
        lr = float(prev.lr if prev.lr is not None else work.trace.learning_rate)
        out["lr_on_new"] = (_moved(work, 0.0, -1.0, lr), f"comes from applying the learning rate to the new value, "
                            f"(old − gradient) × {lr:g}, in place of old − gradient × {lr:g}")
    return out


def _yhat_rounded(work: Work, i: int) -> list[Candidate]:
    """ŷ_i from rounded numbers: the previous ŷ_i plus the change in an output bias, or rounded parameters."""
    out: list[Candidate] = []
    prev, yhat = work.previous, work.yhat()
    if prev is not None and len(work.params) == 1:
        p = work.params[0]
        change = -single(prev.step_sizes[p])
        before = np.asarray(prev.predictions, dtype=float).reshape(-1)
        if np.allclose(yhat, before + change, rtol=1e-9, atol=1e-12):  # ŷ moves by the change itself
            for d1 in ROUNDINGS:
                for d2 in ROUNDINGS:
                    a, c = decimal_of(before[i], d1), decimal_of(change, d2)
                    _add(out, yhat[i], Candidate(float(a + c), "rounded",
                                                 f"comes from rounding ŷ_{i + 1} to {text(a)} before adding {text(c)} "
                                                 f"(the change in {p})"))
    for d in ROUNDINGS:
        rounded = {p: np.reshape(float(decimal_of(single(work.it.params[p]), d)), np.shape(work.it.params[p]))
                   for p in work.params}
        said = ", ".join(f"{p} to {text(decimal_of(single(work.it.params[p]), d))}" for p in work.params)
        _add(out, yhat[i], Candidate(float(work.predictions(rounded)[i]), "rounded",
                                     f"comes from rounding {said} before the forward pass"))
    return out


def yhat_quantities(work: Work) -> list[Quantity]:
    """ŷ_i for every sample, at iteration k."""
    yhat = work.yhat()
    update = ""
    if work.previous is not None:
        update = "; ".join(step_lines(work.explanation(p, previous=True))[1] for p in work.params)
    mistakes = _yhat_mistakes(work)
    out = []
    for i, exact in enumerate(yhat.tolist()):
        line = work.forward_line(i, exact) + (f", with {update}" if update else "")
        q = Quantity(f"yhat{i + 1}", f"ŷ_{i + 1} at iteration {work.k}", exact, number(exact, work.digits),
                     work.digits, line, _yhat_rounded(work, i))
        for kind, (values, message) in mistakes.items():
            _add(q.mistakes, exact, Candidate(float(values[i]), kind, message))
        out.append(q)
    return out


# --- the gradient ----------------------------------------------------------------------------------
def _gradient_rounded(work: Work, p: str, exact: float) -> list[Candidate]:
    """The gradient from rounded ŷ, from rounded factors, and from rounded terms."""
    out: list[Candidate] = []
    chain = work.chain(p)
    if chain is None:
        return out
    yhat = work.yhat()
    for d in ROUNDINGS:
        if chain.jacobian is not None:
            rounded = [decimal_of(v, d) for v in yhat]
            dl = work.loss_derivative(np.array([float(v) for v in rounded]))
            if dl is not None:
                _add(out, exact, Candidate(float(np.dot(dl, chain.jacobian)), "rounded",
                                           f"comes from rounding ŷ to {', '.join(text(v) for v in rounded)} "
                                           "before working out the gradient"))
        factors = sum((math.prod(decimal_of(v, d) for v in values) for values in chain.values), Decimal(0))
        _add(out, exact, Candidate(float(factors), "rounded",
                                   f"comes from multiplying the factors rounded to {d} digits"))
        terms = sum((decimal_of(math.prod(values), d) for values in chain.values), Decimal(0))
        _add(out, exact, Candidate(float(terms), "rounded", f"comes from rounding each term to {d} digits "
                                                             "before adding them"))
    return out


def _left_out(values: list[list[float]], names: list[list[str]], name: str) -> float:
    return math.fsum(math.prod(v for v, n in zip(vs, ns) if n != name) for vs, ns in zip(values, names))


def _gradient_mistakes(work: Work, p: str, exact: float, numbers: str) -> list[Candidate]:
    out: list[Candidate] = []
    chain = work.chain(p)
    if chain is not None:
        first = chain.names[0][0]
        loss_line = chain.lines[first]
        if work.loss_name() in SIGN_LOSSES:
            right = f"{loss_line}; {numbers}"
            _add(out, exact, Candidate(-exact, "residual_sign", f"has the residual the wrong way round (ŷ_i − y_i "
                                       f"where {first} has y_i − ŷ_i), which turns every term's sign", right,
                                       hint=loss_line))
            _add(out, exact, Candidate(-exact, "plus_two", f"has 2 where {first} has −2, which turns every "
                                       "term's sign", right, hint=loss_line))
            _add(out, exact, Candidate(exact / -2, "minus_two_forgotten", f"leaves out the −2 of {first}", right,
                                       hint=loss_line))
        leading = {ns[0] for ns in chain.names}
        for name in dict.fromkeys(n for ns in chain.names for n in ns[1:] if n not in leading):
            value = _left_out(chain.values, chain.names, name)
            if math.isclose(value, exact, rel_tol=1e-9, abs_tol=1e-12):
                continue  # a factor of 1 changes nothing when it is left out
            _add(out, exact, Candidate(value, "factor_left_out", f"leaves out the chain factor {chain.lines[name]}",
                                       f"{chain.lines[name]}; {numbers}", name, hint=chain.lines[name]))
    if work.previous is not None:
        _add(out, exact, Candidate(single(work.previous.gradients[p]), "old_value",
                                   f"is the gradient at iteration {work.k - 1}: worked out with the old values "
                                   f"where iteration {work.k}'s belong"))
    return out


def gradient_quantity(work: Work, p: str) -> Quantity:
    exp = work.explanation(p)
    exact = single(work.it.gradients[p])
    numbers = " ".join(working_lines(exp, "Putting in the numbers"))
    q = Quantity(f"grad.{p}", f"d{exp.loss}/d{p} at iteration {work.k}", exact, number(exact, work.digits),
                 work.digits, numbers or f"d{exp.loss}/d{p} = {number(exact, work.digits)}",
                 _gradient_rounded(work, p, exact), _gradient_mistakes(work, p, exact, numbers), p)
    return q


# --- the step and the new value --------------------------------------------------------------------
def step_quantity(work: Work, p: str) -> Quantity:
    exact, g = single(work.it.step_sizes[p]), single(work.it.gradients[p])
    line = step_lines(work.explanation(p))[0]
    q = Quantity(f"step.{p}", f"step size for {p} at iteration {work.k}", exact, number(exact, work.digits),
                 work.digits, line, parameter=p)
    if work.plain_descent:
        for d in ROUNDINGS:
            gd = decimal_of(g, d)
            _add(q.rounded, exact, Candidate(float(gd * Decimal(f"{work.lr!r}")), "rounded",
                                             f"comes from rounding the gradient to {text(gd)} before multiplying "
                                             f"by {work.lr:g}"))
        if work.previous is not None:
            _add(q.mistakes, exact, Candidate(single(work.previous.gradients[p]) * work.lr, "old_value",
                                              f"uses the gradient of iteration {work.k - 1} where iteration "
                                              f"{work.k}'s belongs"))
    return q


def new_quantity(work: Work, p: str) -> Quantity:
    old, step, g = single(work.it.params[p]), single(work.it.step_sizes[p]), single(work.it.gradients[p])
    exact = old - step
    line = step_lines(work.explanation(p))[1]
    q = Quantity(p, f"new {p} after iteration {work.k}", exact, number(exact, work.digits), work.digits, line,
                 parameter=p)
    for d1 in ROUNDINGS:
        for d2 in ROUNDINGS:
            o, s = decimal_of(old, d1), decimal_of(step, d2)
            _add(q.rounded, exact, Candidate(float(o - s), "rounded", f"comes from rounding old {p} to {text(o)} "
                                             f"and the step to {text(s)} before subtracting"))
    _add(q.mistakes, exact, Candidate(old + step, "step_added", f"adds the step (old {p} + step size) where "
                                      f"new {p} = old {p} − step size"))
    _add(q.mistakes, exact, Candidate(old - 2 * step, "step_twice", "subtracts the step twice"))
    if work.plain_descent:
        _add(q.mistakes, exact, Candidate((old - g) * work.lr, "lr_on_new", "applies the learning rate to the new "
                                          f"value, (old − gradient) × {work.lr:g}, in place of old − gradient × "
                                          f"{work.lr:g}"))
    if work.previous is not None:
        before = single(work.previous.params[p])
        _add(q.mistakes, exact, Candidate(before - step, "old_value", f"subtracts the step from {p} at iteration "
                                          f"{work.k - 1} ({text(before)}) where its value now ({text(old)}) "
                                          "belongs"))
    return q


def quantities(work: Work) -> list[Quantity]:
    """Every checkable quantity of the iteration: ŷ_i, then per optimised parameter its gradient, step and new value."""
    samples = np.shape(work.trace.inputs)[0] if np.ndim(work.trace.inputs) else 1
    out = yhat_quantities(work) if len(work.yhat()) == samples else []  # one ŷ per sample, not a row of classes
    for p in work.params:
        out += [gradient_quantity(work, p), step_quantity(work, p), new_quantity(work, p)]
    return out


def candidates(trace: Trace, iteration: int, model: Module | None = None, digits: int = 2) -> list[Quantity]:
    """For each checkable quantity of ``iteration`` (1-based) of ``trace``: its exact value, how it is shown,
    its right line, and the values rounded inputs and the common mistakes give. ``model`` is the run's
    network (not needed for the dosage example)."""
    return quantities(work_for(trace, iteration, model, digits))
