"""``explain(loss, wrt=p)``: a gradient worked out by the chain rule, with the numbers put in.

Two forms, both read from the recorded graph and the op table:

* **paths** (scalar networks such as the dosage example): one term per path from the loss
  to the parameter, cut into factors at every named node, sample by sample, summed
  (:mod:`~backproplab.explain.chain`); a layer's weight or bias with too many paths is worked
  out one term per sample instead (:mod:`~backproplab.explain.entry`), a convolution's kernel or
  bias one term per sample and output position (:mod:`~backproplab.explain.conv_entry`).
* **delta** (matrix layers): one step per named node, δ = ∂L/∂node, each δ obtained
  from the one above through the ops' backward rules; the values are the engine's own
  (:mod:`~backproplab.explain.delta`).

The numeric result of the paths form is checked against the engine's gradient before the
explanation is returned, so a wrong explanation cannot be shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backproplab.engine.autodiff import topological_order
from backproplab.engine.tensor import Tensor
from backproplab.explain.chain import paths_blocks
from backproplab.explain.conv_entry import conv_entry_blocks
from backproplab.explain.delta import DeltaPlan, delta_blocks, delta_plan
from backproplab.explain.document import Block, ExplainError, Rendered, check_factors, lines_with_notes
from backproplab.explain.entry import entry_blocks
from backproplab.explain.gradients import gradients_between
from backproplab.explain.paths import Paths, TooManyPathsError, split
from backproplab.explain.steps import step_rule_text, step_working
from backproplab.explain.symbols import Namer, element, fmt_number, term
from backproplab.nn import Parameter
from backproplab.train.divergence import cause_in_words
from backproplab.train.trace import to_json_value
from backproplab.util.numbers import number

FORMS = ("auto", "paths", "delta")
MAX_PATHS = 200  # the most terms the paths form writes out, even when asked for explicitly
MAX_LINK_WORK = 5_000  # the most unit-gradient VJPs spent finding entry-level links (about a second)
MAX_LINK_VOLUME = 50_000_000  # the most numbers those VJPs read and write (also about a second)


@dataclass
class Explanation(Rendered):
    """A worked gradient. Render it with ``to_text``, ``to_markdown``, ``to_latex``, ``to_html``
    or ``to_dict``; in Jupyter it displays itself."""

    loss: str
    wrt: str
    gradient: Any  # the engine's exact gradient (the explained entry, or the whole tensor)
    form: str
    digits: int
    blocks: list[Block] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    factors: str = "rounded"  # how it renders unless told: see document.FACTORS

    def html_title(self) -> str:
        return f"d{self.loss}/d{self.entry_name()}"

    def entry_name(self) -> str:
        """What was explained: the parameter (w1), or the entry of it (W1[1,2]), counted from 1."""
        index = self.details.get("index")
        value = np.asarray(self.gradient, dtype=float) if self.gradient is not None else None
        if index and value is not None and value.size == 1:
            return f"{self.wrt}[{','.join(str(int(i) + 1) for i in index)}]"
        return self.wrt

    def to_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "wrt": self.wrt, "form": self.form, "digits": self.digits,
                "gradient": to_json_value(self.gradient), **to_json_value(self.details)}

    def __repr__(self) -> str:
        value = np.asarray(self.gradient, dtype=float) if self.gradient is not None else None
        if value is None:
            shown_value = ""
        elif value.size == 1:
            shown_value = f" = {fmt_number(float(value.reshape(-1)[0]), self.digits, 'text')}"
        else:
            norm = fmt_number(float(np.linalg.norm(value)), self.digits, "text")
            shown_value = f": a {value.shape} array, norm {norm}"
        return (f"<Explanation d{self.loss}/d{self.entry_name()}{shown_value} ({self.form} form; print() it to read "
                "the working)>")


# --- the entry point -----------------------------------------------------------------------------
@dataclass
class Prepared:
    """What an explanation needs besides the numbers, built once: the graph's order, its entry-level
    links and the paths found (None: not path by path); and the engine's gradients, by ``id`` of
    the node. ``entry`` is the entry form with this iteration's numbers (called as
    :func:`entry_blocks` is, without the graph), ``delta`` the layer-by-layer form's structure."""

    order: list[Tensor]
    paths: Paths
    found: list[list[Any]] | None
    grads: dict[int, np.ndarray]
    entry: Any = None
    delta: DeltaPlan | None = None


