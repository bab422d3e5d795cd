"""The lesson document: one JSON object that holds everything the lesson page shows.

The page draws only from this document, so the server, an exported file and a notebook can
never disagree: the trace (the ``--json`` schema), the network's nodes and edges, the explainer's
own worked gradients (LaTeX and text), loss curves with their true minimum, prediction curves
and decision-boundary snapshots, and the limits that were enforced. Large runs are subsampled
within a size budget; the document says which iterations it keeps.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from backproplab import plots
from backproplab.explain import Explanation, RunExplainer, explain
from backproplab.losses import get_loss
from backproplab.report import array_norm, step_lines
from backproplab.tensor import Tensor
from backproplab.trace import Trace, scalar, to_json_value
from backproplab.web.network import network_of
from backproplab.web.samples import boundary, curve, curve_key, predictions, snapshot, snapshots
from backproplab.web.settings import LIMITS, Job, LessonError, Limits, Settings, load_job, to_toml

VERSION = 1
TRACE_BUDGET = 900_000  # bytes of trace iterations kept in a document
EXPLAIN_BUDGET = 600_000  # bytes of worked gradients an exported document holds
CLI_LINES = 1000  # iterations whose printed step lines an exported document holds
CURVE_PARAMS = 8  # loss curves for at most this many optimized single-number parameters


class _TimeUpError(Exception):
    pass


def train(job: Job, limits: Limits = LIMITS) -> Trace:
    """Run the job's optimizer, stopping with a clear message past the wall-time limit."""
    opt, _ = job.spec.optimizer(job.net)
    deadline = time.perf_counter() + limits.wall_seconds

    def check(_it: Any) -> None:
        if time.perf_counter() > deadline:
            raise _TimeUpError

    try:
        return opt.fit(job.net, job.x, job.y, loss=job.spec.training["loss"], callback=check)
    except _TimeUpError:
        raise LessonError(f"the run took longer than {limits.wall_seconds:g} s, this page's limit for one "
                          "run; lower max-steps or use 'backproplab run'", 413) from None


