"""The lesson document: one JSON object that holds everything the lesson page shows.

The page draws only from this document, so the server, an exported file and a notebook can
never disagree: the trace (the ``--json`` schema), the network's nodes and edges, the explainer's
own worked gradients (LaTeX and text), loss curves with their true minimum, prediction curves
and decision-boundary snapshots, and the limits that were enforced. Large runs are subsampled
within a size budget; the document says which iterations it keeps.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import sys
import time
import zlib
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from backproplab import plots
from backproplab.engine.tensor import Tensor
from backproplab.explain import Explanation, RunExplainer, explain, forward_table
from backproplab.explain.article import ARTICLE, compared_with_article
from backproplab.explain.check import candidates
from backproplab.explain.check_answer import SAYS, STATUSES
from backproplab.explain.forward import output_columns, output_name
from backproplab.explain.steps import recorded_moments, run_moments
from backproplab.explain.terminal import array_norm, step_lines
from backproplab.explain.words import loss_symbol, method_name, option_name, stopped_sentence
from backproplab.lesson.network import network_of
from backproplab.lesson.samples import boundary, curve, curve_key, predictions, snapshot, snapshots
from backproplab.lesson.script import part_openings
from backproplab.lesson.settings import LIMITS, Job, LessonError, Limits, Settings, load_job, to_toml
from backproplab.nn.losses import get_loss
from backproplab.optim import OPTIMIZERS
from backproplab.plots.base import FigureError
from backproplab.plots.boundary import CLASS_COLOURS
from backproplab.plots.curves import MAX_COMPARED, RUN_STYLES, run_colour, run_label
from backproplab.spec.presets import PRESETS
from backproplab.train.trace import Iterations, Trace, scalar, single, to_json_value
from backproplab.util.numbers import number

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

VERSION = 1
TRACE_BUDGET = 900_000  # bytes of trace iterations kept in a document
EXPLAIN_BUDGET = 600_000  # bytes of worked gradients an exported document holds
CLI_LINES = 1000  # iterations whose printed step lines an exported document holds
CURVE_PARAMS = 8  # loss curves for at most this many single-number parameters (the optimized ones first)
FORWARD_BUDGET = 300_000  # bytes of forward-pass tables an exported document holds
CHECK_BUDGET = 300_000  # bytes of "check my working" lists (predict, then reveal) an exported document holds
CHECK_SAMPLES = 8  # the samples whose ŷ the lists hold (the page's samples table shows as many)
DOCUMENT_BUDGET = 1_950_000  # bytes an exported document stays under: the check lists take what the rest leaves
LINK_CHARS = 32_000  # the longest address a link to "your own network" may have; past it the page says so


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


def kept_iterations(trace: Trace, budget: int = TRACE_BUDGET, extra: int = 0) -> list[int]:
    """0-based indices of the iterations a document keeps: all that fit the budget, else a
    subsample that always holds the first few and the last. ``extra``: bytes each iteration
    carries beside its trace row (the gradients of the parameters the run does not train)."""
    n = len(trace.iterations)
    if n == 0:
        return []
    size = len(json.dumps(trace.iterations[0].to_dict())) + 16 + extra
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
            if value is not None and type(value) is not float and np.ndim(value) > 0:  # most are plain floats
                out[kind][name] = _plain(array_norm(value))
    return out


def trace_dict(trace: Trace, keep: list[int], held: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``--json`` trace, with only the kept iterations, each saying its 1-based number and
    the new values its step gave. ``held``: per iteration (0-based), the gradients of the parameters
    the run does not train, added to the row's gradients: the backward pass computes every one, and the
    page shows every one (only the step needs a parameter to be trained)."""
    if not keep:
        d = trace.to_dict()
        d["iterations_total"] = 0
        return d
    d = dataclasses.replace(trace, iterations=Iterations([trace.iterations[keep[0]]])).to_dict()
    fields = list(d["iterations"][0])  # the trace's own schema, read from its own writer
    iterations = []
    for i in keep:
        it = trace.iterations[i]
        row: dict[str, Any] = {f: i + 1 if f == "iteration" else _plain(getattr(it, f)) for f in fields
                               if f == "iteration" or hasattr(it, f)}
        if len(row) != len(fields):
            row = it.to_dict()
        row["iteration"] = i + 1
        if held and i in held:
            row["gradients"] = {**row["gradients"], **held[i]}
        row["new_values"] = {n: _plain(it.new_value(n)) for n in trace.optimize}
        row["norms"] = _norms(it, trace.optimize)
        row["announce"] = announcements(trace, it, i + 1, row=row)
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


