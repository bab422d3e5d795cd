"""A printable handout of a run: the forward pass, the loss curve, each iteration's chain rule and step.

The handout is built from the same run, explainer and figures as the lesson page, so no number on
paper can differ from the page's or the terminal's. It is one list of sections, rendered three ways
(PDF through Typst, HTML with KaTeX run at build time, Markdown). A worksheet is the same pages with a
box wherever an answer goes, and a key is the same pages with the answers marked: both come from one
list of :class:`Blank` (see :func:`blanks`), which a later "predict, then check" step can reuse as it is.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backproplab.engine.tensor import Tensor
from backproplab.explain import Explanation, RunExplainer, explain, forward_table
from backproplab.explain.article import compared_with_article
from backproplab.explain.document import Block, Math
from backproplab.explain.steps import recorded_moments
from backproplab.explain.symbols import fmt_number
from backproplab.lesson.document import run
from backproplab.lesson.settings import Job, LessonError, Settings
from backproplab.nn.losses import get_loss
from backproplab.plots import figures
from backproplab.train.trace import Trace

KINDS = ("handout", "worksheet", "key")
"""What a handout can be: everything worked out, boxes to fill in, or the boxes filled in and marked."""


class HandoutError(LessonError):
    """A handout that cannot be made as asked (an iteration not in the run, an unknown parameter): one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400)


@dataclass(frozen=True)
class Blank:
    """One answer a learner writes in a box: where it goes, what it is, and its value as the page shows it."""

    key: str  # unique, stable: "forward.1.yhat.2", "it2.b3.gradient"
    label: str  # in words: "ŷ for sample 2 at iteration 1"
    value: float  # the engine's exact value
    shown: str  # as the explainer prints it (2 decimals, Unicode minus)
    latex: str  # as the explainer typesets it
    lhs: Math | None = None  # what the box stands for in a line of working ("step size"), if it is one


@dataclass
class Figure:
    """A figure as SVG; the worksheet shows ``blank_svg`` instead (the figure without its answers), or where
    there is none, an empty frame to sketch in, with ``blank_caption``."""

    name: str  # a file name: "network.svg"
    svg: bytes
    caption: str
    blank_svg: bytes | None = None
    blank_caption: str = ""
    width: int = 78  # percent of the text's width on paper


@dataclass
class Answers:
    """Lines ``lhs = box``: the answers of one piece of working, each a key into the blanks."""

    keys: list[str]


@dataclass
class Working:
    """Lines with the numbers worked out: in the handout and the key, left out of the worksheet."""

    blocks: list[Block]


@dataclass
class Section:
    title: str
    items: list[Any] = field(default_factory=list)  # Block, Figure, Table, Working or Answers
    new_page: bool = False  # print this section from the top of a page
    on_worksheet: bool = True  # False: it gives answers away, so the worksheet leaves it out


@dataclass
class Table:
    """A table whose cells may be blanks: each cell is a Math or a blank's key."""

    header: list[Math]
    rows: list[list[Math | str]]
    words: bool = False  # cells are words, set as text (the article's table), not as maths

    def lines(self) -> list[list[Math | str]]:
        """The header, then the rows."""
        return [list(self.header), *self.rows]


@dataclass
class Handout:
    title: str
    subtitle: str
    sections: list[Section]
    blanks: dict[str, Blank]
    iterations: list[int] = field(default_factory=list)  # worked out, 1-based
    params: list[str] = field(default_factory=list)  # worked out: the first has Part 3's steps


def parse_iterations(text: str, last: int) -> list[int]:
    """``"1-3"``, ``"2"`` or ``"1,3,5"`` as 1-based iterations, each checked against the run's ``last``."""
    out: list[int] = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise HandoutError(f"--iterations {text!r} is not a list such as 1-3 or 1,2,5")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo > hi or lo < 1 or hi > last:
            raise HandoutError(f"iteration {hi if lo >= 1 else lo} is not in this run; choose iterations from 1 to "
                               f"{last}")
        out += [k for k in range(lo, hi + 1) if k not in out]
    return out


Entry = tuple[str, "tuple[int, ...] | None"]  # a parameter, and for a matrix the entry (counted from 0)


