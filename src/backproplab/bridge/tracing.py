"""A PyTorch module's forward as an fx graph, and the line of the user's code behind each call.

fx turns an optional argument into an input of the graph and follows the branch it would take
for a tensor (``if targets is None`` is then false), so arguments the user does not pass are
fixed to their default values before tracing: the graph follows the branch a call without them
takes, as PyTorch itself does. With example inputs (``from_torch(model, example=x)``, as
``explain_torch`` converts), every step is also run on them (``known_sizes``), so a size may
decide an assert or an index, as ``assert t <= block_size`` in nanoGPT.
"""

from __future__ import annotations

import inspect
import re
import traceback
from pathlib import Path
from typing import Any, NamedTuple

from backproplab.bridge._torch import TorchBridgeError, require_torch

_FILE_LINE = re.compile(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)')
_PACKAGE = str(Path(__file__).resolve().parents[1])
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _users_file(path: str) -> bool:
    """A file of the user's code: not PyTorch's, not backproplab's, not Python's own."""
    path = path.replace("\\", "/")
    return "/torch/" not in path and not path.startswith(_PACKAGE.replace("\\", "/")) and "/lib/python" not in path


def _code(line: str | None) -> str:
    """A line of code as a message quotes it: at most 60 characters, a cut one ending in '…'."""
    text = (line or "").strip()
    return text if len(text) <= 60 else text[:59] + "…"


def where_used(node: Any, root: Any = None) -> str:
    """'line 12 of model.py (fc2 = …)': the line of the model's code that made this call, if fx recorded it;
    for a layer of a Sequential, which item it is."""
    trace = node.meta.get("stack_trace") or getattr(node, "stack_trace", None) or ""
    found = [f for f in _FILE_LINE.findall(trace)
             if "/torch/" not in f[0].replace("\\", "/") and not f[0].startswith(_PACKAGE)]  # not fx's, nor ours
    if found:
        path, line, _func, code = found[-1]
        return f"line {line} of {path.rsplit('/', 1)[-1]} ({_code(code)})"
    if node.op == "call_module" and root is not None:
        parent_path, _, item = node.target.rpartition(".")
        parent = root.get_submodule(parent_path) if parent_path else root
        if type(parent).__name__ == "Sequential":
            return f"item {item} of the Sequential{' ' + repr(parent_path) if parent_path else ''}"
    return f"the model's forward, at the step fx calls {node.name!r}"