def namer_for(order: list[Tensor], loss: Tensor, wrt: Tensor) -> Namer:
    """The names an explanation of d loss / d wrt uses."""
    namer = Namer(order, loss)
    namer.add_stop(wrt, wrt.name or "θ")
    return namer


def paths_limit(form: str, max_terms: int) -> int:
    """The most terms the paths form writes out."""
    return max(max_terms, MAX_PATHS) if form == "paths" else max_terms


def too_much_link_work(paths: Paths, order: list[Tensor]) -> bool:
    """Whether finding the entry-level links would take more than about a second; then there are far
    too many paths to write out anyway, and another form is chosen without looking for them."""
    return paths.cost(order) > MAX_LINK_WORK or paths.volume(order) > MAX_LINK_VOLUME


MAX_PLACES = 12  # the most positions a note on an embedding's row lists by name


def rows_used(order: list[Tensor], wrt: Tensor, target: tuple[int, ...], namer: Namer) -> list[Block]:
    """For an entry of an embedding table: which positions of the index picked its row, since the row's
    gradient adds up the terms of exactly those positions."""
    notes = []
    for node in order:
        if node.op is None or node.op.name != "embedding" or node.parents[0] is not wrt or len(target) != 2:
            continue
        index = node.parents[1]
        places = [tuple(int(i) + 1 for i in p) for p in np.argwhere(np.asarray(index.data) == target[0])]
        name = namer.name(index)
        shown = ", ".join(f"{name}[{','.join(map(str, p))}]" if p else name for p in places[:MAX_PLACES])
        more = f" and {len(places) - MAX_PLACES} more" if len(places) > MAX_PLACES else ""
        used = (f"the positions {shown}{more}, where the index is {target[0]}; its gradient adds up the terms of "
                "those positions" if places else f"no position (no index is {target[0]}), so its gradient is 0")
        notes.append(Block("note", [f"row {target[0] + 1} of {namer.name(wrt)} is picked by {used}"]))
    return notes


def not_finite(order: list[Tensor], namer: Any, loss_name: str) -> str:
    """'' when every value of the forward pass is finite, else one line: the first node that is not
    (order runs from the inputs to the loss), what made it so, and what to change."""
    for node in order:
        data = np.asarray(node.data)
        if data.dtype.kind != "f" or np.all(np.isfinite(data)) or _masked_out(node):
            continue
        bad = np.flatnonzero(~np.isfinite(data))
        sample = f" for sample {bad[0] + 1}" if data.ndim == 1 and data.size > 1 else ""
        what = f"the value of {namer.name(node)} itself is not finite" if node.op is None else \
            f"{cause_in_words(node)} at node {namer.name(node)}{sample}"
        verb = "overflowed" if "overflow" in what else "is not finite"
        return (f"the forward pass {verb}: {what}, so {loss_name} = {number(float(np.asarray(order[-1].data).sum()))} "
                "and there is no gradient to work out; use smaller starting values or inputs (at a later "
                "iteration, a smaller learning rate)")
    return ""


def _masked_out(node: Tensor) -> bool:
    """masked_fill(mask, float('-inf')) of finite values (its input came earlier, and was finite): the −inf is
    meant, as in attention's mask, and a softmax after it gives 0 there."""
    value = (node.attrs or {}).get("value") if node.op is not None and node.op.name == "masked_fill" else None
    return value is not None and bool(np.isneginf(value))


