"""The chain rule entry by entry: every path from the loss down to one parameter entry.

Each edge of a path is one op's local derivative for one pair of entries. Its value comes
from the op's own VJP (elementwise ops: the VJP of a unit gradient; others: one unit
gradient per output entry), and its formula from the op's ``partials`` template. Nothing
here knows any derivative itself.

A path is cut at every named node (ŷ, h1, z1, …), so dSSR/dw1 reads as the product
dSSR/dŷ_i · dŷ_i/dh1_i · dh1_i/dz1_i · dz1_i/dw1; unnamed steps in between are multiplied
into the factor they belong to.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from string import Template
from typing import Any

import numpy as np

from backproplab.engine.autodiff import op_of, unbroadcast
from backproplab.engine.tensor import Tensor
from backproplab.explain.symbols import LOSS_OPS, Namer, aligned, attr_values, softmax_row, term

Refs = dict[str, tuple[Tensor, tuple[int, ...] | None]]  # template name -> (tensor, entry or None: the whole)
Links = dict[tuple[int, ...], list[tuple[tuple[int, ...], float]]]  # output entry -> [(input entry, local value)]


class TooManyPathsError(Exception):
    """The entry-by-entry form would have more terms than asked for."""


@dataclass
class Link:
    """One op's local derivative d out[e] / d input_k[f], with what its formula refers to."""

    node: Tensor  # the op's output
    k: int
    out_index: tuple[int, ...]
    in_index: tuple[int, ...]
    value: float
    refs: Refs
    n: int | None = None

    def formula(self, namer: Namer, fmt: str, general: bool, digits: int | None) -> str:
        template = self._over_rows(op_of(self.node).partials[self.k][0 if fmt == "text" else 1], namer, fmt, general,
                                   digits)
        values = {}
        for name, (t, idx) in self.refs.items():
            if f"${name}" in template:
                text, prec = term(namer, t, idx, fmt, general, digits)
                values[name] = text if prec >= 9 else f"({text})"
        if self.n is not None:
            values["n"] = str(self.n)
        values.update(attr_values(self.node, fmt))
        return tidy(Template(template).safe_substitute(values))

    def _over_rows(self, template: str, namer: Namer, fmt: str, general: bool, digits: int | None) -> str:
        """softmax($z) of one entry is the entry's share of its whole row: softmax(z2[i,:])[1]."""
        def whole_row(match: re.Match) -> str:
            t, idx = self.refs.get(match.group(2), (None, None))
            row = None if t is None or idx is None else softmax_row(
                namer, t, idx, (self.node.attrs or {}).get("axis", -1), fmt, general, digits)
            if row is None:
                return match.group(0)
            if fmt == "text":
                return f"softmax({row[0]})[{row[1]}]"
            return rf"{match.group(1)}\left({row[0]}\right)_{{{row[1]}}}"
        return SOFTMAX_OF[fmt == "text"].sub(whole_row, template)


# softmax($z) in a partial's text (True) or LaTeX (False) template: filled in over z's whole row
SOFTMAX_OF = {True: re.compile(r"(softmax)\(\$(\w+)\)"), False: re.compile(r"(\\operatorname\{softmax\})\(\$(\w+)\)")}
MAX_WALK = 50_000  # the most steps spent looking for paths before the layer-by-layer form is used instead
MAX_REACH = 5_000  # a deeper graph is explained layer by layer: a path through it would be unreadable
NEGATIVE_IN_PARENS = re.compile(r"\(\(([−-][0-9.]+(?:e[−-]?[0-9]+)?)\)\)")


LITERAL = r"[−-]?\d+(?:\.\d+)?"
POWER_LESS_ONE = re.compile(rf"\^(?:\(({LITERAL}) − 1\)|\{{({LITERAL}) - 1\}})")
NOT_ZERO_CLAUSE = re.compile(rf" (?:\(0 where ({LITERAL}) = 0\)|\\text\{{ \(0 where \}} ({LITERAL}) = 0\\text\{{\)\}})")


def _literal(text: str) -> float:
    return float(text.replace("−", "-"))