def held_names(job: Job, trace: Trace) -> list[str]:
    """The parameters the run holds fixed (not trained): they still have gradients."""
    return [n for n, _ in job.net.named_parameters() if n not in trace.optimize]


def held_gradients(job: Job, trace: Trace, ks: list[int]) -> dict[int, dict[str, Any]]:
    """The gradients of the parameters the run does not train, at iterations ``ks`` (0-based), from one
    backward pass each: the trace records only the trained ones, and the page shows them all."""
    held = held_names(job, trace)
    if not held or not trace.iterations:
        return {}
    saved = {n: p.data.copy() for n, p in job.net.named_parameters()}
    out: dict[int, dict[str, Any]] = {}
    try:
        with np.errstate(all="ignore"):
            for k in ks:
                _at(job, trace.iterations[k].params)
                for name in held:
                    job.net.parameter(name).grad = None
                _loss_tensor(job, trace, held).backward()
                out[k] = {n: _plain(np.asarray(job.net.parameter(n)._grad, dtype=float)) for n in held}
    finally:
        job.net.load_state_dict(saved)
        for _, p in job.net.named_parameters():
            p.requires_grad = True
            p.grad = None
    return out


def _held_size(job: Job, trace: Trace) -> int:
    """About how many bytes the held parameters' gradients add to one iteration of the document."""
    return sum(20 * job.net.parameter(n).data.size + len(n) + 4 for n in held_names(job, trace))


def output_column(job: Job, trace: Trace) -> dict[str, str]:
    """What the samples table calls the network's output, as the terminal's samples table calls it
    (``output_columns``): ŷ_i for a prediction, ``z3_i (logit)`` for a classifier's output, with the
    sentence that says where its probability is shown."""
    logit = output_columns(trace.loss, trace.iterations[0].predictions, output_name(job.net, job.x))
    note = ""
    if logit[0].kind == "logit":
        note = (f"{logit[0].text.split(' ')[0]} is the network's output before the squashing, a logit, not a "
                f"prediction: the forward pass tab shows {logit[1].text}.")
    return {"x": "x_i", "y": "y_i", "output": logit[0].text, "note": note}


def forward_view(job: Job, trace: Trace, k: int, digits: int = 2) -> dict[str, Any]:
    """Iteration k's (0-based) forward pass as ``backproplab forward`` prints it: the header (symbol and
    formula), the rows and the lines under the table, all written by the same Python; the page lays them out."""
    saved = {n: p.data.copy() for n, p in job.net.named_parameters()}
    try:
        _at(job, trace.iterations[k].params)
        with np.errstate(all="ignore"):
            table = forward_table(job.net, job.x, job.y, trace.loss, digits=digits)
    finally:
        job.net.load_state_dict(saved)
    out: dict[str, Any] = {"iteration": k + 1, "header": [], "rows": [], "lines": [], "notes": [], "intro": ""}
    for block in table.blocks:
        if block.kind == "table":
            out["header"] = [cell.text.split("\n") for cell in block.header]
            out["rows"] = [[cell.text for cell in row] for row in block.rows]
        elif block.kind == "lines":
            out["lines"] = [line.text for line in block.lines]
        elif block.kind == "note":
            out["notes"].append(_words(block.parts))
        elif block.kind == "para":
            out["intro"] = _words(block.parts)
    return out


def _words(parts: list[Any]) -> str:
    """A paragraph's words and formulas as plain text."""
    return "".join(p if isinstance(p, str) else p.text for p in parts)


def forward_views(job: Job, trace: Trace, order: list[int], budget: int) -> dict[str, dict[str, Any]]:
    """:func:`forward_view` at the iterations ``order`` (0-based) while they fit ``budget`` bytes."""
    out: dict[str, dict[str, Any]] = {}
    used = 0
    for k in order:
        view = forward_view(job, trace, k)
        used += len(json.dumps(view, ensure_ascii=False))
        if used > budget and out:
            break
        out[str(k + 1)] = view
    return out


