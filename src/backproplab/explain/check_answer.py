"""``bl.check``: a learner's numbers for one iteration, each compared with the candidates of
:mod:`~backproplab.explain.check` and marked right within its rounding, right from rounded
inputs, or wrong with the mistake that gives it (and the right line).

The key language, shared by ``bl.check`` and ``backproplab check``:

* ``yhat`` all the predictions, in sample order (``yhat=-1.03,-0.03,-1.04``); ``yhat2`` (or ``yhat_2``,
  ``yhat[2]``) one of them, counted from 1;
* ``grad``, ``step`` and ``new``: the gradient, the step size and the new value of the parameter being
  optimised; with several, name it: ``grad.b3`` (in Python ``grad_b3``), ``step.w1``, ``new.w1``;
* a parameter's own name (``b3=2.19``): its new value after this iteration's step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from backproplab.explain.check import Candidate, Quantity, quantities, text
from backproplab.explain.check_work import Work, work_for
from backproplab.nn import Module
from backproplab.train.trace import Trace, single
from backproplab.util.messages import InputError, unknown_name_message
from backproplab.util.numbers import holds, number

STATUSES = {"right": "right", "rounded": "right from rounded inputs", "carried": "follows from your own numbers",
            "wrong": "wrong", "missing": "fill in"}
# What a check says of one value, with slots: the page, which has no Python, fills the same sentences from
# the lesson document (words.check_says), so every surface words a verdict alike.
SAYS = {"right": "{given} agrees with {exact} at {precision}",
        "rounded": "{given} {message}; exact {shown}",
        "wrong": "{given} is not {shown}: it {messages}",
        "unknown": "{given} is not {shown} (exactly {exact}); none of the usual mistakes gives it",
        "or": "; or it ",
        "guess_wrong": "your {given} {messages}",  # a prediction: the answer stays hidden
        "guess_unknown": "your {given} is not it, and none of the usual mistakes gives it: try again, or press "
                         "“show me”",
        "precision": {"e": "its precision", "0": "as a whole number", "1": "1 decimal", "n": "{n} decimals"}}
KINDS = ("grad", "step", "new")
YHAT = ("yhat", "ŷ")


@dataclass
class Verdict:
    """One given value, checked: ``status`` is right, rounded, carried (worked right from a wrong input
    of yours), wrong or missing; ``mistakes`` the kinds of mistake that give it; ``line`` the right line."""

    key: str
    label: str
    given: str | None
    exact: float
    status: str
    message: str
    line: str
    mistakes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "given": self.given, "exact": self.exact,
                "status": self.status, "message": self.message, "line": self.line, "mistakes": list(self.mistakes),
                "notes": list(self.notes)}

    def __str__(self) -> str:
        out = [f"{STATUSES[self.status]}: {self.label}: {self.message}"]
        out += [f"    note: {n}" for n in self.notes]
        if self.status in ("wrong", "carried") and self.line:  # not for a value to fill in: the line is the answer
            out.append(f"    right line: {self.line}")
        return "\n".join(out)


@dataclass
class CheckResult:
    """The verdicts on a learner's numbers for one iteration, in the order of the working."""

    iteration: int
    verdicts: list[Verdict]
    settings: str = ""

    def __getitem__(self, key: str) -> Verdict:
        for v in self.verdicts:
            if v.key == key:
                return v
        raise KeyError(unknown_name_message("checked value", key, [v.key for v in self.verdicts]))

    @property
    def all_right(self) -> bool:
        """Whether every given value is right (within its rounding or from rounded inputs)."""
        return all(v.status in ("right", "rounded") for v in self.verdicts)

    def counts(self) -> dict[str, int]:
        return {s: sum(v.status == s for v in self.verdicts) for s in STATUSES if any(v.status == s
                                                                                       for v in self.verdicts)}

    def to_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "settings": self.settings, "all_right": self.all_right,
                "verdicts": [v.to_dict() for v in self.verdicts]}

    def __str__(self) -> str:
        head = f"Your working at iteration {self.iteration}" + (f" ({self.settings})" if self.settings else "") + ":"
        return "\n".join([head, *(str(v) for v in self.verdicts)])

    def __repr__(self) -> str:
        return str(self)