def _power(match: re.Match) -> str:
    """x^(2 − 1) → x, x^(3 − 1) → x^2: a constant exponent's arithmetic done (text or LaTeX)."""
    latex = match.group(1) is None
    power = _literal(match.group(2) if latex else match.group(1)) - 1
    if power == 1:
        return ""
    shown = f"{power:g}"
    if latex:
        return f"^{{{shown}}}"
    return f"^({shown.replace('-', '−')})" if power < 0 else f"^{shown}"


def single_parens(text: str) -> str:
    """σ((w·x_i)) → σ(w·x_i): a pair of parentheses whose whole content is another pair loses the inner one
    (a template's own parentheses around an argument that came with its own)."""
    opened: list[int] = []
    closes: dict[int, int] = {}
    for i, ch in enumerate(text):
        if ch == "(":
            opened.append(i)
        elif ch == ")" and opened:
            closes[opened.pop()] = i
    drop: set[int] = set()
    for start, end in closes.items():
        if closes.get(start + 1) == end - 1:
            drop.update((start + 1, end - 1))
    return "".join(ch for i, ch in enumerate(text) if i not in drop) if drop else text


def tidy(text: str) -> str:
    """Fill-in leftovers made readable: f((−0.33)) → f(−0.33) and σ((w·x_i)) → σ(w·x_i), where an
    argument in its own parentheses meets the template's; and, where pow's exponent is a number,
    2·a^(2 − 1) (0 where 2 = 0) → 2·a."""
    text = single_parens(NEGATIVE_IN_PARENS.sub(r"(\1)", text))
    text = NOT_ZERO_CLAUSE.sub(lambda m: "" if _literal(m.group(1) or m.group(2)) != 0 else m.group(0), text)
    return POWER_LESS_ONE.sub(_power, text)


def count(node: Tensor) -> int | None:
    """The n an op divides by (mean, MSE, BCE, cross-entropy); None for ops with no n."""
    op, parents = op_of(node), node.parents
    if op.name in ("mse", "bce_with_logits"):
        return parents[0].data.size
    if op.name == "softmax_cross_entropy":
        return parents[0].data.size // parents[0].shape[-1]
    if op.name in ("mean", "logsumexp"):
        return parents[0].data.size // max(node.data.size, 1)
    return None


@dataclass
class Factor:
    """d top / d bottom between two named entries: the product of the links in between."""

    top: tuple[Tensor, tuple[int, ...]]
    bottom: tuple[Tensor, tuple[int, ...]]
    links: list[Link] = field(default_factory=list)

    @property
    def value(self) -> float:
        return math.prod(link.value for link in self.links)


@dataclass
class Term:
    """One path: its factors, and their product."""

    factors: list[Factor]

    @property
    def value(self) -> float:
        return math.prod(f.value for f in self.factors)


def _elementwise_links(node: Tensor, k: int) -> dict[tuple[int, ...], list[tuple[tuple[int, ...], float]]]:
    parent = node.parents[k]
    inputs = [p.data for p in node.parents]
    local = np.broadcast_to(op_of(node).vjp(k)(np.ones_like(node.data), node.data, *inputs, **(node.attrs or {})),
                            node.data.shape)
    values = np.asarray(local, dtype=float).reshape(-1).tolist()  # in np.ndindex's order, as Python floats
    same = parent.shape == node.data.shape  # then each entry is its own aligned entry
    return {e: [(e if same else aligned(e, parent.shape), v)] for e, v in zip(np.ndindex(node.data.shape), values)}


PATTERNS_KEPT = 32_000_000  # entries (bytes) of link patterns kept, per op, input and shapes: the next run of the
# same network reuses them; the least recently used go first, and one larger than a quarter of this is not kept
_patterns: OrderedDict[tuple, tuple[Any, list[np.ndarray]]] = OrderedDict()
_patterns_lock = threading.Lock()