def check_list(job: Job, trace: Trace, iteration: int) -> list[dict[str, Any]] | None:
    """Iteration ``iteration``'s (1-based) checkable quantities as ``bl.check`` compares with them: each with its
    exact value, how it is shown, its right line, and the values rounded inputs and the common mistakes give.
    The page only compares a typed number with these and shows their words. None where the run's numbers
    cannot be checked by hand (``candidates`` says why)."""
    try:
        listed = candidates(trace, iteration, job.net)
    except ValueError:  # an InputError too: a network whose working has no hand check
        return None
    return to_json_value([q.to_dict() for q in listed if not _later_sample(q.key)])


def _later_sample(key: str) -> bool:
    """A ŷ past the samples the page shows (bl.check checks every one; the page only the first few)."""
    return key.startswith("yhat") and key[4:].isdigit() and int(key[4:]) > CHECK_SAMPLES


def check_lists(job: Job, trace: Trace, order: list[int], budget: int) -> dict[str, list[dict[str, Any]]]:
    """:func:`check_list` at the iterations ``order`` (0-based) while they fit ``budget`` bytes."""
    out: dict[str, list[dict[str, Any]]] = {}
    used = 0
    for k in order:
        listed = check_list(job, trace, k + 1)
        if listed is None:
            break  # the same network at every iteration: none can be checked
        used += len(json.dumps(listed, ensure_ascii=False))
        if used > budget and out:
            break
        out[str(k + 1)] = listed
    return out


def prediction_range(trace: Trace, preds: dict[str, Any]) -> list[float] | None:
    """The predictions chart's y-range, the same at every iteration (so a step is seen as the curve moving,
    not the axis): the targets, every iteration's predictions and the kept curves; values past 1e6 (a
    diverging run) are left out, as the chart clips them."""
    parts = [np.asarray(trace.targets, dtype=float).ravel()]
    parts += [np.asarray(it.predictions, dtype=float).ravel() for it in trace.iterations]
    parts += [np.asarray([v for v in c if isinstance(v, (int, float))], dtype=float) for c in preds["curves"]]
    values = np.concatenate(parts) if parts else np.zeros(0)
    values = values[np.isfinite(values) & (np.abs(values) < 1e6)]
    if not values.size:
        return None
    lo, hi = float(values.min()), float(values.max())
    return [lo - 1.0, hi + 1.0] if hi - lo < 1e-12 else [lo, hi]


def command_line(job: Job, settings: Settings) -> dict[str, str]:
    """The command that prints the page's view in a terminal, with {param} and {iteration} for the page to
    fill in: the preset with the flags the page changed, or the spec as "download spec" saves it."""
    flags = ""
    source = settings.preset or "statquest"
    own_optimizer = settings.optimizer not in (None, _preset_optimizer(source))
    if settings.spec_text is None and not own_optimizer and not settings.start:
        if settings.lr is not None:
            flags += f" --lr {settings.lr:g}"
        if settings.optimize is not None:
            flags += " --optimize " + ("all" if settings.optimize == "all" else ",".join(settings.optimize))
        if settings.max_steps is not None:
            flags += f" --max-steps {settings.max_steps}"
        if settings.min_step is not None:
            flags += f" --min-step {settings.min_step:g}"
        note = ""
    else:
        source = f"{job.spec.name or 'lesson'}.toml"
        note = f"{source} is this run's spec as \u201cdownload spec\u201d saves it, with the page's settings in it."
    return {"lead": "The same working in a terminal: ",
            "template": f"backproplab explain {source} --param {{param}} --iteration {{iteration}}{flags}",
            "entry": " --index {entry}", "note": note}


def _preset_optimizer(name: str) -> str:
    """The optimizer a preset's own spec names (a page sends its choice even where it is the same)."""
    preset = PRESETS.get(name)
    training = tomllib.loads(preset.text).get("training", {}) if preset is not None else {}
    return str(training.get("optimizer", {}).get("name", "gradient_descent"))


def _article_rows() -> list[dict[str, Any]]:
    """The article's numbers beside the exact ones, and why they differ (the dosage example's guide)."""
    return [{"what": r["what"], "article": r["article"], "exact": r["exact_text"], "why": r["why"],
             "verdict": r["verdict"]} for r in compared_with_article()]