@dataclass
class Case:
    """What every form of one explanation works from: the graph, its names, the engine's gradients,
    the entry explained (``target``; () for a single number) and the digits shown."""

    loss: Tensor
    wrt: Tensor
    order: list[Tensor]
    namer: Namer
    grads: dict[int, np.ndarray]
    paths: Paths
    target: tuple[int, ...]
    digits: int
    loss_name: str
    wrt_name: str

    @property
    def engine(self) -> np.ndarray:
        """The engine's gradient of the loss with respect to the whole of ``wrt``."""
        return self.grads[id(self.wrt)]

    def entry_names(self) -> tuple[str, str]:
        """The entry explained as text (W1[1,2]) and as LaTeX."""
        text, latex = (term(self.namer, self.wrt, self.target, fmt, False, None)[0] for fmt in ("text", "latex"))
        return text, latex


@dataclass
class Worked:
    """One form's working: its blocks and details, the gradient it explains and the form's name; for a
    single entry also its value before the step (None: the step is not worked out) and its name."""

    blocks: list[Block]
    details: dict[str, Any]
    gradient: Any
    form: str
    old: float | None = None
    label: str = ""
    latex: str = ""


def _check_arguments(loss: Any, wrt: Any, form: str, digits: int, factors: str) -> None:
    if not isinstance(loss, Tensor) or not isinstance(wrt, Tensor):
        raise TypeError("explain(loss, wrt=...) takes two tensors: the loss and a parameter")
    if loss.data.size != 1:
        raise ExplainError(f"the loss must be a single number, got shape {loss.shape}; reduce it first (.sum())")
    if form not in FORMS:
        raise ExplainError(f"unknown form {form!r} (choose from: {', '.join(FORMS)})")
    if not 0 <= int(digits) <= 12:
        raise ExplainError(f"digits must be between 0 and 12, got {digits}")
    check_factors(factors)


def _independent(loss_name: str, wrt: Tensor, wrt_name: str, digits: int, factors: str) -> Explanation:
    """The explanation of a gradient that is 0 because the loss does not depend on ``wrt``."""
    zero = np.zeros_like(wrt.data)
    exp = Explanation(loss_name, wrt_name, to_json_value(zero), "none", digits, factors=factors)
    exp.blocks = [Block("heading", [f"d{loss_name}/d{wrt_name}"]),
                  Block("para", [f"{loss_name} does not depend on {wrt_name} here (or {wrt_name} does not "
                                 "require a gradient), so the gradient is 0."])]
    return exp


def _check_gradient(engine: np.ndarray, loss_name: str, wrt_name: str) -> None:
    if not np.all(np.isfinite(engine)):
        raise ExplainError(f"the backward pass overflowed on the way to {wrt_name}: d{loss_name}/d{wrt_name} is "
                           f"{number(float(np.asarray(engine).reshape(-1)[np.flatnonzero(~np.isfinite(engine))[0]]))}; "
                           "use smaller starting values or inputs (at a later iteration, a smaller learning rate)")


def _target(index: tuple[int, ...] | int | None, wrt: Tensor, wrt_name: str) -> tuple[int, ...]:
    """The entry of ``wrt`` explained: ``index`` checked against its shape, else the first."""
    if index is None:
        return (0,) * wrt.data.ndim
    target = (index,) if isinstance(index, int) else tuple(index)
    if len(target) != wrt.data.ndim or any(not 0 <= i < n for i, n in zip(target, wrt.shape)):
        raise ExplainError(f"index {index} does not fit {wrt_name}, which has shape {wrt.shape}")
    return target


def _found_paths(case: Case, limit: int, prepared: Prepared | None) -> list[list[Any]]:
    """Every path from the loss to the entry; TooManyPathsError when they are not to be written one by one."""
    if prepared is not None:
        if prepared.found is None:
            raise TooManyPathsError("not path by path")
        return prepared.found
    if too_much_link_work(case.paths, case.order):
        raise TooManyPathsError("too much work entry by entry")
    return case.paths.enumerate(case.target, limit)


