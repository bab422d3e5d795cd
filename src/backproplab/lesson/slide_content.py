"""What the slides say: the lesson as a deck of 16:9 slides, one idea to a slide.

The deck is made of what the lesson page shows, from the same functions: the network with its
starting values, the forward-pass table (:func:`document.forward_view`), the pink loss curve
(:func:`samples.curve`), then each asked iteration built up in three reveals (gradient, step
size, new value) from the explainer that works the page's gradients (:class:`RunExplainer`), in
its exact-factors form, so every line's arithmetic holds as shown. ``lesson.deck`` writes the deck
as a PDF (Typst) and as one offline HTML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backproplab.explain import RunExplainer
from backproplab.explain.document import Block, Math, choose
from backproplab.explain.symbols import fmt_number
from backproplab.explain.words import loss_symbol
from backproplab.lesson import document, handout
from backproplab.lesson.samples import curve
from backproplab.lesson.settings import Job, Settings
from backproplab.train.trace import Trace, scalar, single
from backproplab.util.messages import InputError
from backproplab.util.numbers import number

MOST_ITERATIONS = 40  # a deck of more iteration slides than this is a lecture nobody sits through
MOST_WORKING_LINES = 6  # rows of working a slide holds; past it the gradient is shown as its value alone
DEFAULT_ITERATIONS = "1-3"
MOST_SAMPLES = 4  # columns of the forward table a slide holds
MOST_ROWS = 8  # rows of it
LONG_LATEX = 80  # a line of working whose LaTeX is longer is set as one row per '='


class SlidesError(InputError):
    """A deck that cannot be made as asked (the iterations, the parameter, the file): one line."""


@dataclass
class Reveal:
    """What one press adds to a slide: a sentence, displayed maths (aligned at '='), or both."""

    what: str  # "gradient", "step size", "new value", or "" on a slide shown at once
    words: str = ""
    maths: list[Math] = field(default_factory=list)


@dataclass
class Table:
    """The forward pass turned on its side: a row per quantity (with its formula), a column per sample."""

    corner: str
    columns: list[str]
    rows: list[tuple[str, list[str]]]


@dataclass
class Slide:
    """One idea. In the PDF it is one page per reveal, each showing one more reveal (as beamer's overlays)."""

    kind: str  # "network", "forward", "curve", "iteration"
    title: str
    reveals: list[Reveal]
    figure: dict[str, Any] = field(default_factory=dict)  # the figure's data, drawn by lesson.deck
    table: Table | None = None
    iteration: int | None = None

    @property
    def pages(self) -> int:
        return max(1, len(self.reveals))


@dataclass
class Deck:
    """The slides of one run, with what they are about."""

    title: str
    param: str
    iterations: list[int]  # 1-based
    slides: list[Slide]

    @property
    def pages(self) -> int:
        """Pages of the PDF (and steps of the HTML deck): one per reveal."""
        return sum(s.pages for s in self.slides)


def parse_iterations(text: str | list[int], total: int) -> list[int]:
    """'1-4', '3', '1,3,5' or '1-3,7' as 1-based iterations, read as the handout reads them."""
    if not total:
        raise SlidesError("this run took no step, so there are no iterations to show")
    out = handout.parse_iterations(text if isinstance(text, str) else ",".join(map(str, text)), total)
    if len(out) > MOST_ITERATIONS:
        raise SlidesError(f"{len(out)} iterations asked; a deck holds at most {MOST_ITERATIONS}: ask fewer")
    return out


def _trained_param(job: Job, trace: Trace, param: str | None) -> str:
    """The parameter whose steps the slides show: trained, and a single number (a step of a matrix is a
    matrix, too much for a slide)."""
    single = [n for n in trace.optimize if job.net.parameter(n).data.size == 1]
    if param is None:
        if not single:
            raise SlidesError("this run trains no single-number parameter, so there are no steps a slide can show: "
                              "train one with --optimize (such as b3)" if trace.optimize else
                              "this run trains no parameter, so there are no steps to show")
        return single[0]
    if param not in trace.optimize:
        raise SlidesError(f"{param!r} is not trained in this run (it trains {', '.join(trace.optimize)}); "
                          "choose one of those, or train it with --optimize")
    if param not in single:
        raise SlidesError(f"{param} is a matrix; slides step through a single-number parameter"
                          + (f" (this run trains {', '.join(single)})" if single else ": train one with --optimize"))
    return param


def build(settings: Settings, iterations: str | list[int] = DEFAULT_ITERATIONS, param: str | None = None) -> Deck:
    """The deck of the run ``settings`` makes, trained as the page trains it."""
    job, trace = document.run(settings)
    return deck_of(job, trace, iterations, param)


def deck_of(job: Job, trace: Trace, iterations: str | list[int] = DEFAULT_ITERATIONS,
            param: str | None = None) -> Deck:
    """The deck of a run already trained (``job`` at its starting values)."""
    total = len(trace.iterations)
    asked = parse_iterations(iterations, total)
    name = _trained_param(job, trace, param)
    first = asked[0] - 1
    slides = [network_slide(job, trace, first, name), forward_slide(job, trace, first),
              curve_slide(job, trace, first, name, asked)]
    plan = _explainer(job, trace, name, [k - 1 for k in asked])
    slides += [iteration_slide(job, trace, name, k - 1, plan) for k in asked]
    return Deck(title=job.title, param=name, iterations=asked, slides=slides)


# --- the three slides before the steps -----------------------------------------------------------------------
def network_slide(job: Job, trace: Trace, k: int, param: str) -> Slide:
    """The network with its values at iteration k (0-based), the trained parameter picked out."""
    it = trace.iterations[k]
    values = {n: fmt_number(v, 2, "text") for n, v in it.params.items() if np.ndim(v) == 0}
    start = "at the start" if k == 0 else f"at iteration {k + 1}"
    now = fmt_number(single(it.params[param]), 2, "text")
    words = (f"We train {param}, now {now}; the other parameters stay as they are." if len(trace.optimize) == 1
             else f"We train {', '.join(trace.optimize)}.")
    x_label, y_label = job.preset.x_label, job.preset.y_label
    lead = f"{x_label} in, {y_label} out. " if x_label and y_label and _one_input(job) else ""
    return Slide("network", f"The network, {start}", [Reveal("", words=lead + words)],
                 figure={"network": document.network_of(job), "values": values, "trained": list(trace.optimize)})


def _one_input(job: Job) -> bool:
    return np.ndim(job.x) == 1 or np.shape(job.x)[1] == 1


def _plain_name(text: str) -> str:
    """A forward table's heading without its sample index: the columns are the samples."""
    return text.replace("_i", "").replace("^2", "²")


def _sideways(job: Job, view: dict[str, Any]) -> Table:
    """The forward table with a row per quantity and a column per sample (its input, for one input)."""
    header = [" ".join(_plain_name(h) for h in cell) for cell in view["header"]]
    rows = view["rows"][:MOST_SAMPLES]
    by_input = bool(header) and header[0] == "sample" and len(header) > 1 and _one_input(job)
    first = 2 if by_input else 1
    quantities = [(header[c], [r[c] for r in rows]) for c in range(first, len(header))]
    if not by_input:
        return Table("", [f"sample {r[0]}" for r in rows], quantities)
    x_label, x_name = job.preset.x_label, header[1]
    corner = f"{x_label} {x_name}" if x_label and x_label != x_name else x_name
    return Table(corner, [r[1] for r in rows], quantities)


def forward_slide(job: Job, trace: Trace, k: int) -> Slide:
    """The forward pass at iteration k (0-based), as the page's forward-pass tab and ``backproplab forward``
    show it, turned on its side so that each row is a quantity with its formula (the first few samples and
    the last rows of a large network's table: the terminal's ``forward`` shows them all)."""
    view = document.forward_view(job, trace, k)
    table = _sideways(job, view)
    words = []
    if len(job.x) > len(table.columns):
        words.append(f"the first {len(table.columns)} of {len(job.x)} samples")
    if len(table.rows) > MOST_ROWS:
        words.append(f"the last {MOST_ROWS} of {len(table.rows)} rows")
        table.rows = table.rows[-MOST_ROWS:]
    said = f"Shown: {' and '.join(words)} ('backproplab forward' prints them all)." if words else ""
    reveal = Reveal("", words=said, maths=[Math(line, "") for line in view["lines"]])
    return Slide("forward", f"The forward pass, iteration {k + 1}", [reveal], table=table, iteration=k + 1)


def curve_slide(job: Job, trace: Trace, k: int, param: str, asked: list[int]) -> Slide:
    """The loss against ``param`` (the pink curve, the others held at iteration k), its lowest point,
    and where the asked iterations stand on it."""
    data = curve(job, trace, param, k)
    sym = loss_symbol(trace.loss)
    low = data.get("minimum") or {}
    words = f"{sym} against {param}, the other parameters held."
    if low.get("where") == "inside" and isinstance(low.get("at"), (int, float)):
        words += f" Its lowest point: {param} = {number(low['at'])}, {sym} = {number(low['loss'])}."
    points = [(j, scalar(trace.iterations[j - 1].params[param])) for j in asked]
    return Slide("curve", f"{sym} against {param}", [Reveal("", words=words)],
                 figure={"curve": data, "param": param, "loss": sym, "points": points})


# --- the steps ------------------------------------------------------------------------------------------------
def _explainer(job: Job, trace: Trace, name: str, ks: list[int]) -> RunExplainer | None:
    """The explainer the page's document uses, with the asked iterations' numbers filled in."""
    every = [n for n, _ in job.net.named_parameters()]
    try:
        return RunExplainer(trace, job.net, [name], iterations=ks, requires_grad=every)
    except (ValueError, RecursionError):
        return None


def working(blocks: list[Block]) -> tuple[list[Math], list[Math]]:
    """(the gradient's lines with the numbers put in, the step's lines) of a worked gradient's blocks, in the
    exact-factors form; ([], []) where they are not laid out as the paths form lays them out."""
    blocks = choose(blocks, "exact")
    at = [i for i, b in enumerate(blocks) if b.kind == "lines"]
    if len(at) < 2 or at[-1] < 2 or blocks[at[-1] - 1].kind != "para":
        return [], []
    numbers: list[Math] = []
    i = at[-1] - 2
    while i >= 0 and blocks[i].kind in ("lines", "note"):
        numbers = blocks[i].lines + numbers
        i -= 1
    return numbers, blocks[at[-1]].lines


def _split_long(m: Math) -> Math:
    """A long line of working (Adam's step) as rows, one per '=', so that it fits a slide's width."""
    if len(m.latex) <= LONG_LATEX or "&" in m.latex or "\\\\" in m.latex:
        return m
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(m.latex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "=" and depth == 0:
            parts.append(m.latex[start:i].strip())
            start = i + 1
    parts.append(m.latex[start:].strip())
    if len(parts) < 3:
        return m
    return Math(m.text, parts[0] + " &= " + " \\\\ &= ".join(parts[1:]))


def _rows(lines: list[Math]) -> int:
    return sum(1 + m.latex.count("\\\\") for m in lines)


def iteration_slide(job: Job, trace: Trace, name: str, k: int, plan: RunExplainer | None) -> Slide:
    """Iteration k (0-based) in three reveals: the gradient worked out, the step size, the new value."""
    it = trace.iterations[k]
    lines = document.cli_lines(trace, k)  # the page's and the terminal's three lines, for what the slide lacks
    numbers: list[Math] = []
    step: list[Math] = []
    if plan is not None:
        try:
            numbers, step = working(plan.explanation(name, k + 1).blocks)
        except (ValueError, RecursionError):
            numbers, step = [], []
    if not numbers or _rows(numbers) > MOST_WORKING_LINES or len(step) < 2:
        numbers, step = [Math(lines[0], "")], [Math(line, "") for line in lines[1:]]
    value = fmt_number(single(it.params[name]), 2, "text")
    step = [_split_long(m) for m in step]
    reveals = [Reveal("gradient", maths=numbers), Reveal("step size", maths=step[:-1]),
               Reveal("new value", maths=step[-1:])]
    return Slide("iteration", f"Iteration {k + 1}: {name} = {value}", reveals, iteration=k + 1)
