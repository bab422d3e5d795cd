"""The dosage example compared with the article it comes from.

The article (Understanding Backpropagation with Python Examples, Part 3) prints rounded
numbers, and at times works on with them: its iteration-2 predictions are its rounded
predictions plus its rounded step, and its own terms do not add up to the gradients it
prints. The engine's values are exact. :func:`compared_with_article` lists each number the
article prints next to the exact value, computed by running the dosage preset, and says why
they differ, so a teacher can answer the question before a learner asks it.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from backproplab import optim
from backproplab.explain.check_answer import STATUSES, agrees, check_values, precision_words
from backproplab.spec import presets
from backproplab.train.trace import Trace
from backproplab.util.numbers import MINUS, number

ARTICLE = "Understanding Backpropagation with Python Examples, Part 3"
# The numbers as the article prints them: (iteration, ŷ_1, ŷ_2, ŷ_3, dSSR/db3, step size, new b3).
ARTICLE_Y = ("0", "1", "0")
ARTICLE_ITERATIONS = (
    (1, ("-2.6", "-1.6", "-2.61"), "-15.7", "-1.57", "1.57"),
    (2, ("-1.03", "-0.03", "-1.04"), "-6.26", "-0.626", "2.19"),
)
ARTICLE_FINAL_B3 = "2.61"  # "When b3 ≈ 2.61 the gradient is close to 0"
EXACT_DECIMALS = 4  # the exact value is shown with this many decimals in the table


def _text(value: Decimal | str) -> str:
    """A decimal as the tables write it, with a typographic minus."""
    return str(value).replace("-", MINUS)


def _exact_text(value: float) -> str:
    return _text(f"{value:.{EXACT_DECIMALS}f}")


def _decimals(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


def _rounds_to(exact: float, printed: str) -> bool:
    """Whether ``printed`` is ``exact`` rounded to the decimals it shows."""
    return Decimal(exact).quantize(Decimal(printed)) == Decimal(printed)


def _rounding(exact: float, printed: str) -> str:
    d = _decimals(printed)
    said = f"the exact value rounded to {d} decimal{'s' if d != 1 else ''}"
    if d != 2:
        said += f" (at 2 decimals, as shown here: {number(exact, 2)})"
    return said


def _why(exact: float, printed: str, own: Decimal | None = None, own_work: str = "",
         how: str = "the article works on with its rounded numbers") -> str:
    """Why the article's number is not the exact one: rounding, or arithmetic on rounded numbers."""
    if own is not None and own == Decimal(printed) and not _rounds_to(exact, printed):
        return (f"{how}: {own_work} = {_text(own)} "
                f"(at 2 decimals, as shown here: {number(exact, 2)})")
    reason = _rounding(exact, printed) if _rounds_to(exact, printed) else "not the exact value rounded"
    if own is not None and own != Decimal(printed):
        reason += f"; the article's own numbers give {own_work} = {_text(own)}"
    return reason


@lru_cache(maxsize=1)
def _dosage_trace() -> Trace:
    """The dosage preset's run at the article's settings: b3 from 0, learning rate 0.1."""
    net, (x, y) = presets.statquest()
    return optim.GradientDescent(net.parameters(only=["b3"]), lr=0.1).fit(net, x, y, loss="ssr")


@lru_cache(maxsize=1)
def _verdicts() -> dict[str, tuple[str, str]]:
    """What the checker says of each number the article prints (as if a learner had written them): the
    status in words and its message, with its notes, keyed by the table's ``what``."""
    out: dict[str, tuple[str, str]] = {}
    for iteration, yhat, gradient, step, new in ARTICLE_ITERATIONS:
        result = check_values(_dosage_trace(), iteration, {"yhat": list(yhat), "grad": gradient, "step": step,
                                                           "b3": new})
        names = [f"ŷ_{i} at iteration {iteration}" for i in (1, 2, 3)] + [
            f"dSSR/db3 at iteration {iteration}", f"step size at iteration {iteration}",
            f"new b3 after iteration {iteration}"]
        for what, v in zip(names, result.verdicts):
            out[what] = (STATUSES[v.status], "; ".join([v.message, *v.notes]))
    return out


def _final_verdict(exact: float) -> tuple[str, str]:
    if agrees(exact, ARTICLE_FINAL_B3):
        return STATUSES["right"], (f"{ARTICLE_FINAL_B3} agrees with {number(exact, EXACT_DECIMALS)} at "
                                   f"{precision_words(ARTICLE_FINAL_B3)}")
    return STATUSES["wrong"], f"{ARTICLE_FINAL_B3} is not {number(exact, 2)}"