def check_params(job: Job, params: list[str] | None, trace: Trace) -> dict[str, Entry]:
    """The parameters to work out (default: the trained ones), by label: ``b3``, or a matrix's entry
    ``W1[2,1]`` (counted from 1; a matrix named alone is its first entry)."""
    names = [n for n, _ in job.net.named_parameters()]
    chosen = list(params) if params else list(trace.optimize) or names[:1]
    out: dict[str, Entry] = {}
    for label in chosen:
        m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\[\s*([0-9,\s]+)\])?\s*", label)
        if not m or m.group(1) not in names:
            raise HandoutError(f"no parameter {label!r} in this network; choose from {', '.join(names)}")
        name, shape = m.group(1), job.net.parameter(m.group(1)).data.shape
        index = tuple(int(i) - 1 for i in m.group(2).split(",") if i.strip()) if m.group(2) else None
        if index is None and shape:
            index = (0,) * len(shape)
        if index is not None and (len(index) != len(shape) or not all(0 <= i < n for i, n in zip(index, shape))):
            raise HandoutError(f"{label} is not an entry of {name}, which has shape {tuple(shape)}; entries count "
                               "from 1")
        out[name if index is None else f"{name}[{','.join(str(i + 1) for i in index)}]"] = (name, index)
    return out


def _svg(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()


def _figure(job: Job, trace: Trace, kind: str, name: str, caption: str, **options: Any) -> Figure | None:
    """One of the page's figures as SVG, or None where the network has none of that kind (a 2-D input)."""
    try:
        svg = _svg(figures.one(job.preset, job.net, trace, kind, **options))
        return Figure(name, svg, caption, blank_svg=svg)  # the same on the worksheet, unless said otherwise
    except (ValueError, LessonError, figures.FigureError):
        return None


def _number(value: float, digits: int) -> tuple[str, str]:
    return fmt_number(value, digits, "text"), fmt_number(value, digits, "latex")


def forward_part(job: Job, trace: Trace, k: int, digits: int, found: dict[str, Blank]) -> Section:
    """Part 1: the network and its forward pass at iteration ``k``, every computed cell a blank."""
    job.net.load_state_dict(trace.iterations[k - 1].params)
    table = forward_table(job.net, job.x, job.y, job.loss, digits=digits)
    columns = table.details["columns"]
    cols = [None, *columns]  # the table's first column counts the samples
    givens = {i for i, c in enumerate(cols) if c is None or c["formula"] is None}  # the sample, x and y
    items: list[Any] = [f for f in [_figure(job, trace, "network", "network.svg",
                                            f"The network at iteration {k}", iteration=k)] if f]
    for b in table.blocks:
        if b.kind == "table":
            rows: list[list[Math | str]] = []
            for row in b.rows:  # a long table shows its first and last samples, a row of "… more" between
                sample = int(row[0].text) if row and row[0].text.isdigit() else None
                rows.append([cell if i in givens or i >= len(cols) or sample is None else
                             _cell_blank(found, k, cols[i], sample, cell) for i, cell in enumerate(row)])
            items.append(Table(b.header, rows))
        elif b.kind == "lines":
            items += [Working([b]), _loss_answer(found, k, b.lines[0], float(table.value), digits)]
        elif b.kind != "note":  # a note on rounding would give the total away
            items.append(b)
    return Section(f"Part 1: the forward pass at iteration {k}", items)


def _cell_blank(found: dict[str, Blank], k: int, column: dict[str, Any], sample: int, cell: Math) -> str:
    name = re.sub(r"_i\b", "", column["name"].split("=")[0].strip())
    key = f"forward.{k}.{re.sub(r'[^A-Za-z0-9]+', '', name.replace('ŷ', 'yhat')) or 'column'}.{sample}"
    value = column["values"][sample - 1] if sample - 1 < len(column["values"]) else float("nan")
    found[key] = Blank(key, f"{name} for sample {sample} at iteration {k}", float(value), cell.text, cell.latex)
    return key


def _split(line: Math) -> tuple[Math, Math]:
    """A line of working split at its first '=': what it stands for, and the working."""
    at_text, at_tex = line.text.find("="), _first_equals(line.latex)
    if at_text < 0 or at_tex < 0:
        return line, Math("", "")
    return (Math(line.text[:at_text].strip(), line.latex[:at_tex].strip().rstrip("&").strip()),
            Math(line.text[at_text + 1:].strip(), line.latex[at_tex + 1:].strip()))


def _first_equals(tex: str) -> int:
    depth = 0
    for i, ch in enumerate(tex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "=" and depth == 0 and (i == 0 or tex[i - 1] != "\\"):
            return i
    return -1


def _loss_answer(found: dict[str, Blank], k: int, line: Math, total: float, digits: int) -> Answers:
    lhs, _ = _split(line)
    shown, latex = _number(total, digits)
    key = f"forward.{k}.loss"
    found[key] = Blank(key, f"{lhs.text} at iteration {k}", total, shown, latex, lhs)
    return Answers([key])


def _explanations(job: Job, trace: Trace, params: dict[str, Entry], ks: list[int],
                  digits: int) -> dict[tuple[str, int], Explanation]:
    """The page's worked gradients: one structure for the run, each iteration's numbers filled in."""
    every = [n for n, _ in job.net.named_parameters()]
    names = list(dict.fromkeys(name for name, _ in params.values()))
    plan = RunExplainer(trace, job.net, names, digits=digits, iterations=[k - 1 for k in ks], requires_grad=every)
    return {(label, k): plan.explanation(name, k) if index is None else _entry(job, trace, name, k, index, digits)
            for label, (name, index) in params.items() for k in ks}


def _entry(job: Job, trace: Trace, name: str, k: int, index: tuple[int, ...], digits: int) -> Explanation:
    """One entry of a matrix worked out afresh at iteration ``k`` (1-based), with the step the run took."""
    it = trace.iterations[k - 1]
    job.net.load_state_dict(it.params)
    for _, p in job.net.named_parameters():
        p.requires_grad = True
    loss = get_loss(trace.loss)(job.net(Tensor(job.x, name="x")), Tensor(job.y, name="y"))
    options: dict[str, Any] = {}
    if name in trace.optimize:
        options = {"lr": trace.learning_rate, "step_rule": trace.optimizer,
                   "step": float(np.asarray(it.step_sizes[name])[index]),
                   "moments": recorded_moments(trace, name, k - 1, index)}
    return explain(loss, job.net.parameter(name), index=index, digits=digits, **options)


def worked(exp: Explanation, param: str, k: int, found: dict[str, Blank]) -> list[Any]:
    """The explanation's blocks up to "Putting in the numbers", then its working and its answers as
    blanks: the gradient, and where the run trained ``param`` the step size and the new value."""
    blocks = exp.blocks
    cut = next((i for i, b in enumerate(blocks) if b.kind == "para" and str(b.parts[0]).startswith("Putting in")),
               len(blocks))
    lines = [line for b in blocks[cut:] if b.kind == "lines" for line in b.lines]
    gradient = float(np.asarray(exp.gradient, dtype=float).reshape(-1)[0])
    first_lhs = _split(lines[0])[0] if lines else Math(f"d/d{param}", param)
    keys = [_blank(found, f"it{k}.{param}.gradient", f"{first_lhs.text} at iteration {k}", gradient, exp.digits,
                   first_lhs)]
    step = exp.details.get("step")
    if step and len(lines) >= 2:
        step_lines = [_split(line)[0] for line in lines[-2:]]
        keys.append(_blank(found, f"it{k}.{param}.step", f"step size for {param} at iteration {k}",
                           float(step["step_size"]), exp.digits, step_lines[0]))
        keys.append(_blank(found, f"it{k}.{param}.new", f"new {param} after iteration {k}", float(step["new"]),
                           exp.digits, step_lines[1]))
    out: list[Any] = list(blocks[:cut + 1])
    for b in blocks[cut + 1:]:  # words stay; lines with numbers and notes on rounding are the working
        out.append(b if b.kind == "para" else Working([b]))
    return out + [Answers(keys)]


def _blank(found: dict[str, Blank], key: str, label: str, value: float, digits: int, lhs: Math) -> str:
    shown, latex = _number(value, digits)
    found[key] = Blank(key, label, value, shown, latex, lhs)
    return key


def iteration_part(job: Job, trace: Trace, k: int, params: list[str], exps: dict[tuple[str, int], Explanation],
                   found: dict[str, Blank]) -> Section:
    """Part 3 for one iteration: the first parameter's chain rule and step, and the new predictions (green)."""
    items: list[Any] = worked(exps[(params[0], k)], params[0], k, found)
    fig = _figure(job, trace, "predictions", f"predictions-{k}.svg",
                  f"Iteration {k}: the predictions (dark) and the new predictions after the step (green)", iteration=k)
    if fig:  # its legend gives the new value away: the worksheet has a frame to sketch them in
        fig.blank_svg, fig.blank_caption = None, f"Sketch the new predictions after the step of iteration {k}"
        fig.width = 60  # the iteration's working and its picture on one page
    return Section(f"Part 3: iteration {k}, d{job.loss.upper()}/d{params[0]} and the step",
                   items + ([fig] if fig else []), new_page=True)


def gradients_part(job: Job, ks: list[int], params: list[str], exps: dict[tuple[str, int], Explanation],
                   found: dict[str, Blank]) -> Section | None:
    """Part 4: the chain rule of each other parameter asked for, at each iteration."""
    if len(params) < 2:
        return None
    items: list[Any] = []
    for p in params[1:]:
        for k in ks:
            items.append(Block("heading", [f"d{job.loss.upper()}/d{p} at iteration {k}"]))
            items += worked(exps[(p, k)], p, k, found)
    return Section("Part 4: the other parameters' gradients", items, new_page=True)


def article_part() -> Section:
    """The dosage example's numbers as the article prints them, beside the engine's exact ones."""
    rows = compared_with_article()
    header = [Math(h, rf"\text{{{h}}}") for h in ("what", "article", "exact", "why they differ", "checked")]
    body: list[list[Math | str]] = [[Math(str(r[k]), "") for k in ("what", "article", "exact_text", "why", "verdict")]
                                    for r in rows]
    return Section("Compared with the article", [
        Block("para", ["The dosage example in the StatQuest article, trained on b3 with learning rate 0.1: each "
                       "number the article prints, rounded at every step, beside the exact value."]),
        Table(header, body, words=True)], new_page=True, on_worksheet=False)


def curve_part(job: Job, trace: Trace, k: int, params: list[str]) -> Section | None:
    """Part 2: the loss against the first parameter (pink), its tangent and the numbered steps."""
    fig = _figure(job, trace, "loss-curve", "loss-curve.svg",
                  f"{job.loss.upper()} against {params[0]}, the others held at iteration {k}: the tangent's slope "
                  "is the gradient, and each numbered step is one iteration", param=params[0], iteration=k)
    if fig is None:
        return None
    bare = _figure(job, trace, "loss-curve", "loss-curve-blank.svg", "", param=params[0], iteration=k, steps=False,
                   tangent=False)
    fig.blank_svg = bare.svg if bare else None
    fig.blank_caption = (f"{job.loss.upper()} against {params[0]}, the others held at iteration {k}: draw the "
                         "tangent and the steps")
    return Section(f"Part 2: {job.loss.upper()} against {params[0]}", [fig])


def build(settings: Settings, iterations: str | list[int] = "1", params: list[str] | None = None,
          digits: int = 2) -> Handout:
    """The handout of the run ``settings`` makes, worked out at ``iterations`` (1-based) for ``params``."""
    job, trace = run(settings)
    if not trace.iterations:
        raise HandoutError("this run took no step, so there is nothing to work out")
    last = len(trace.iterations)
    ks = parse_iterations(iterations, last) if isinstance(iterations, str) else \
        parse_iterations(",".join(map(str, iterations)), last)
    entries = check_params(job, params, trace)
    exps = _explanations(job, trace, entries, ks, digits)
    params = list(entries)
    found: dict[str, Blank] = {}
    sections = [forward_part(job, trace, ks[0], digits, found), curve_part(job, trace, ks[0], params)]
    sections += [iteration_part(job, trace, k, params, exps, found) for k in ks]
    sections.append(gradients_part(job, ks, params, exps, found))
    if settings.preset == "statquest":
        sections.append(article_part())
    job.net.load_state_dict(trace.iterations[0].params)
    where = settings.preset or job.spec.name
    subtitle = (f"{trace.optimizer.replace('_', ' ')}, learning rate {trace.learning_rate:g}, training "
                f"{', '.join(trace.optimize)}; iterations {', '.join(map(str, ks))}")
    return Handout(f"Backpropagation, worked out: {where}", subtitle, [s for s in sections if s], found, ks, params)


def blanks(settings: Settings, iterations: str | list[int] = "1", params: list[str] | None = None,
           digits: int = 2) -> list[Blank]:
    """Every answer of the handout, in page order, with its label: the worksheet's boxes and the key's answers."""
    return list(build(settings, iterations, params, digits).blanks.values())