def failing_line(exc: BaseException) -> str:
    """' at line 12 of model.py (if x.sum() > 0:)': the last line of the user's code in the exception's
    traceback, or '' when there is none."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _users_file(f.filename)]
    if not frames:
        return ""
    frame = frames[-1]
    return f" at line {frame.lineno} of {Path(frame.filename).name} ({_code(frame.line)})"


def calling_line() -> str:
    """' at line 12 of train.py (explain_torch(model, …))': the innermost line of the user's code in the
    running call stack (the call into backproplab), or '' when there is none."""
    for frame in traceback.extract_stack()[::-1]:
        if _users_file(frame.filename):
            return f" at line {frame.lineno} of {Path(frame.filename).name} ({_code(frame.line)})"
    return ""


class Traced(NamedTuple):
    """A traced forward: fx's GraphModule, the optional arguments held at their defaults, and the lines where
    a size of the example inputs became a plain number (the network is then for inputs of those shapes)."""

    graph_module: Any
    fixed: dict[str, Any]
    numbers: list[str]


CONTROL_FLOW = "cannot be used as inputs to control flow"
"""Words of torch.fx's TraceError when the forward branches on a tensor's value (if, while, and, or)."""
WHAT_FAILED = (
    ("cannot be iterated", "it iterates over a tensor (a for loop over it, or unpacking it into names, or *x), "
                           "which fx cannot follow; index the entries instead, such as x[:, 0], or loop over "
                           "range(n) with n a plain number"),
    ("not 'Proxy'", "it turns a tensor's value into a Python number (int(), float(), bool(), len() or the like), "
                    "which fx cannot follow; compute with the tensor itself, or pass the number in as an argument"),
    ("does not support item assignment", "it writes into a tensor (x[i] = …), which fx cannot follow; compute a "
                                         "new tensor instead, such as x.masked_fill(mask, value) or torch.where"),
    ("takes 1 positional argument but", "it gives a shape made of sizes as separate numbers (torch.ones(T, T)), "
                                        "which fx cannot follow; give the shape as one tuple: torch.ones((T, T))"),
)
"""Other words of torch.fx's errors, and what they mean in the user's code."""


SIZES = ("; if it is a size (x.size(-1), x.shape[0]), convert with example inputs: from_torch(model, example=x), "
         "and sizes are plain numbers")
"""Said when tracing without example inputs fails where a size may be what the forward needs as a number."""


def _trace_failure(module: Any, exc: BaseException, with_example: bool = False) -> str:
    """One line: why fx could not trace the forward, at the user's line; the advice about if/for only
    when the forward branches on a tensor's value, else torch.fx's own reason. Traced without example
    inputs, it adds that a size needed as a number is known with them."""
    lines = str(exc).strip().splitlines()
    reason = lines[0].strip() if lines else type(exc).__name__
    if isinstance(exc, AssertionError) and with_example:  # the model's own assert, on the example inputs
        return f"{type(module).__name__}.forward's assert fails on the example inputs{failing_line(exc)}: {reason}"
    head = f"torch.fx cannot trace {type(module).__name__}.forward{failing_line(exc)}"
    hint = "" if with_example else SIZES
    if CONTROL_FLOW in reason:
        return (f"{head}: it branches on a tensor's value ({reason[:120]}); the forward must run the same calls "
                f"whatever the data (no if/for on tensor values), so backproplab can convert it{hint}")
    for words, meaning in WHAT_FAILED:
        if words in reason:
            return f"{head}: {meaning} (torch.fx: {reason[:100]}){hint}"
    if len(reason) > 240:  # whole sentences of fx's reason, not a cut word
        cut = reason.rfind(". ", 0, 240)
        reason = reason[:cut + 1] if cut > 0 else reason[:240] + "…"
    return f"{head}: {reason}"


def forward_arguments(module: Any) -> list[inspect.Parameter]:
    """The arguments of ``module.forward`` that a call can pass by position."""
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return []
    return [p for p in signature.parameters.values() if p.kind in _POSITIONAL]


def keyword_only(module: Any) -> list[inspect.Parameter]:
    """The keyword-only arguments of ``module.forward`` (after a bare ``*``): each is held at its default."""
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return []
    found = [p for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    missing = [p.name for p in found if p.default is p.empty]
    if missing:
        try:
            forward = module.forward
            line = f" (line {inspect.getsourcelines(forward)[1]} of {Path(inspect.getfile(forward)).name})"
        except (OSError, TypeError):
            line = ""
        raise TorchBridgeError(f"{type(module).__name__}.forward{line} has the keyword-only argument(s) "
                               f"{', '.join(missing)} without a default; the converted network takes its inputs by "
                               "position, so give each a default (such as mask=None) or make it an ordinary argument")
    return found


def fixed_arguments(module: Any, inputs: list[str] | None) -> dict[str, Any]:
    """The optional arguments of the forward that are not inputs, with the default each is fixed to.
    ``inputs`` names the inputs; None: the arguments without a default. Keyword-only ones are always fixed."""
    arguments = forward_arguments(module)
    names = [p.name for p in arguments]
    keywords = {p.name: p.default for p in keyword_only(module)}
    if inputs is None:
        return {p.name: p.default for p in arguments if p.default is not p.empty} | keywords
    unknown = [n for n in inputs if n not in names]
    if unknown:
        raise TorchBridgeError(f"inputs names {unknown[0]!r}, which is not an argument of "
                               f"{type(module).__name__}.forward ({', '.join(names)})")
    if list(inputs) != names[:len(inputs)]:
        raise TorchBridgeError(f"inputs should be the first arguments of {type(module).__name__}.forward, in order: "
                               f"{names[:len(inputs)]}")
    return {p.name: p.default for p in arguments[len(inputs):] if p.default is not p.empty} | keywords


def _drop_fixed(graph: Any, module: Any, fixed: dict[str, Any]) -> None:
    """Remove the graph's inputs for fixed arguments and fx's checks of their values: the values are
    already in the graph, and the converted network takes only the real inputs."""
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    for param, node in zip(forward_arguments(module) + keyword_only(module), placeholders):
        if param.name not in fixed:
            continue
        doomed, todo = [], [node]
        while todo:
            current = todo.pop()
            if current not in doomed:
                doomed.append(current)
                todo.extend(current.users)
        order = {n: i for i, n in enumerate(graph.nodes)}
        for n in sorted(doomed, key=order.__getitem__, reverse=True):
            graph.erase_node(n)


def trace(module: Any, inputs: list[str] | None = None, example: tuple | None = None) -> Traced:
    """The fx graph of ``module``'s forward, with the lines of code that made each call, and the optional
    arguments fixed to their defaults (all of them not in ``inputs``). With ``example`` (torch values of the
    inputs, in order) every step is also run on them, so sizes are known numbers (see ``known_sizes``)."""
    torch = require_torch()
    if not isinstance(module, torch.nn.Module):
        raise TorchBridgeError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    fixed = fixed_arguments(module, inputs)
    from backproplab.bridge import known_sizes  # imports torch, as this function does

    if example is None:
        tracer: Any = known_sizes.UserLinesTracer()
    else:
        names = [p.name for p in forward_arguments(module)]
        values = dict(zip(names, example)) | {f"{k}_1": v for k, v in fixed.items()}  # fx's names of fixed ones
        tracer = known_sizes.ExampleTracer(values, lambda: calling_line().removeprefix(" at "))
    state = torch.get_rng_state()  # a Dropout layer in training mode draws while the example runs
    kept = [(b, b.detach().clone()) for b in module.buffers()] if example is not None else []  # BatchNorm's
    try:
        graph = tracer.trace(module, concrete_args=dict(fixed) or None)
    except Exception as exc:  # fx raises several kinds (TraceError, TypeError, …)
        raise TorchBridgeError(_trace_failure(module, exc, example is not None)) from None
    finally:
        torch.set_rng_state(state)
        with torch.no_grad():
            for buffer, value in kept:  # the example's run leaves the model as it was
                buffer.copy_(value)
    for node in graph.nodes:
        node.meta.pop("value", None)  # the example's tensors are not kept
    _drop_fixed(graph, module, fixed)
    numbers = getattr(tracer, "numbers", [])
    return Traced(torch.fx.GraphModule(tracer.root, graph), fixed, numbers)