def _stand_in_patterns(node: Tensor, k: int, entries: list[tuple[int, ...]]) -> list[np.ndarray]:
    """For each output entry, which entries of input k it is linked to, found with random stand-in
    inputs (so an input that happens to be 0 still shows its term). They depend only on the op and the
    shapes, so an op without settings keeps them for the next graph of the same shapes."""
    parent = node.parents[k]
    key = (id(node.op), k, node.data.shape, node.data.dtype.str, tuple(p.data.shape for p in node.parents))
    with _patterns_lock:
        kept = _patterns.get(key) if not node.attrs else None
        if kept is not None and kept[0] is node.op:
            _patterns.move_to_end(key)
            return kept[1]
    attrs = node.attrs or {}
    vjp = op_of(node).vjp(k)
    rng = np.random.default_rng(0)
    # indices and masks stay as they are: they say where entries go, not what they are
    stand_in = [rng.uniform(0.5, 1.5, p.data.shape) if p.data.dtype.kind == "f" else p.data for p in node.parents]
    out_stand_in = np.asarray(op_of(node).forward(*stand_in, **attrs))
    g = np.zeros_like(node.data)  # one unit gradient at a time: set, used, and cleared again
    patterns = []
    with np.errstate(all="ignore"):
        for e in entries:
            g[e] = 1.0
            patterns.append(unbroadcast(np.asarray(vjp(g, out_stand_in, *stand_in, **attrs)), parent.shape) != 0)
            g[e] = 0.0
    if not node.attrs and 4 * len(entries) * parent.data.size <= PATTERNS_KEPT:
        with _patterns_lock:
            _patterns[key] = (node.op, patterns)  # the op is held, so its id names no other op meanwhile
            while sum(len(ps) * ps[0].size for _, ps in _patterns.values() if ps) > PATTERNS_KEPT:
                _patterns.popitem(last=False)
    return patterns


class TransposeLinks:
    """Wᵀ[j, o] is W[o, j], with local derivative 1: a Linear layer's transpose costs no VJPs, and an
    entry's link is made only when it is asked for."""

    def __init__(self, node: Tensor, k: int) -> None:
        self.shape = node.data.shape

    def get(self, e: tuple[int, ...], default: Any = None) -> list[tuple[tuple[int, ...], float]]:
        return [(e[::-1], 1.0)]

    def items(self) -> Any:
        return ((e, self.get(e)) for e in np.ndindex(self.shape))

    def reached(self, below: set[tuple[int, ...]]) -> set[tuple[int, ...]]:
        return {f[::-1] for f in below}


class MatmulLinks:
    """The links of a product of two matrices, read off its operands: out[i, c] = Σ_j a[i, j]·b[j, c], so
    out[i, c] is linked to a[i, j] by b[j, c] and to b[j, c] by a[i, j], for every j (also where the
    value is 0). Each entry's list is made when it is asked for, so a wide layer costs no VJP per entry."""

    def __init__(self, node: Tensor, k: int) -> None:
        self.a, self.b = (np.asarray(p.data, dtype=float) for p in node.parents)
        self.k, self.shape = k, node.data.shape

    def get(self, e: tuple[int, ...], default: Any = None) -> list[tuple[tuple[int, ...], float]]:
        i, c = e
        if self.k == 0:
            return [((i, j), v) for j, v in enumerate(self.b[:, c].tolist())]
        return [((j, c), v) for j, v in enumerate(self.a[i, :].tolist())]

    def items(self) -> Any:
        return ((e, self.get(e)) for e in np.ndindex(self.shape))

    def reached(self, below: set[tuple[int, ...]]) -> set[tuple[int, ...]]:
        """The output entries linked to any of the input entries ``below``: a[i, j] reaches row i,
        b[j, c] column c."""
        rows, cols = range(self.shape[0]), range(self.shape[1])
        if self.k == 0:
            return {(i, c) for i in {f[0] for f in below} for c in cols}
        return {(i, c) for c in {f[1] for f in below} for i in rows}


def _matrix_product(node: Tensor) -> bool:
    return node.op is not None and node.op.name == "matmul" and not node.attrs and len(node.parents) == 2 \
        and all(p.data.ndim == 2 for p in node.parents)


def transposes(node: Tensor) -> bool:
    """Whether ``node`` is a transpose of all axes, whose local derivative is 1 for every entry."""
    return node.op is not None and node.op.name == "transpose" and not node.attrs


def direct_links(node: Tensor) -> bool:
    """Whether ``node``'s links are read off its op without a VJP per entry (a transpose of all axes, or a
    product of two matrices)."""
    return transposes(node) or _matrix_product(node)