# --- the keys ------------------------------------------------------------------------------------
def _one_param(work: Work, kind: str) -> str:
    if len(work.params) == 1:
        return work.params[0]
    if not work.params:
        raise InputError(f"{kind}: this run optimises no single-number parameter to check")
    raise InputError(f"{kind}: this run optimises {', '.join(work.params)}; name the one you mean, such as "
                     f"{kind}.{work.params[0]}=…")


def _sample(work: Work, key: str, number_part: str) -> str:
    n = len(work.yhat())
    if not number_part.isdigit() or not 1 <= int(number_part) <= n:
        raise InputError(f"{key}: there are {n} samples, so choose ŷ from yhat1 to yhat{n}")
    return f"yhat{int(number_part)}"


def quantity_keys(work: Work, key: str) -> list[str]:
    """The quantities a key names (several for ``yhat``); an :class:`InputError` for a key not known."""
    k = str(key).strip()
    for y in YHAT:
        if k == y:
            return [f"yhat{i + 1}" for i in range(len(work.yhat()))]
        if k.startswith(y):
            return [_sample(work, key, k[len(y):].strip("_[]"))]
    for kind in KINDS:
        if k == kind:
            p = _one_param(work, kind)
            return [p if kind == "new" else f"{kind}.{p}"]
        if k.startswith((f"{kind}.", f"{kind}_")):
            p = k[len(kind) + 1:]
            if p in work.params:
                return [p if kind == "new" else f"{kind}.{p}"]
            if p in work.trace.optimize:
                raise InputError(f"{key}: {p} is not a single number; the check takes single-number parameters, "
                                 "as the dosage example's")
            raise InputError(unknown_name_message("optimised parameter", p, work.params) + f" in {key}")
    if k in work.params:
        return [k]
    known = ["yhat", "grad", "step", "new", *work.params]
    raise InputError(unknown_name_message("key", k, known) + "; keys are yhat (or yhat2), grad, step, new, "
                     "grad.NAME … or a parameter's name for its new value")


def given_text(key: str, value: Any) -> str | None:
    """A given value as the text it was written with (its last decimal says how it was rounded); None if
    not filled in yet; an :class:`InputError` for anything that is not a number."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{key}: {value!r} is not a number")
    if isinstance(value, (int, float, np.integer, np.floating)):
        raw = repr(float(value)) if isinstance(value, (float, np.floating)) else str(int(value))
    elif isinstance(value, str):
        raw = value.strip().replace("−", "-").replace("\u2212", "-")
    else:
        raise InputError(f"{key}: {value!r} is not a number")
    try:
        parsed = Decimal(raw)
    except InvalidOperation:
        raise InputError(f"{key}: {value!r} is not a number") from None
    if not parsed.is_finite():
        raise InputError(f"{key}: {value!r} is not a finite number")
    return raw


def _values(work: Work, given: Mapping[str, Any]) -> dict[str, str | None]:
    """Each quantity's given text, keyed as the quantities are."""
    out: dict[str, str | None] = {}
    for key, value in given.items():
        keys = quantity_keys(work, key)
        many = len(keys) > 1 or str(key).strip() in YHAT
        if many:
            if isinstance(value, str):
                value = [v for v in value.split(",")] if value.strip() else []
            elif isinstance(value, (int, float, np.integer, np.floating)) and len(keys) == 1:
                value = [value]
            elif value is not None:
                value = list(np.asarray(value, dtype=object).reshape(-1))
            if value is not None and len(value) != len(keys):
                raise InputError(f"{key}: {len(value)} value(s) given, but the run has {len(keys)} samples "
                                 f"(ŷ_1 to ŷ_{len(keys)})")
            for k, v in zip(keys, value if value is not None else [None] * len(keys)):
                out[k] = given_text(f"{key} (ŷ_{k[4:]})", v)
        else:
            out[keys[0]] = given_text(str(key), value)
    return out