def _paths_work(case: Case, found: list[list[Any]], index: Any) -> Worked:
    """The paths form, its total checked against the engine's gradient."""
    terms = [split(p, case.namer, case.loss) for p in found]
    engine = case.engine
    exact = float(engine[case.target]) if engine.ndim else float(engine)
    total = math.fsum(t.value for t in terms)
    tol = 1e-9 if engine.dtype == np.float64 else 1e-5  # float32's own rounding, summed over the paths
    if not math.isclose(total, exact, rel_tol=tol, abs_tol=tol * 1e-3 * max(1.0, abs(exact))):
        raise AssertionError(f"the explanation of d{case.loss_name}/d{case.wrt_name} gives {total!r}, "
                             f"the engine {exact!r}: please report this as a bug")
    shown_wrt, param_latex = case.entry_names()
    wrt = case.wrt
    one_sample = index is not None and not isinstance(wrt, Parameter) and wrt.data.ndim >= 1  # h1_1, not h1_i
    body, details = paths_blocks(case.loss_name, shown_wrt, param_latex, terms, case.namer, case.digits, exact,
                                  case.order, general=not one_sample)
    return Worked([Block("heading", [f"d{case.loss_name}/d{shown_wrt}"]), *body], details, exact, "paths",
                  element(wrt, case.target), shown_wrt, param_latex)


def _entry_work(case: Case, entry: tuple[list[Block], dict[str, Any]], names: tuple[str, str],
                limit: int | None) -> Worked:
    """The entry form (one term per sample); ``limit`` says the paths form was asked for and had too many."""
    blocks = [Block("heading", [f"d{case.loss_name}/d{names[0]}"])]
    if limit is not None:
        body, details = entry
        by = "sample and output position" if "feature_map" in details else "sample"
        blocks.append(Block("note", [f"entry by entry this gradient has more than {limit} paths; here they are "
                                     f"grouped by {by}, one term each"]))
    body, details = entry
    return Worked(blocks + body, details, float(case.engine[case.target]), "entry", element(case.wrt, case.target),
                  *names)


def _delta_work(case: Case, prepared: Prepared | None, fallback: str = "") -> Worked:
    """The layer-by-layer form; ``fallback`` says why an entry asked for is shown this way."""
    blocks = [Block("heading", [f"d{case.loss_name}/d{case.wrt_name}, layer by layer"])]
    if fallback:
        blocks.append(Block("note", [fallback]))
    plan = (prepared.delta if prepared is not None and prepared.delta is not None
            else delta_plan(case.loss, case.wrt, case.order, case.namer, case.paths.reach))
    body, details = delta_blocks(plan, case.grads, case.digits)
    engine = case.engine
    return Worked(blocks + body, details, engine.copy() if engine.ndim else float(engine), "delta", None,
                  case.wrt_name, case.wrt_name)


def _instead_of_paths(case: Case, form: str, index: Any, max_terms: int, limit: int,
                      prepared: Prepared | None) -> Worked:
    """Too many paths to write out: the entry form when the entry is a layer's weight or bias, else the
    layer-by-layer form (an error when the paths form was asked for)."""
    names = case.entry_names()
    if prepared is not None:  # a run's structure, built once, has no convolution's entry form
        makers = [prepared.entry if prepared.entry is not None else entry_blocks]
    else:
        makers = [entry_blocks, conv_entry_blocks]
    entry = None
    for make in makers:
        entry = make(case.loss, case.wrt, case.target, case.order, case.grads, case.namer, case.digits,
                     case.loss_name, *names)
        if entry is not None:
            break
    if entry is not None:
        return _entry_work(case, entry, names, limit if form == "paths" else None)
    if form == "paths":
        raise ExplainError(f"d{case.loss_name}/d{case.wrt_name} has more than {limit} terms entry by entry; "
                           "use the layer-by-layer form (form='delta', --form delta)") from None
    fallback = ""
    if index is not None:
        fallback = (f"entry by entry this gradient has more than {max_terms} terms, so it is shown layer by "
                    "layer; ask for the paths form (form='paths', --form paths) to see every term")
    return _delta_work(case, prepared, fallback)