def guide(job: Job, trace: Trace, settings: Settings, held: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A few sentences that introduce the page: what the example is, what to press first, and where to
    look; for the dosage example, the article's parts in its order. Each step may name the control it is
    about (an element id on the page)."""
    sym = loss_symbol(trace.loss)
    steps: list[dict[str, str]] = []
    if settings.preset == "statquest" and settings.spec_text is None and trace.iterations:
        steps = part_openings(_script_context(job, trace, held))  # the wording is the shipped scripts' own
    if not steps:
        steps = [
            {"text": f"Press \u2192 (or the step button) to take one step ({method_name(trace.optimizer)}); "
                     "space plays the run.", "control": "step"},
            {"text": "Click a weight or bias in the network for its chain rule at this iteration.",
             "control": "network"},
            {"text": f"The pink curve is {sym} against the chosen parameter, the others held.", "control": "param"},
            {"text": "The table's \u201cforward pass\u201d tab shows every node, sample by sample.",
             "control": "tab-forward"},
        ]
    article = _article_rows() if settings.preset == "statquest" and settings.spec_text is None else []
    lead = next((s["text"] for s in steps if s.get("control") == "step"), steps[0]["text"])
    return {"title": job.title, "lead": lead, "steps": steps, "command": command_line(job, settings),
            "article": article,
            "article_title": ARTICLE if article else "",
            "article_columns": ["what", "the article", "exact", "why they differ", "checked"],
            "article_keys": ["what", "article", "exact", "why", "verdict"],
            "forward_missing": "This file holds the forward pass at some iterations (a size budget); iteration "
                               "{iteration} is not among them. 'backproplab forward --iteration {iteration}' or "
                               "'backproplab serve' works out any iteration."}


def _script_context(job: Job, trace: Trace, held: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """What a lesson script's captions are filled in from (:func:`backproplab.lesson.script.context`), for the
    first iteration: the guide's steps are the first steps of the shipped scripts."""
    row = trace_dict(trace, [0], held)["iterations"][0]
    return {"params": [n for n, _ in job.net.named_parameters()], "nodes": [], "rows": {1: row},
            "last": len(trace.iterations), "symbol": loss_symbol(trace.loss), "lr": trace.learning_rate}


def link_texts() -> dict[str, Any]:
    """The limit of a link to "your own network" and what the page says about it."""
    return {
        "max_chars": LINK_CHARS,
        "note": f"A link to this page (its address) carries your spec, its data and the settings, compressed: "
                f"up to {LINK_CHARS:,} characters. A larger run cannot travel in a link; \u201cdownload spec\u201d "
                "keeps it.",
        "too_large": f"This run is too large for a link: its address would be {{chars}} characters, more than "
                     f"{LINK_CHARS:,}. A link or a reload will not bring it back; \u201cdownload spec\u201d keeps it.",
        "opened_too_large": "This link was made from your own network, which was too large to travel in a link; "
                            "the page shows the built-in example instead. Ask for the spec file.",
        "unreadable": "This link's own network cannot be read (the address may have been cut short); the page "
                      "shows the built-in example instead.",
    }


def link_code(settings: dict[str, Any]) -> str:
    """The settings as a link carries them (the page's packSettings): JSON, deflate-raw, base64url."""
    pack = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = pack.compress(json.dumps(settings, ensure_ascii=False).encode("utf-8")) + pack.flush()
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def read_link(code: str) -> dict[str, Any]:
    """The settings a link to "your own network" carries (what the page's unpackSettings reads)."""
    data = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
    return json.loads(zlib.decompress(data, -15).decode("utf-8"))


def _worked(work: Callable[[], Explanation], optimized: bool) -> dict[str, Any]:
    """An explanation as the page shows it (LaTeX and text), or the reason there is none."""
    try:
        exp = work()
        out = {"latex": exp.to_latex(), "text": exp.to_text(), "value": to_json_value(scalar(exp.gradient)),
               "optimized": optimized}
        if exp.differs_with_exact_factors():  # the page's "exact factors" switch shows this form
            out["exact_factors"] = {"latex": exp.to_latex(factors="exact"), "text": exp.to_text(factors="exact")}
        return out
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
        moments = recorded_moments(trace, param, k, index) if optimized else None  # Adam's line with its numbers
        return explain(loss, job.net.parameter(param), lr=lr, step_rule=trace.optimizer, step=step, index=index,
                       moments=moments)

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
        plan = RunExplainer(trace, job.net, names, iterations=order[:16], requires_grad=every)
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
            used += sum(map(len, e.get("exact_factors", {}).values()))  # the page's other form of the same working
            out[name][str(k + 1)] = e
        if budget is not None and used > budget:
            break
    return out


PLAN_BLOCK = 16  # iterations filled in together: the next steps' numbers come with the first
PLAN_ROWS = 128  # iterations one kept structure holds numbers for; past them it starts afresh (memory stays flat)


def _plan(job: Job, trace: Trace, k: int) -> RunExplainer | None:
    """The run's :class:`RunExplainer` with iteration k's (0-based) numbers filled in, made once and kept
    with the run's job, so the server lets it go with the run (None: no structure to share, so each
    explanation is worked out afresh)."""
    start = k - k % PLAN_BLOCK
    block = range(start, min(start + PLAN_BLOCK, len(trace.iterations)))
    kept = getattr(job, "kept", None)  # a job made outside the page keeps nothing
    held = kept.get("plan") if kept is not None else None
    if held is not None and held[0] is trace:
        plan = held[1]
        if plan is None or k in plan.rows:
            return plan
        if len(plan.rows) < PLAN_ROWS:
            plan.fill(block)
            return plan
    every = [n for n, _ in job.net.named_parameters()]
    try:
        plan = RunExplainer(trace, job.net, list(trace.optimize) or every[:1], iterations=block, requires_grad=every)
    except (ValueError, RecursionError):
        plan = None
    if kept is not None:
        kept["plan"] = (trace, plan)
    return plan


def worked(job: Job, trace: Trace, param: str, k: int, index: tuple[int, ...] | None = None) -> dict[str, Any]:
    """:func:`explanation`, string for string, from the run's kept structure: a page stepping through a
    run (or asking for another parameter) waits for the numbers of one iteration, not for a new graph."""
    plan = _plan(job, trace, k)
    if plan is None:
        return explanation(job, trace, param, k, index)
    return _worked(partial(plan.explanation, param, k + 1, index), param in trace.optimize)


def _curve_params(job: Job, trace: Trace) -> list[str]:
    """The single-number parameters with a loss curve in the document: the trained ones first, then the
    held ones (a slice needs no training; only the numbered steps do)."""
    names = [n for n, _ in job.net.named_parameters() if job.net.parameter(n).data.ndim == 0]
    return sorted(names, key=lambda n: n not in trace.optimize)[:CURVE_PARAMS]


def _curve_iterations(trace: Trace, keep: list[int], most: int, name: str) -> list[int]:
    """Where a loss curve is drawn: once when ``name`` is the only parameter that moves (the others stay
    fixed), else at snapshots."""
    if list(trace.optimize) == [name] or not trace.iterations:
        return [0]
    return snapshots(keep, most)


def cli_lines(trace: Trace, k: int, moments: dict[str, list] | None = None) -> list[str]:
    """Iteration k's gradient → step size → new value, exactly as ``backproplab demo`` prints them
    (Adam's step with its m̂ and v̂: ``moments`` as :func:`run_moments` gives them, else worked out here)."""
    if moments is None and trace.optimizer == "adam":
        moments = {n: [None] * k + [recorded_moments(trace, n, k)] for n in trace.optimize}
    return step_lines(trace, trace.iterations[k], 2, moments)


def _cli_lines_at(trace: Trace, ks: list[int]) -> dict[str, list[str]]:
    """:func:`cli_lines` of several iterations (0-based), keyed by their 1-based number; Adam's moments are
    worked out once for the whole run, not once per iteration (for one iteration, from the run's start up to it)."""
    if len(ks) <= 1:
        return {str(k + 1): cli_lines(trace, k) for k in ks}
    moments = {n: run_moments(trace, n) for n in trace.optimize} if ks else {}
    return {str(k + 1): cli_lines(trace, k, moments) for k in ks}


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
    job, trace = run(settings, limits)
    return document(job, trace, settings, limits=limits, everything=everything)


def run(settings: Settings, limits: Limits = LIMITS) -> tuple[Job, Trace]:
    """The settings' network trained, then put back at its starting values, from which every
    iteration is explained."""
    job = load_job(settings, limits)
    start = {n: p.data.copy() for n, p in job.net.named_parameters()}
    trace = train(job, limits)
    job.net.load_state_dict(start)
    return job, trace


def document(job: Job, trace: Trace, settings: Settings, *, limits: Limits = LIMITS,
             everything: bool = False) -> dict[str, Any]:
    """The lesson document of a run already trained (see :func:`build`)."""
    doc, order = _document(job, trace, settings, limits, everything)
    if everything:  # a served page asks for an iteration's lists when it needs them (detail's ``check``)
        room = min(CHECK_BUDGET, DOCUMENT_BUDGET - len(to_json(doc).encode("utf-8")))
        doc["check"] = check_lists(job, trace, order, room)
    return doc


def _document(job: Job, trace: Trace, settings: Settings, limits: Limits,
              everything: bool) -> tuple[dict[str, Any], list[int]]:
    """The document but its check lists, and the order its iterations are worked out in."""
    keep = kept_iterations(trace, extra=_held_size(job, trace))
    held = held_gradients(job, trace, keep)
    order = _explanation_order(keep)
    names = [n for n, _ in job.net.named_parameters()]
    explanations = _explanations(job, trace, names, order, everything)
    source = {"preset": settings.preset, "name": job.spec.name, "title": job.title, "spec_text": to_toml(job.raw),
              "kind": job.spec.network["kind"]}
    forward = (forward_views(job, trace, order, FORWARD_BUDGET if everything else 0) if trace.iterations else {})
    return {
        "version": VERSION,
        "source": source,
        "settings": _settings_shown(job, trace, settings),
        "labels": {"x": job.preset.x_label, "y": job.preset.y_label},
        "trace": trace_dict(trace, keep, held),
        "losses": [to_json_value(v) for v in trace.losses()],
        "network": network_of(job),
        "explanations": explanations,
        "cli_lines": _cli_lines_at(trace, keep[:CLI_LINES] if everything else keep[:1]),
        "explanations_complete": everything and all(
            str(k + 1) in explanations[n] for n in names for k in keep),
        "curves": _curves(job, trace, keep, everything),
        "predictions": _predictions(job, trace, keep),
        "boundary": boundary(job, trace, keep) if trace.iterations else None,
        "limits": limits.to_dict(),
        "columns": output_column(job, trace) if trace.iterations else None,
        "forward": forward,
        "check": {},
        "guide": guide(job, trace, settings, held),
        "link": link_texts(),
        "words": words(trace),
        "choices": choices(),
        "colours": colours(),
        "compare": compare_texts(trace),
    }, order


def _settings_shown(job: Job, trace: Trace, settings: Settings) -> dict[str, Any]:
    """The run's settings as the page's controls show them: the values the run used, not only those asked."""
    first = trace.iterations[0].params if trace.iterations else {}
    return {"preset": settings.preset, "lr": trace.learning_rate, "optimizer": trace.optimizer,
            "optimize": list(trace.optimize), "min_step": job.spec.training["min_step"],
            "max_steps": job.spec.training["max_steps"],
            "start": {n: to_json_value(v) for n, v in first.items() if np.ndim(v) == 0}}


def _curves(job: Job, trace: Trace, keep: list[int], everything: bool) -> dict[str, list[dict[str, Any]]]:
    """The loss curves a document holds: of the first single-number parameter (of each, for an exported file),
    else of the first entry of the first matrix, as the page selects it at first."""
    curves: dict[str, list[dict[str, Any]]] = {}
    if not trace.iterations:
        return curves
    for name in _curve_params(job, trace)[:None if everything else 1]:
        ks = _curve_iterations(trace, keep, 12 if everything else 1, name)
        curves[name] = [curve(job, trace, name, k) for k in ks]
    if not curves:
        name = trace.optimize[0]
        index = (0,) * job.net.parameter(name).data.ndim
        curves[curve_key(name, index)] = [curve(job, trace, name, k, index)
                                          for k in _curve_iterations(trace, keep, 4 if everything else 1, name)]
    return curves


def _explanations(job: Job, trace: Trace, names: list[str], order: list[int],
                  everything: bool) -> dict[str, dict[str, Any]]:
    """The worked gradients a document holds: every one that fits the budget (an exported file), else the first
    iteration's of the trained parameters and of the entry the page selects first, shown without a request."""
    out: dict[str, dict[str, Any]] = {n: {} for n in names}
    if not trace.iterations:
        return out
    if everything:
        out.update(worked_gradients(job, trace, names, order, EXPLAIN_BUDGET))
        return out
    out.update({n: {"1": worked(job, trace, n, 0)} for n in trace.optimize})
    first = (trace.optimize or names)[0]
    if job.net.parameter(first).data.ndim:
        index = (0,) * job.net.parameter(first).data.ndim
        out[curve_key(first, index)] = {"1": worked(job, trace, first, 0, index)}
    return out


def _predictions(job: Job, trace: Trace, keep: list[int]) -> dict[str, Any] | None:
    """The prediction curves at the kept iterations, with the chart's fixed y-range."""
    if not trace.iterations:
        return None
    preds = predictions(job, trace, keep)
    if preds is not None:
        preds["y_range"] = prediction_range(trace, preds)
        preds["residuals"] = trace.loss in ("ssr", "mse")  # y − ŷ means something where the loss is built on it
    return preds


def detail(settings: Settings, param: str, iteration: int, job_trace: tuple[Job, Trace] | None = None,
           limits: Limits = LIMITS, index: list[int] | None = None, check: bool = False) -> dict[str, Any]:
    """One parameter at one iteration (1-based): its worked gradient, its loss curve there (for a
    matrix, the curve of the entry at ``index``, counted from 0), and the iteration's row of the
    trace with its prediction curve or decision boundary, which a page whose document does not keep
    that iteration puts in their places."""
    job, trace = run(settings, limits) if job_trace is None else job_trace
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
                           "explanation": worked(job, trace, param, iteration - 1),
                           "row": trace_dict(trace, [iteration - 1],
                                             held_gradients(job, trace, [iteration - 1]))["iterations"][0],
                           "forward": forward_view(job, trace, iteration - 1),
                           **snapshot(job, trace, iteration - 1)}
    if check:  # "check my working": asked for by a page that predicts or checks (it takes longer than the rest)
        out["check"] = check_list(job, trace, iteration)
    if index is not None:  # the entry's own chain rule, beside the whole matrix's layer by layer
        out["entry"] = worked(job, trace, param, iteration - 1, tuple(index))
        out["entry_key"] = curve_key(param, tuple(index))
    if job.net.parameter(param).data.ndim == 0 or index is not None:  # any parameter's slice: no training needed
        out["curve"] = curve(job, trace, param, iteration - 1, None if index is None else tuple(index))
        out["curve_key"] = curve_key(param, None if index is None else tuple(index))
    return out