def _jacobian_links(node: Tensor, k: int) -> dict[tuple[int, ...], list[tuple[tuple[int, ...], float]]]:
    """Entries of d out / d input_k, one unit output gradient at a time: those the stand-ins link
    (:func:`_stand_in_patterns`) and those with a value that is not 0."""
    parent = node.parents[k]
    attrs = node.attrs or {}
    vjp = op_of(node).vjp(k)
    entries = list(np.ndindex(node.data.shape))
    patterns = _stand_in_patterns(node, k, entries)
    inputs = [p.data for p in node.parents]
    g = np.zeros_like(node.data)
    links = {}
    for e, pattern in zip(entries, patterns):
        g[e] = 1.0
        col = unbroadcast(np.asarray(vjp(g, node.data, *inputs, **attrs)), parent.shape)
        linked = np.argwhere(pattern | (col != 0))
        values = np.asarray(col[tuple(linked.T)], dtype=float).reshape(-1).tolist()
        g[e] = 0.0
        links[e] = list(zip(map(tuple, linked.tolist()), values))
    return links


def _untransposed(t: Tensor, index: tuple[int, ...]) -> tuple[Tensor, tuple[int, ...]]:
    """An unnamed Wᵀ's entry [j, o] is W[o, j]: name the entry of the tensor a reader knows."""
    if t.op is not None and t.op.name == "transpose" and t.name is None and t.parents[0].ndim == 2:
        return t.parents[0], (index[1], index[0])
    return t, index


def _matmul_refs(a: Tensor, b: Tensor, k: int, e: tuple[int, ...], f: tuple[int, ...]) -> Refs:
    """The entries a[…, i, j] and b[…, j, col] that one term Σ_j a·b of out[…, i, col] multiplies, for
    operands of any rank (a sample, a batch, a batch of sequences: NumPy's matmul rules)."""
    j = f[-1] if k == 0 else f[-2 if b.ndim >= 2 else -1]
    rows, cols = a.ndim >= 2, b.ndim >= 2  # whether out has an i axis (from a) and a col axis (from b)
    batch, kept = e[:len(e) - rows - cols], e[len(e) - rows - cols:]
    a_entry = (*aligned(batch, a.shape[:-2]), kept[0], j) if rows else (j,)
    b_entry = (*aligned(batch, b.shape[:-2]), j, kept[-1]) if cols else (j,)
    if a.ndim == 2 and b.ndim == 2:
        return {"a": _untransposed(a, a_entry), "b": _untransposed(b, b_entry)}
    return {"a": (a, a_entry), "b": (b, b_entry)}


def _refs(node: Tensor, k: int, e: tuple[int, ...], f: tuple[int, ...]) -> tuple[Refs, int | None]:
    """What the op's formula for this pair of entries refers to, and the n it divides by."""
    op, parents = op_of(node), node.parents
    if op.elementwise:
        return {a: (p, aligned(e, p.shape)) for a, p in zip(op.args, parents)}, None
    if op.name == "matmul":
        return _matmul_refs(parents[0], parents[1], k, e, f), None
    if op.name in LOSS_OPS:
        return {a: (p, f) for a, p in zip(op.args, parents) if p.shape == parents[k].shape}, count(node)
    if op.name in ("mean", "logsumexp"):
        return {op.args[0]: (parents[0], f)}, count(node)
    if op.name == "embedding":  # the row used at this position, and the index there that names it
        return {"weight": (parents[0], f), "index": (parents[1], e[:-1])}, None
    return {a: (p, None) for a, p in zip(op.args, parents)}, count(node)  # other ops: whole tensors by name