def _work(case: Case, form: str, index: Any, max_terms: int, prepared: Prepared | None) -> Worked:
    """The form asked for, or for "auto" the one that fits: paths for a single entry, else layer by layer."""
    use_paths = form == "paths" or (form == "auto" and (case.wrt.data.size == 1 or index is not None))
    if not use_paths:
        return _delta_work(case, prepared)
    limit = paths_limit(form, max_terms)
    try:
        found = _found_paths(case, limit, prepared)
    except TooManyPathsError:
        return _instead_of_paths(case, form, index, max_terms, limit, prepared)
    return _paths_work(case, found, index)


def _add_step(worked: Worked, lr: float, digits: int, loss_name: str, step_rule: str, step: float | None,
              moments: tuple[float, float, float] | None) -> None:
    """The optimizer's step from the worked gradient: its working, and its numbers in the details."""
    old = worked.old
    assert old is not None  # explain() works the step out only for a single entry, which has its old value
    working = step_working(worked.label, worked.gradient, lr, old, digits, loss_name,
                           latex_param=worked.latex, rule=step_rule, step=step, moments=moments)
    worked.blocks.append(Block("para", [step_rule_text(step_rule)]))
    worked.blocks += lines_with_notes(working)
    s = worked.gradient * lr if step is None else step
    worked.details["step"] = {"learning_rate": lr, "step_size": s, "old": old, "new": old - s}


def explain(
    loss: Tensor,
    wrt: Tensor,
    *,
    digits: int = 2,
    form: str = "auto",
    lr: float | None = None,
    index: tuple[int, ...] | int | None = None,
    max_terms: int = 64,
    step_rule: str = "gradient_descent",
    step: float | None = None,
    moments: tuple[float, float, float] | None = None,
    prepared: Prepared | None = None,
    factors: str = "rounded",
) -> Explanation:
    """Work out d loss / d wrt by the chain rule, from the recorded graph.

    ``form`` is "paths" (every path, sample by sample), "delta" (layer by layer) or "auto"
    (paths for a single entry when there are at most ``max_terms`` terms, else delta).
    ``index`` picks the entry of a tensor parameter for the paths form. With ``lr``, the
    gradient-descent step (step size and new value) is worked out too; ``step_rule``, ``step``
    and ``moments`` (Adam's m̂, v̂, ε) describe another optimizer's step. ``prepared`` is the
    structure of this explanation of this very graph, built once (see ``explain.plan``).
    ``factors="exact"`` renders each line's factors with enough digits for its arithmetic to hold,
    with no rounding notes (each rendering method also takes ``factors=``).
    """
    _check_arguments(loss, wrt, form, digits, factors)
    if prepared is not None:
        order = prepared.order
    else:
        order = topological_order(loss) if loss.requires_grad else [loss]
    namer = namer_for(order, loss, wrt)
    loss_name, wrt_name = namer.name(loss), namer.name(wrt)
    problem = not_finite(order, namer, loss_name)
    if problem:
        raise ExplainError(problem)
    if all(n is not wrt for n in order):
        return _independent(loss_name, wrt, wrt_name, digits, factors)
    paths = prepared.paths if prepared is not None else Paths(order, loss, wrt)
    with np.errstate(all="ignore"):  # a gradient that is not finite is said in words below, not warned of
        grads = prepared.grads if prepared is not None else gradients_between(order, loss, paths.reach)
    _check_gradient(grads[id(wrt)], loss_name, wrt_name)
    case = Case(loss, wrt, order, namer, grads, paths, _target(index, wrt, wrt_name), digits, loss_name, wrt_name)
    worked = _work(case, form, index, max_terms, prepared)
    worked.details["index"] = list(case.target) if worked.form in ("paths", "entry") and wrt.data.ndim else None
    if worked.form in ("paths", "entry"):
        worked.blocks[1:1] = rows_used(order, wrt, case.target, namer)
    if lr is not None and worked.old is not None:
        _add_step(worked, float(lr), digits, loss_name, step_rule, step, moments)
    return Explanation(loss_name, wrt_name, worked.gradient, worked.form, digits, worked.blocks, worked.details,
                       factors)