@lru_cache(maxsize=1)
def _engine_run() -> tuple[tuple[tuple[float, ...], float, float, float], ...]:
    """(ŷ, dSSR/db3, step size, new b3) per iteration of the dosage preset, and the final b3."""
    trace = _dosage_trace()
    rows = tuple((tuple(float(v) for v in it.predictions), float(it.gradients["b3"]), float(it.step_sizes["b3"]),
                  float(it.params["b3"]) - float(it.step_sizes["b3"])) for it in trace.iterations)
    assert trace.final is not None  # fit() ends every run with its final state
    return rows + (((), 0.0, 0.0, float(trace.final.params["b3"])),)


def _terms(yhat: tuple[str, ...]) -> tuple[Decimal, str]:
    """The article's own gradient terms, −2 × (y_i − ŷ_i) × 1, added on its printed ŷ."""
    total = sum((-2 * (Decimal(y) - Decimal(p)) for y, p in zip(ARTICLE_Y, yhat)), Decimal(0))
    work = " + ".join(f"−2 × ({y} − ({_text(p)}))" for y, p in zip(ARTICLE_Y, yhat))
    return total, work


def _row(what: str, printed: str, exact: float, iteration: int | None, why: str) -> dict:
    verdict, message = _verdicts().get(what) or _final_verdict(exact)
    return {"what": what, "article": _text(printed), "exact": exact, "exact_text": _exact_text(exact),
            "shown": number(exact, 2), "iteration": iteration, "why": why, "verdict": verdict,
            "verdict_message": message}


def compared_with_article() -> list[dict]:
    """Each number the article prints for the dosage example, the exact value and why they differ.

    Rows have ``what``, ``article`` (as printed), ``exact`` (a float from the engine),
    ``exact_text`` (4 decimals), ``shown`` (as the surfaces show it, 2 decimals), ``iteration``
    (None for the converged b3), ``why``, and what ``bl.check`` says of the article's number as if a
    learner had written it: ``verdict`` (right, right from rounded inputs, …) and ``verdict_message``.
    """
    run = _engine_run()
    rows: list[dict] = []
    previous: tuple[tuple[str, ...], str, str] | None = None  # the article's ŷ, step and new b3 before
    for iteration, yhat, gradient, step, new in ARTICLE_ITERATIONS:
        e_yhat, e_gradient, e_step, e_new = run[iteration - 1]
        for i, (printed, exact) in enumerate(zip(yhat, e_yhat), start=1):
            own, work = None, ""
            if previous is not None:
                own = Decimal(previous[0][i - 1]) - Decimal(previous[1])
                work = f"{_text(previous[0][i - 1])} − ({_text(previous[1])})"
            rows.append(_row(f"ŷ_{i} at iteration {iteration}", printed, exact, iteration,
                             _why(exact, printed, own, work, "the article's rounded ŷ minus its rounded step")))
        total, work = _terms(yhat)
        rows.append(_row(f"dSSR/db3 at iteration {iteration}", gradient, e_gradient, iteration,
                         _why(e_gradient, gradient, total, work)))
        rows.append(_row(f"step size at iteration {iteration}", step, e_step, iteration,
                         _why(e_step, step, Decimal(gradient) * Decimal("0.1"), f"{_text(gradient)} × 0.1")))
        old = "0" if previous is None else previous[2]
        rows.append(_row(f"new b3 after iteration {iteration}", new, e_new, iteration,
                         _why(e_new, new, Decimal(old) - Decimal(step), f"{_text(old)} − ({_text(step)})")))
        previous = (yhat, step, new)
    final = run[-1][3]
    rows.append(_row("b3 where the gradient is ≈ 0", ARTICLE_FINAL_B3, final, None, _why(final, ARTICLE_FINAL_B3)))
    return rows


def article_table_markdown() -> str:
    """The comparison as a Markdown table, for the README, the docs and the notebook."""
    lines = ["| what | the article | exact | why they differ | the checker says |", "|---|---|---|---|---|"]
    lines += [f"| {r['what']} | {r['article']} | {r['exact_text']} | {r['why']} | {r['verdict']} |"
              for r in compared_with_article()]
    return "\n".join(lines)


def article_table_text() -> str:
    """The comparison for the terminal: one block per number, the reason on its own line."""
    out = [f"Compared with the article ({ARTICLE}), at its settings (b3 from 0, learning rate 0.1): "
           "its numbers are rounded, these are exact."]
    for r in compared_with_article():
        out.append(f"  {r['what']}: article {r['article']}, exact {r['exact_text']}")
        out.append(f"      {r['why']}")
        out.append(f"      the checker: {r['verdict']}: {r['verdict_message']}")
    return "\n".join(out)