# --- the comparison --------------------------------------------------------------------------------
def mistake_id(c: Candidate) -> str:
    """A mistake as a verdict lists it: its kind, and for a chain factor left out which one
    (factor_left_out:dz1_i/dw1)."""
    return f"{c.kind}:{c.factor}" if c.factor else c.kind


def agrees(value: float, given: str) -> bool:
    """Whether ``value`` rounds to ``given`` at the last decimal given (given to full precision: within 1e-9)."""
    return holds(Decimal(value), given) or math.isclose(value, float(given), rel_tol=1e-9, abs_tol=1e-12)


def precision_words(given: str) -> str:
    words = SAYS["precision"]
    assert isinstance(words, dict)
    if "e" in given.lower():
        return words["e"]
    exponent = Decimal(given).as_tuple().exponent
    places = -int(exponent) if isinstance(exponent, int) else 0
    return words["0"] if places <= 0 else words["1"] if places == 1 else words["n"].format(n=places)


def _shown(given: str) -> str:
    return given.replace("-", "−")


def _matched(q: Quantity, given: str) -> tuple[str, str, list[Candidate]]:
    """The status and message from the quantity's own candidates."""
    slots = {"given": _shown(given), "exact": text(q.exact), "shown": number(q.exact, q.digits)}
    if agrees(q.exact, given):
        return "right", str(SAYS["right"]).format(precision=precision_words(given), **slots), []
    rounded = [c for c in q.rounded if agrees(c.value, given)]
    if rounded:
        return "rounded", str(SAYS["rounded"]).format(message=rounded[0].message, **slots), rounded[:1]
    mistakes = [c for c in q.mistakes if agrees(c.value, given)]
    if mistakes:
        said = str(SAYS["or"]).join(c.message for c in mistakes)
        return "wrong", str(SAYS["wrong"]).format(messages=said, **slots), mistakes
    return "wrong", str(SAYS["unknown"]).format(**slots), []


def guessed(q: Quantity, given: str) -> tuple[str, str, str]:
    """A prediction of ``q`` marked without giving the answer away (predict, then reveal): the status, what
    is said, and for a wrong one the line of working where it went wrong (its first differing line, no
    result). The page says the same from the same lists."""
    status, message, found = _matched(q, given)
    if status != "wrong":
        return status, message, ""
    if found:
        said = str(SAYS["or"]).join(c.message for c in found)
        return "wrong", str(SAYS["guess_wrong"]).format(given=_shown(given), messages=said), \
            next((c.hint for c in found if c.hint), "")
    return "wrong", str(SAYS["guess_unknown"]).format(given=_shown(given)), ""


def _own_gradient(work: Work, q: Quantity, given: dict[str, str | None]) -> tuple[float, str, list[str]] | None:
    """The gradient the learner's own ŷ give, by the loss op's rule and the exact dŷ_i/dp."""
    keys = [f"yhat{i + 1}" for i in range(len(work.yhat()))]
    chain = work.chain(q.parameter)
    if chain is None or chain.jacobian is None or any(given.get(k) is None for k in keys):
        return None
    dl = work.loss_derivative(np.array([float(given[k] or 0) for k in keys]))
    if dl is None:
        return None
    terms = dl * chain.jacobian
    own = float(np.sum(terms))
    working = " + ".join(number(t, q.digits) if t >= 0 else f"({number(t, q.digits)})" for t in terms)
    yours = ", ".join(_shown(given[k] or "") for k in keys)
    return own, f"your ŷ ({yours}) give {working} = {number(own, q.digits)}", keys