class Paths:
    """Entry-level edges of the part of a graph that lies between the loss and one tensor."""

    def __init__(self, order: list[Tensor], root: Tensor, wrt: Tensor) -> None:
        self.root, self.wrt, self.order = root, wrt, order
        reach: set[int] = set()
        for node in order:  # inputs first, so a node's parents are settled before it
            if node is wrt or any(id(p) in reach for p in node.parents):
                reach.add(id(node))
        self.reach = reach
        self._cache: dict[tuple[int, int], Links | MatmulLinks | TransposeLinks] = {}

    def links(self, node: Tensor, k: int) -> Links | MatmulLinks | TransposeLinks:
        key = (id(node), k)
        if key not in self._cache:
            if op_of(node).elementwise:
                self._cache[key] = _elementwise_links(node, k)
            elif _matrix_product(node):
                self._cache[key] = MatmulLinks(node, k)
            elif direct_links(node):
                self._cache[key] = TransposeLinks(node, k)
            else:
                self._cache[key] = _jacobian_links(node, k)
        return self._cache[key]

    def cost(self, order: list[Tensor]) -> int:
        """How many unit-gradient VJPs the entry-level links would take (the work before any path)."""
        return sum(node.data.size * sum(id(p) in self.reach for p in node.parents)
                   for node in self._worked(order))

    def volume(self, order: list[Tensor]) -> int:
        """How many numbers those VJPs read and write: each one takes the op's inputs and output whole,
        so a few VJPs through a wide layer (a small batch into a 512×512 matrix) can cost more than many
        through a narrow one."""
        return sum(node.data.size * sum(id(p) in self.reach for p in node.parents)
                   * (node.data.size + sum(p.data.size for p in node.parents))
                   for node in self._worked(order))

    def _worked(self, order: list[Tensor]) -> list[Tensor]:
        """The nodes in reach whose entry-level links take a VJP per output entry."""
        return [node for node in order if node.op is not None and not node.op.elementwise and id(node) in self.reach
                and not transposes(node)]

    def leading_to(self, target: tuple[int, ...]) -> dict[int, set[tuple[int, ...]]]:
        """For every node between, the entries from which some path reaches ``wrt[target]``."""
        good: dict[int, set[tuple[int, ...]]] = {id(self.wrt): {target}}
        for node in self.order:  # inputs before outputs
            if node is self.wrt or id(node) not in self.reach or node.op is None:
                continue
            entries: set[tuple[int, ...]] = set()
            for k, parent in enumerate(node.parents):
                below = good.get(id(parent))
                if not below:
                    continue
                links = self.links(node, k)
                if isinstance(links, (MatmulLinks, TransposeLinks)):  # read off the op: no entry's links are made
                    entries |= links.reached(below)
                    continue
                for e, targets in links.items():
                    if e not in entries and any(f in below for f, _ in targets):
                        entries.add(e)
            good[id(node)] = entries
        return good

    def enumerate(self, target: tuple[int, ...], limit: int) -> list[list[Link]]:
        """Every path from the loss to ``wrt[target]``, as the list of links along it."""
        if len(self.reach) > MAX_REACH:
            raise TooManyPathsError(f"more than {MAX_REACH} nodes between the loss and the parameter")
        good = self.leading_to(target)
        found: list[list[Link]] = []
        # a path is a linked list (link, rest) while it is being walked, so extending it costs nothing
        stack: list[tuple[Tensor, tuple[int, ...], Any]] = [(self.root, (), None)]
        work = 0
        while stack:
            node, e, path = stack.pop()
            work += 1
            if work > MAX_WALK:
                raise TooManyPathsError(f"more than {MAX_WALK} steps of work")
            if node is self.wrt:
                links: list[Link] = []
                while path is not None:
                    link, path = path
                    links.append(link)
                found.append(links[::-1])
                if len(found) > limit:
                    raise TooManyPathsError(f"more than {limit} terms")
                continue
            for k in reversed(range(len(node.parents))):
                parent = node.parents[k]
                below = good.get(id(parent))
                if not below:
                    continue
                for f, value in reversed(self.links(node, k).get(e, [])):
                    if f in below:
                        refs, n = _refs(node, k, e, f)
                        stack.append((parent, f, (Link(node, k, e, f, value, refs, n), path)))
        return found


def split(path: list[Link], namer: Namer, root: Tensor) -> Term:
    """Cut a path into factors at every named node."""
    factors: list[Factor] = []
    current = Factor(top=(root, ()), bottom=(root, ()))
    for link in path:
        current.links.append(link)
        parent = link.node.parents[link.k]
        if namer.stop(parent):
            current.bottom = (parent, link.in_index)
            factors.append(current)
            current = Factor(top=(parent, link.in_index), bottom=(parent, link.in_index))
    return Term(factors)