def kept_iterations(trace: Trace, budget: int = TRACE_BUDGET) -> list[int]:
    """0-based indices of the iterations a document keeps: all that fit the budget, else a
    subsample that always holds the first few and the last."""
    n = len(trace.iterations)
    if n == 0:
        return []
    size = len(json.dumps(trace.iterations[0].to_dict())) + 16
    most = max(8, budget // size)
    if n <= most:
        return list(range(n))
    head = list(range(min(5, n)))
    return sorted(set(head) | {int(i) for i in plots.subsample(n, most - len(head))})


def _plain(value: Any) -> Any:
    """``to_json_value`` with a fast path for finite floats and arrays (most of a long trace)."""
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and np.isfinite(value).all():
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return to_json_value(value)


def _norms(it: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """The length of each array parameter's gradient and step, worked out here so that the page shows
    the number the terminal shows (``dBCE/dW1: a (2, 16) array, norm 0.054``) and computes none."""
    out: dict[str, dict[str, Any]] = {"gradients": {}, "step_sizes": {}}
    for kind in out:
        for name in names:
            value = getattr(it, kind).get(name)
            if value is not None and np.ndim(value) > 0:
                out[kind][name] = _plain(array_norm(value))
    return out


def trace_dict(trace: Trace, keep: list[int]) -> dict[str, Any]:
    """The ``--json`` trace, with only the kept iterations, each saying its 1-based number and
    the new values its step gave."""
    if not keep:
        d = trace.to_dict()
        d["iterations_total"] = 0
        return d
    d = dataclasses.replace(trace, iterations=[trace.iterations[keep[0]]]).to_dict()
    fields = list(d["iterations"][0])  # the trace's own schema, read from its own writer
    iterations = []
    for i in keep:
        it = trace.iterations[i]
        row = {f: i + 1 if f == "iteration" else _plain(getattr(it, f)) for f in fields
               if f == "iteration" or hasattr(it, f)}
        if len(row) != len(fields):
            row = it.to_dict()
        row["iteration"] = i + 1
        row["new_values"] = {n: _plain(it.new_value(n)) for n in trace.optimize}
        row["norms"] = _norms(it, trace.optimize)
        iterations.append(row)
    d["iterations"] = iterations
    d["iterations_total"] = len(trace.iterations)
    return d


def _at(job: Job, params: dict[str, Any]) -> None:
    job.net.load_state_dict(params)


def _loss_tensor(job: Job, trace: Trace, requires: list[str] | None = None) -> Tensor:
    named = dict(job.net.named_parameters())
    for name, p in named.items():
        p.requires_grad = requires is None or name in requires
    return get_loss(trace.loss)(job.net(Tensor(job.x, name="x")), Tensor(job.y, name="y"))


def _worked(work: Callable[[], Explanation], optimized: bool) -> dict[str, Any]:
    """An explanation as the page shows it (LaTeX and text), or the reason there is none."""
    try:
        exp = work()
        return {"latex": exp.to_latex(), "text": exp.to_text(), "value": to_json_value(scalar(exp.gradient)),
                "optimized": optimized}
    except (ValueError, RecursionError) as exc:
        return {"error": str(exc.args[0] if exc.args else exc)}


def explanation(job: Job, trace: Trace, param: str, k: int, index: tuple[int, ...] | None = None) -> dict[str, Any]:
    """The explainer's own working of d loss / d param (or of one entry of a matrix, counted from 0)
    at iteration k (0-based): LaTeX and text."""
    it = trace.iterations[k]
    saved = {n: p.data.copy() for n, p in job.net.named_parameters()}
    optimized = param in trace.optimize

    def work() -> Explanation:
        _at(job, it.params)
        loss = _loss_tensor(job, trace)
        lr = step = None
        if optimized:  # the step the run took: the entry's own where an entry is explained
            lr, steps = trace.learning_rate, it.step_sizes[param]
            step = float(np.asarray(steps)[index]) if index is not None else scalar(steps)
        return explain(loss, job.net.parameter(param), lr=lr, step_rule=trace.optimizer, step=step, index=index)

    try:
        return _worked(work, optimized)
    finally:
        job.net.load_state_dict(saved)
        for _, p in job.net.named_parameters():
            p.requires_grad = True


def worked_gradients(job: Job, trace: Trace, names: list[str], order: list[int],
                     budget: int | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """:func:`explanation` of every one of ``names`` at the iterations ``order`` (0-based), in that order
    while the worked gradients fit ``budget`` bytes: each explanation's structure is built once and
    the iterations' numbers are filled in together (:class:`RunExplainer`), a growing batch at a time."""
    out: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in names}
    every = [n for n, _ in job.net.named_parameters()]
    try:
        plan = RunExplainer(trace, job.net, names, iterations=order[:16], requires_grad=every, moments=False)
    except (ValueError, RecursionError):  # no structure to share: one at a time, each with its own message
        plan = None
    used = 0
    for at, k in enumerate(order):
        if plan is not None and k not in plan.rows:
            plan.fill(order[at:at + len(plan.iterations)])  # twice as many each time: at most about twice those used
        for name in names:
            e = (_worked(partial(plan.explanation, name, k + 1), name in trace.optimize) if plan is not None
                 else explanation(job, trace, name, k))
            used += len(e.get("latex", "")) + len(e.get("text", ""))
            out[name][str(k + 1)] = e
        if budget is not None and used > budget:
            break
    return out


def _curve_params(job: Job, trace: Trace) -> list[str]:
    return [n for n in trace.optimize if job.net.parameter(n).data.ndim == 0][:CURVE_PARAMS]


def _curve_iterations(trace: Trace, keep: list[int], most: int) -> list[int]:
    """Where loss curves are drawn: once when the others stay fixed, else at snapshots."""
    if len(trace.optimize) == 1 or not trace.iterations:
        return [0]
    return snapshots(keep, most)


def cli_lines(trace: Trace, k: int) -> list[str]:
    """Iteration k's gradient → step size → new value, exactly as ``backproplab demo`` prints them."""
    return step_lines(trace, trace.iterations[k], 2)


def _explanation_order(keep: list[int], head: int = 10) -> list[int]:
    """Which iterations to work out first while the budget lasts: the first few, the last, then
    ever finer spread over the rest (halving the gaps), so a long run is covered from end to end."""
    order = keep[:head] + keep[-1:]
    rest = keep[head:-1]
    step = max(1, len(rest) // 2)
    while rest and step >= 1:
        order += [k for k in rest[::step] if k not in order]
        if step == 1:
            break
        step //= 2
    return list(dict.fromkeys(order))


def build(settings: Settings, *, limits: Limits = LIMITS, everything: bool = False) -> dict[str, Any]:
    """The lesson document for ``settings``.

    ``everything`` (for an exported file, which has no server to ask) includes worked gradients
    for every parameter at the kept iterations and loss curves at several iterations, within
    :data:`EXPLAIN_BUDGET`; otherwise the document holds the first iteration's and the page
    asks the server for the rest as they are needed.
    """
    job = load_job(settings, limits)
    start = {n: p.data.copy() for n, p in job.net.named_parameters()}
    trace = train(job, limits)
    job.net.load_state_dict(start)
    return document(job, trace, settings, limits=limits, everything=everything)


def document(job: Job, trace: Trace, settings: Settings, *, limits: Limits = LIMITS,
             everything: bool = False) -> dict[str, Any]:
    keep = kept_iterations(trace)
    names = [n for n, _ in job.net.named_parameters()]
    explanations: dict[str, dict[str, Any]] = {n: {} for n in names}
    curves: dict[str, list[dict[str, Any]]] = {}
    if trace.iterations:
        for name in _curve_params(job, trace)[:None if everything else 1]:
            curves[name] = [curve(job, trace, name, k) for k in _curve_iterations(trace, keep, 12 if everything else 1)]
        if not curves:  # only matrices: the first entry of the first one, as the page selects it at first
            name = trace.optimize[0]
            index = (0,) * job.net.parameter(name).data.ndim
            curves[curve_key(name, index)] = [curve(job, trace, name, k, index)
                                              for k in _curve_iterations(trace, keep, 4 if everything else 1)]
        if everything:
            explanations.update(worked_gradients(job, trace, names, _explanation_order(keep), EXPLAIN_BUDGET))
        else:
            explanations.update({n: {"1": explanation(job, trace, n, 0)} for n in trace.optimize})
    source = {"preset": settings.preset, "name": job.spec.name, "title": job.title, "spec_text": to_toml(job.raw),
              "kind": job.spec.network["kind"]}
    labels = {"x": job.preset.x_label, "y": job.preset.y_label}
    return {
        "version": VERSION,
        "source": source,
        "settings": {"preset": settings.preset, "lr": trace.learning_rate, "optimizer": trace.optimizer,
                     "optimize": list(trace.optimize), "min_step": job.spec.training["min_step"],
                     "max_steps": job.spec.training["max_steps"],
                     "start": {n: to_json_value(v) for n, v in
                               (trace.iterations[0].params if trace.iterations else {}).items()
                               if np.ndim(v) == 0}},
        "labels": labels,
        "trace": trace_dict(trace, keep),
        "losses": [to_json_value(v) for v in trace.losses()],
        "network": network_of(job),
        "explanations": explanations,
        "cli_lines": {str(k + 1): cli_lines(trace, k) for k in (keep[:CLI_LINES] if everything else keep[:1])},
        "explanations_complete": everything and all(
            str(k + 1) in explanations[n] for n in names for k in keep),
        "curves": curves,
        "predictions": predictions(job, trace, keep) if trace.iterations else None,
        "boundary": boundary(job, trace, keep) if trace.iterations else None,
        "limits": limits.to_dict(),
    }


def detail(settings: Settings, param: str, iteration: int, job_trace: tuple[Job, Trace] | None = None,
           limits: Limits = LIMITS, index: list[int] | None = None) -> dict[str, Any]:
    """One parameter at one iteration (1-based): its worked gradient, its loss curve there (for a
    matrix, the curve of the entry at ``index``, counted from 0), and the iteration's row of the
    trace with its prediction curve or decision boundary, which a page whose document does not keep
    that iteration puts in their places."""
    if job_trace is None:
        job = load_job(settings, limits)
        start = {n: p.data.copy() for n, p in job.net.named_parameters()}
        trace = train(job, limits)
        job.net.load_state_dict(start)
    else:
        job, trace = job_trace
    names = [n for n, _ in job.net.named_parameters()]
    if param not in names:
        raise LessonError(f"no parameter {param!r} in this network (it has {', '.join(names)})", 404)
    n = len(trace.iterations)
    if not 1 <= iteration <= n:
        raise LessonError(f"iteration {iteration} is not in this run; choose 1 to {n}", 404)
    shape = job.net.parameter(param).data.shape
    if index is not None and (len(index) != len(shape) or not all(0 <= i < n for i, n in zip(index, shape))):
        raise LessonError(f"{param} has shape {shape}; entry {[i + 1 for i in index]} is not in it", 404)
    out: dict[str, Any] = {"param": param, "iteration": iteration, "cli_lines": cli_lines(trace, iteration - 1),
                           "explanation": explanation(job, trace, param, iteration - 1),
                           "row": trace_dict(trace, [iteration - 1])["iterations"][0],
                           **snapshot(job, trace, iteration - 1)}
    if index is not None:  # the entry's own chain rule, beside the whole matrix's layer by layer
        out["entry"] = explanation(job, trace, param, iteration - 1, tuple(index))
        out["entry_key"] = curve_key(param, tuple(index))
    if param in trace.optimize and (job.net.parameter(param).data.ndim == 0 or index is not None):
        out["curve"] = curve(job, trace, param, iteration - 1, None if index is None else tuple(index))
        out["curve_key"] = curve_key(param, None if index is None else tuple(index))
    return out


def to_json(doc: dict[str, Any]) -> str:
    """Strict JSON (no NaN): non-finite numbers were already turned into null or strings."""
    return json.dumps(doc, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