def _own(work: Work, q: Quantity, given: dict[str, str | None]) -> tuple[float, str, list[str]] | None:
    """What the learner's own inputs give for ``q`` (their ŷ for a gradient, their gradient for a step,
    their step for a new value), the working, and which inputs; None when they did not give them."""
    p = q.parameter
    if q.key.startswith("grad."):
        return _own_gradient(work, q, given)
    if q.key.startswith("step.") and work.plain_descent and given.get(f"grad.{p}") is not None:
        g = Decimal(given[f"grad.{p}"] or "0")
        own = g * Decimal(repr(work.lr))
        return float(own), f"your gradient gives {text(g)} × {work.lr:g} = {text(own)}", [f"grad.{p}"]
    if q.key == p and given.get(f"step.{p}") is not None:
        s, old = given[f"step.{p}"] or "0", single(work.it.params[p])
        own_new = old - float(s)
        return own_new, f"your step gives {text(old)} − ({_shown(s)}) = {number(own_new, q.digits)}", [f"step.{p}"]
    return None


def _verdict(work: Work, q: Quantity, given: dict[str, str | None], done: dict[str, Verdict]) -> Verdict:
    g = given[q.key]
    if g is None:
        return Verdict(q.key, q.label, None, q.exact, "missing", "put your number in place of None, then run the "
                       "check again", q.line)
    status, message, found = _matched(q, g)
    verdict = Verdict(q.key, q.label, g, q.exact, status, message, found[0].line if found and found[0].line else
                      q.line, [mistake_id(c) for c in found if c.kind != "rounded"])
    own = _own(work, q, given)
    if own is None:
        return verdict
    value, working, inputs = own
    if status == "right" and not agrees(value, g):
        verdict.notes.append(f"{working}; {_shown(g)} is the exact value, not what your own numbers give")
    elif status == "wrong" and agrees(value, g):
        inputs_right = all(done[k].status in ("right", "rounded") for k in inputs if k in done)
        verdict.status = "rounded" if inputs_right else "carried"
        how = "comes from your rounded numbers" if inputs_right else "is worked right from your own numbers"
        verdict.message = (f"{_shown(g)} {how}: {working}; exact {number(q.exact, q.digits)}"
                           + ("" if inputs_right else " (the mistake is in those numbers)"))
        verdict.mistakes = []
    return verdict


def check_values(trace: Trace, iteration: int, values: Mapping[str, Any], model: Module | None = None,
                 digits: int = 2) -> CheckResult:
    """The verdicts on ``values`` (key → number, text, list for yhat, or None: not filled in yet)."""
    work = work_for(trace, iteration, model, digits)
    return judge(work, quantities(work), values)


def judge(work: Work, listed: list[Quantity], values: Mapping[str, Any]) -> CheckResult:
    """The verdicts on ``values`` against the quantities of ``work`` already listed (several checks of one
    iteration share them)."""
    given = _values(work, values)
    if not given:
        raise InputError("give at least one value to check, such as grad=-6.26 (keys: yhat, grad, step, new, or a "
                         "parameter's name)")
    done: dict[str, Verdict] = {}
    for q in listed:
        if q.key in given:
            done[q.key] = _verdict(work, q, given, done)
    opt = ", ".join(work.params)
    return CheckResult(work.k, list(done.values()),
                       f"optimising {opt}, learning rate {work.lr:g}" if opt else "")


def check(trace: Trace, model: Module | None = None, *, iteration: int, digits: int = 2,
          **values: Any) -> CheckResult:
    """Check a hand calculation of iteration ``iteration`` (1-based) of ``trace`` against the exact one.

    ``values`` are keyed as ``backproplab check`` keys them, with ``_`` for ``.``: ``yhat=[…]``, ``yhat2=…``,
    ``grad=…`` (or ``grad_b3=…``), ``step=…``, ``new=…`` or a parameter's name (its new value). A value of
    None is not filled in yet: its verdict says so. ``model`` is the run's network (the dosage example's
    is found by itself). Each verdict says right within its rounding, right from rounded inputs, or
    wrong, with the likely mistake and the right line from the explainer's working.
    """
    return check_values(trace, iteration, values, model, digits)
