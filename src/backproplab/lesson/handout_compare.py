"""Runs side by side on paper: the compared runs' steps on one loss curve, and their numbers in one table.

A class compares two learning rates (0.1 against 0.34) or two starting values; the handout prints the
same comparison as the page and ``plot … --compare``: each run is the handout's settings with the run's
own on top (``lr=0.34``, ``start.b3=5``), trained as it would be alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from backproplab.explain.document import Block, Math
from backproplab.lesson.document import run
from backproplab.lesson.handout import Figure, Handout, HandoutError, Section, Table, _number, _svg
from backproplab.lesson.runs import parse_runs, run_settings
from backproplab.lesson.settings import Settings
from backproplab.plots import figures
from backproplab.plots.curves import MAX_COMPARED
from backproplab.train.trace import Trace, single


def _row(what: str, traces: Sequence[Trace], k: int, value: str, param: str, digits: int) -> list[Math | str]:
    """One line of the table: ``value`` (gradient, step size or new value) of each run at iteration ``k``."""
    cells: list[Math | str] = [Math(what, "")]
    for t in traces:
        if k > len(t.iterations) or param not in t.iterations[k - 1].step_sizes:
            cells.append(Math("(ended)", ""))
            continue
        it = t.iterations[k - 1]
        if value == "gradient":
            number = it.gradients[param]
        elif value == "step size":
            number = it.step_sizes[param]
        else:
            number = it.new_value(param)
        cells.append(Math(_number(float(single(number)), digits)[0], ""))
    return cells


def compare_part(settings: Settings, compare: Sequence[str], ks: Sequence[int], param: str,
                 digits: int) -> Section:
    """The runs ``compare`` (each in the page's settings language) on one loss curve, and a table with a column
    per run: the gradient, step size and new value of ``param`` at each iteration ``ks``."""
    runs = parse_runs(compare)
    if not 2 <= len(runs) <= MAX_COMPARED:
        raise HandoutError(f"--compare takes 2 to {MAX_COMPARED} runs, such as lr=0.1 lr=0.34; got {len(runs)}")
    built = [(r.label, *run(run_settings(settings, r))) for r in runs]
    label, job, trace = built[0]
    if param not in trace.optimize:
        raise HandoutError(f"the compared runs do not train {param}; compare runs that train it")
    job.net.load_state_dict(trace.iterations[0].params)
    svg = _svg(figures.one(job.preset, job.net, trace, "loss-curve", param=param, name=label,
                           compare=[(n, t) for n, _, t in built[1:]]))
    fig = Figure("compare.svg", svg, f"{job.loss.upper()} against {param}: each run's steps in its own colour")
    traces = [t for _, _, t in built]
    header = [Math("", "")] + [Math(n, "") for n, _, _ in built]
    rows = [_row(f"{what} at iteration {k}", traces, k, what, param, digits)
            for k in ks for what in ("gradient", "step size", "new value")]
    items: list[object] = [Block("para", [f"The same network trained {len(built)} ways, each run alone; the "
                                          "table gives each run's numbers at the iterations worked out."])]
    items.append(fig)
    items.append(Table(header, rows, words=True))
    return Section("Runs side by side", list(items), new_page=True, on_worksheet=False)


def with_compare(h: Handout, settings: Settings, compare: Sequence[str] | None, digits: int) -> Handout:
    """The handout with the compared runs after Part 2, at its iterations, for its first parameter (nothing added
    without ``compare``)."""
    if not compare:
        return h
    part = compare_part(settings, compare, h.iterations, h.params[0], digits)
    at = next((i + 1 for i, s in enumerate(h.sections) if s.title.startswith("Part 2")), 1)
    return dataclasses.replace(h, sections=[*h.sections[:at], part, *h.sections[at:]])