def to_json(doc: dict[str, Any]) -> str:
    """Strict JSON (no NaN): non-finite numbers were already turned into null or strings."""
    return json.dumps(doc, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


# --- what the page says and paints with, from Python: the one short line a screen reader hears on each step,
# and the colours the figures use too

def announcements(trace: Trace, it: Any, k: int, digits: int = 2, row: dict[str, Any] | None = None) -> dict[str, str]:
    """For each trained parameter, the line a screen reader announces at iteration k (1-based): the
    gradient, the step and the new value ("iteration 3: gradient −2.50, step −0.25, new b3 2.44");
    for an array, their norms. Only this line, not the whole derivation, goes to the live region.
    ``row``: the iteration's row of :func:`trace_dict`, whose plain numbers (new values, norms) are used
    where it has them, so that a long run's lines cost little more than their formatting."""
    out = {}
    for name in trace.optimize:
        plain = _announced(row, name, k, digits) if row is not None else None
        if plain is not None:
            out[name] = plain
            continue
        g, s = it.gradients.get(name), it.step_sizes.get(name)
        if g is None or s is None:
            out[name] = f"iteration {k}: {loss_symbol(trace.loss)} {number(single(it.loss), digits)}"
        elif np.ndim(g) == 0:
            out[name] = _step_line(k, name, single(g), single(s), single(it.new_value(name)), digits)
        else:
            out[name] = _norm_line(k, name, array_norm(g), array_norm(s), digits)
    return out


def _step_line(k: int, name: str, gradient: float, step: float, new: float, digits: int) -> str:
    return (f"iteration {k}: gradient {number(gradient, digits)}, step {number(step, digits)}, "
            f"new {name} {number(new, digits)}")


def _norm_line(k: int, name: str, gradient_norm: float, step_norm: float, digits: int) -> str:
    return (f"iteration {k}: {name}'s gradient norm {number(gradient_norm, digits)}, "
            f"step norm {number(step_norm, digits)}")


def _announced(row: dict[str, Any], name: str, k: int, digits: int) -> str | None:
    """The announcement of ``name`` from a row's finite plain floats (as :func:`_plain` left them), or None
    where the row does not hold them so (a missing or non-finite number: worked out from the trace)."""
    grads, steps = row.get("gradients") or {}, row.get("step_sizes") or {}
    g, s = grads.get(name), steps.get(name)
    if type(g) is float and type(s) is float:
        new = (row.get("new_values") or {}).get(name)
        return _step_line(k, name, g, s, new, digits) if type(new) is float else None
    norms = row.get("norms") or {}
    gn, sn = norms.get("gradients", {}).get(name), norms.get("step_sizes", {}).get(name)
    if isinstance(g, list) and isinstance(s, list) and type(gn) is float and type(sn) is float:
        return _norm_line(k, name, gn, sn, digits)
    return None


def words(trace: Trace) -> dict[str, Any]:
    """The run's words that the page shows as they are: the loss's name and symbol, the optimizer's name, the
    rule under the steps table, and where the run stopped (the terminal's sentence) with the banner a diverged
    run shows."""
    sym = loss_symbol(trace.loss)
    final = trace.final
    if trace.optimizer == "gradient_descent":
        lr = f"{trace.learning_rate:g}".replace("-", "\u2212")
        rule = (f"gradient = d{sym}/d\u03b8; step size = gradient \u00d7 {lr} (the learning rate); "
                "new value = value \u2212 step size")
    else:
        rule = (f"gradient = d{sym}/d\u03b8; {method_name(trace.optimizer)}'s step size comes from its running "
                "averages; new value = value \u2212 step size")
    diverged = ""
    if final is not None and final.stopped_by == "diverged":
        diverged = (f"The run diverged: {final.message} The {len(trace.iterations)} steps before it stay "
                    "playable.")
    return {"loss": {"name": trace.loss, "symbol": sym}, "optimizer": method_name(trace.optimizer),
            "rule": rule, "stopped": stopped_sentence(final) if final is not None else "", "diverged": diverged,
            "check": dict(STATUSES), "check_says": SAYS}


def choices() -> dict[str, list[dict[str, str]]]:
    """The page's lists to choose from, with the names they show: the built-in examples and the optimizers."""
    return {"presets": [{"value": name, "label": name} for name in PRESETS],
            "optimizers": [{"value": name, "label": option_name(name)} for name in OPTIMIZERS]}


def colours() -> dict[str, str]:
    """The page's colours, the figures' own: the loss curve is pink, the new predictions green, the
    tangent and the loss per iteration blue, the steps vermillion, and a decision boundary's two classes
    as the boundary figure colours them."""
    return {"pink": plots.PINK, "green": plots.GREEN, "blue": plots.OKABE_ITO["blue"],
            "vermillion": plots.OKABE_ITO["vermillion"], "class0": CLASS_COLOURS[0], "class1": CLASS_COLOURS[1]}


def run_name(trace: Trace) -> dict[str, Any]:
    """The parts a run is named by when runs are drawn together (the figures' own words): its method, its
    learning rate, and the starting value of each single-number parameter it trains."""
    scalars = [n for n in trace.optimize if trace.iterations and np.ndim(trace.iterations[0].params[n]) == 0]
    first = scalars[0] if scalars else (trace.optimize[0] if trace.optimize else "")
    try:
        method, lr = (run_label(trace, first, (part,)) for part in ("method", "lr"))
    except FigureError:  # no single-number parameter: the method and rate are still the run's own
        method, lr = method_name(trace.optimizer), f"lr = {trace.learning_rate:g}"
    return {"method": method, "lr": lr, "start": {n: run_label(trace, n, ("start",)) for n in scalars}}


def compare_texts(trace: Trace) -> dict[str, Any]:
    """What the page needs to draw this run beside others: the figures' colour and marker of each run in
    order (the shown run first), how many runs it draws at most, and this run's name parts."""
    count = MAX_COMPARED
    return {"colours": [run_colour(k) for k in range(count)],
            "markers": [RUN_STYLES[k][1] for k in range(count)], "most": count, "name": run_name(trace)}
