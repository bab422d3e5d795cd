"""How much memory a network or a spec may take, checked before anything is allocated.

A mistyped size (``size = 1000000000``) must not run the machine out of memory: the estimate
is compared with a limit, by default a quarter of the memory available (a process memory
limit, where one is set, lowers it). ``allowing(nbytes)`` (the command line's
``--memory-limit GB``) raises it for what runs inside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from backproplab.util.messages import InputError

try:
    import resource
except ImportError:  # pragma: no cover - Windows has no process memory limit to read
    resource = None  # type: ignore[assignment]

FLOAT = 8  # bytes per float64
FALLBACK = 2 * 1024**3  # when the system does not say how much memory is available
TRACE_ITERATIONS = 10_000  # iterations a long run's trace keeps by default (every k-th, evenly)
_chosen: list[int] = []  # limits set with allowing(), innermost last


def available_memory() -> int:
    """Bytes of memory available now: MemAvailable in /proc/meminfo, else what sysconf says."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return FALLBACK


def default_limit() -> int:
    """A quarter of the available memory, and at most half of a process memory limit if one is set."""
    limit = available_memory() // 4
    if resource is not None:
        try:
            soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        except (ValueError, OSError):
            soft = resource.RLIM_INFINITY
        if soft != resource.RLIM_INFINITY and soft > 0:
            limit = min(limit, soft // 2)
    return limit


def memory_limit() -> int:
    """The limit in force: the innermost ``allowing()``, else the default."""
    return _chosen[-1] if _chosen else default_limit()


@contextmanager
def allowing(nbytes: int | None) -> Iterator[None]:
    """Use ``nbytes`` as the limit inside the block (None: keep the limit in force)."""
    if nbytes is None:
        yield
        return
    _chosen.append(int(nbytes))
    try:
        yield
    finally:
        _chosen.pop()


def describe(nbytes: float) -> str:
    """'3.7 GB', '120 MB', '512 bytes': sizes as people read them."""
    for unit, size in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{int(nbytes)} bytes"


def the_limit() -> str:
    """'the limit of 1.9 GB (a quarter of the available memory)': the limit in force, and where it comes from."""
    source = "the limit set" if _chosen else "a quarter of the available memory"
    return f"the limit of {describe(memory_limit())} ({source})"


def limit_note(how: str = "--memory-limit GB") -> str:
    """How the limit reads in a message, and how to raise it."""
    return f"more than {the_limit()}; raise it with {how} if you mean it"


def mlp_parameter_count(sizes: Sequence[int]) -> int:
    """Weights and biases of an MLP with these layer sizes (Python integers: never overflows)."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def kept_iterations(steps: int, keep_every: int) -> int:
    """Iterations a run of at most ``steps`` steps records: every ``keep_every``-th, and the last."""
    return -(-steps // keep_every) + (1 if (steps - 1) % keep_every else 0)


def trace_row_bytes(params: int, optimized: int, outputs: int) -> int:
    """One recorded iteration: every parameter's value, the optimized ones' gradients and step
    sizes, the predictions, and the step, loss and learning rate (numbers, not arrays, counted)."""
    return (params + 2 * optimized + outputs + 3) * FLOAT


def trace_bytes(params: int, outputs: int, steps: int, keep_every: int | None = None) -> int:
    """The record of a run: a row (``trace_row_bytes``) for each iteration kept. Without ``keep_every``
    a long run keeps about TRACE_ITERATIONS of them, evenly (the command line's default)."""
    kept = min(steps, TRACE_ITERATIONS) + 1 if keep_every is None else kept_iterations(steps, keep_every)
    return kept * trace_row_bytes(params, params, outputs)


class MemoryLimitError(InputError):
    """A run refused before it starts: keeping its iterations would take more memory than the limit."""

    def __init__(self, need: int, row: int, steps: int, keep_every: int) -> None:
        self.need, self.row, self.steps, self.keep_every = need, row, steps, keep_every
        super().__init__(self.say("keep_every=K", "max_steps", "'with backproplab.util.limits.allowing(nbytes):'"))

    def fewer(self) -> int:
        """The smallest keep-every that brings the record within half the limit."""
        rows = max(2, memory_limit() // 2 // max(1, self.row))
        return max(2, -(-self.steps // (rows - 1)))

    def say(self, keep: str, steps: str, raise_how: str) -> str:
        """The one line, naming the settings as the caller calls them (``--keep-every K`` or ``keep_every=K``)."""
        kept = kept_iterations(self.steps, self.keep_every)
        every = "every iteration" if self.keep_every == 1 else f"one iteration in {self.keep_every:,}"
        fewer = keep.replace("K", str(self.fewer()))
        return (f"keeping {every} of up to {self.steps:,} steps ({kept:,} iterations) would record about "
                f"{describe(self.need)} of parameters, gradients, step sizes and predictions, more than "
                f"{the_limit()}; keep fewer ({fewer}) or take fewer steps ({steps}), or raise the limit with "
                f"{raise_how}")

    def say_iteration(self, raise_how: str) -> str:
        """The one line for a run trained up to one iteration, keeping every one on the way."""
        return (f"reaching iteration {self.steps:,} keeps every iteration on the way, about {describe(self.need)} "
                f"of parameters, gradients, step sizes and predictions, more than {the_limit()}; choose an earlier "
                f"iteration or raise the limit with {raise_how}")


def check_record(row: int, steps: int, keep_every: int) -> None:
    """Refuse, before anything is recorded, a run whose kept iterations would not fit in the limit."""
    need = kept_iterations(steps, keep_every) * row
    if need > memory_limit():
        raise MemoryLimitError(need, row, steps, keep_every)


def mlp_bytes(sizes: Sequence[int], samples: int, steps: int) -> dict[str, int]:
    """Bytes an MLP run needs, by part: parameters (with gradients and optimizer state), the
    activations and their gradients for every sample, and the trace."""
    params = mlp_parameter_count(sizes)
    return {"parameters": 4 * params * FLOAT, "activations": 4 * samples * sum(sizes) * FLOAT,
            "trace": trace_bytes(params, samples * sizes[-1], steps)}


def spec_too_large(network: dict[str, Any], data: dict[str, Any], training: dict[str, Any],
                   samples: int | None) -> tuple[str, str] | None:
    """(field, message) for a checked spec whose run would need more memory than the limit, else None.

    Asked twice: before anything is built (the samples a generated data set will have), and
    once the data is read (the samples it has)."""
    limit = memory_limit()
    n = samples if samples is not None else data.get("n", 0)
    if "dataset" in data and 8 * n * FLOAT > limit:  # points, labels and the generator's temporaries
        return "data.n", f"{n:,} samples need about {describe(8 * n * FLOAT)}, " + limit_note()
    if network["kind"] == "mlp":
        sizes = [network["inputs"]] + [layer["size"] for layer in network["layers"]]
        need = mlp_bytes(sizes, n, training["max_steps"])
        widest = max(range(len(sizes)), key=lambda i: sizes[i])
        size_field = "network.inputs" if widest == 0 else f"network.layers[{widest - 1}].size"
    else:  # scalar parameters; a value per sample for each operation, about one per two characters
        n_params = len(network["parameters"])
        n_ops = sum(len(text) for text in network["nodes"].values()) // 2 + len(network["nodes"])
        need = {"parameters": 4 * n_params * FLOAT, "activations": 3 * n * n_ops * FLOAT,
                "trace": trace_bytes(n_params, n * len(network["output"]), training["max_steps"])}
        size_field = "network.nodes"
    place = {"parameters": size_field, "trace": "training.max_steps",
             "activations": "data.n" if "dataset" in data else "data.csv" if "csv" in data else "data.x"}
    said = {"parameters": f"the network's parameters need {describe(need['parameters'])}",
            "activations": f"{n:,} samples through this network need about {describe(need['activations'])} for "
                           "its values and gradients",
            "trace": f"{training['max_steps']:,} steps would record about {describe(need['trace'])} of parameters, "
                     "gradients and predictions"}
    for part in ("parameters", "activations", "trace"):
        if need[part] > limit:
            return place[part], f"{said[part]}, " + limit_note()
    if sum(need.values()) > limit:
        part = max(need, key=lambda k: need[k])
        return place[part], f"{said[part]} (about {describe(sum(need.values()))} in all), " + limit_note()
    return None
