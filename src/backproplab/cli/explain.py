"""``explain`` and ``forward``: one gradient worked out by the chain rule, and the forward pass as a table."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from backproplab.cli.bridge import LOSSES, cmd_explain_model, is_model_source
from backproplab.cli.commands import UsageError, at_iteration, iteration_title, load_job, note, train

# alike on purpose: the command families import the shared option groups, so their import lists look alike
from backproplab.cli.options import (
    SOURCE_HELP,
    add_command,
    add_display_options,
    add_iteration_option,
    add_training_options,
    index_arg,
)
from backproplab.util.messages import unknown_name_message

if TYPE_CHECKING:
    from rich.console import Console

    from backproplab.explain.document import Rendered
    from backproplab.spec.job import Job
    from backproplab.train.trace import Trace


def add_parsers(sub: Any) -> None:
    """``explain SOURCE --param NAME`` and ``forward SOURCE`` (``sub`` is the command line's subparsers)."""
# alike on purpose: each command's words and options are written out beside it, in argparse's shape
    explain = add_command(
        sub, "explain", "work out one gradient by the chain rule, with the numbers put in",
        "Work out d(loss)/d(parameter) by the chain rule from the recorded graph: the chain-rule "
        "form, each factor's local derivative, the numbers sample by sample, and the gradient-descent step.",
        "Example: backproplab explain statquest --param w1 --iteration 3 --optimize all", source=None,
    )
    explain.add_argument("source", metavar="SOURCE", help=SOURCE_HELP + "; or FILE.py:FUNCTION, a function in your "
                         "own Python file that returns a PyTorch model (this runs your file, as python would)")
    explain.add_argument("--param", default=None, metavar="NAME", help="the parameter to explain, such as b3 or w1")
    explain.add_argument("--node", default=None, metavar="NAME",
                         help="instead of a parameter, a node inside the network (h1, z1, yhat): d(loss)/d(node) "
                         "for each sample")
    add_iteration_option(explain, "explain the gradient")
    explain.add_argument("--index", type=index_arg, default=None, metavar="I,J",
                         help="for a matrix parameter, the entry to explain, counted from 1; a layer's W is "
                         "(out, in) as in PyTorch, so 2,1 is the weight from input 1 into unit 2")
    add_training_options(explain)
    add_display_options(explain)
    add_torch_model_options(explain)

    forward = add_command(
        sub, "forward", "the forward pass as a table: every node per sample, the residuals and the loss",
        "The forward pass, sample by sample: x, each named node (z1, h1, …, ŷ), the residual and "
        "its square, and the loss that sums them; each column headed by its formula.",
        "Example: backproplab forward statquest --format md",
    )
    add_iteration_option(forward, "show the forward pass")
    add_training_options(forward)
    add_display_options(forward)


def add_torch_model_options(p: argparse.ArgumentParser) -> None:
    """Options for explaining a PyTorch model built by FILE.py:FUNCTION."""
    p.add_argument("--data", default=None, metavar="FILE.csv",
                   help="for FILE.py:FUNCTION: the data, a CSV file with a header row; the inputs, then the target "
                   "in the last column. With a PyTorch model, --index counts from 0, as PyTorch does (1,0)")
    p.add_argument("--loss", default=None, choices=LOSSES,
                   help="for FILE.py:FUNCTION: the loss, PyTorch's with its default mean (default: mse)")


def loss_graph(job: Job) -> Any:
    """The loss of the job's network on its data, as a graph to explain."""
    from backproplab.engine.tensor import Tensor  # the engine: imported here, for start-up speed
    from backproplab.nn.losses import get_loss

    return get_loss(job.loss)(job.net(Tensor(job.x, name="x")), Tensor(job.y, name="y"))


def cmd_explain_node(job: Job, args: argparse.Namespace) -> int:
    """explain --node NAME: d(loss)/d(node) for each sample, at the chosen iteration."""
    from backproplab.explain.document import Block  # the explainer: imported here, for start-up speed
    from backproplab.explain.node import explain_node, graph_nodes

    at_iteration(job, args, args.iteration)
    loss = loss_graph(job)
    nodes = graph_nodes(loss)
    if args.node not in nodes:
        raise UsageError(unknown_name_message("node", args.node, [n for n in nodes if n.isascii()]) + " in --node")
    exp = explain_node(loss, nodes[args.node], digits=args.digits, form=args.form)
    exp.blocks.insert(1, Block("para", [f"{job.spec.name}, iteration {args.iteration}"]))
    exp.details["iteration"] = args.iteration
    sys.stdout.write(rendered(exp, args))
    return 0


def rendered(doc: Rendered, args: argparse.Namespace) -> str:
    """The document in ``--format``; HTML has its maths typeset by KaTeX here, so it reads with no script,
    where the handout extra is installed (else as Unicode, and one line says how to get the maths)."""
    factors = getattr(args, "factors", None)
    if args.format != "html":
        return doc.render(args.format, factors=factors)
    from backproplab.lesson import typeset  # KaTeX in an embedded engine: only for --format html

    if not typeset.available():
        note(args, f"the maths is shown as text; for typeset maths in the HTML: {typeset.INSTALL}")
        return doc.render("html", factors=factors)
    return doc.to_html(full_page=True, factors=factors, typeset=typeset.latex_to_html, css=typeset.katex_css())


def _recorded_step(trace: Trace, name: str, k: int, index: tuple[int, ...] | None) -> dict[str, Any]:
    """The step the run took from iteration ``k`` for one entry of ``name`` (Adam's with its m̂ and v̂)."""
    import numpy as np  # imported here, for start-up speed, as the explainer below

    from backproplab.explain.steps import adam_moments

    def entry(value: Any) -> float | None:
        arr = np.asarray(value, dtype=float)
        if index is not None and arr.ndim == len(index):
            return float(arr[index])
        return float(arr.reshape(-1)[0]) if arr.size == 1 else None

    its = trace.iterations[:k]
    grads = [entry(it.gradients[name]) for it in its]
    steps = [entry(it.step_sizes[name]) for it in its]
    if not steps or steps[-1] is None:
        return {}
    moments = adam_moments(grads, steps, trace.learning_rate)[-1] if trace.optimizer == "adam" else None
    return {"lr": trace.learning_rate, "step_rule": trace.optimizer, "step": steps[-1], "moments": moments}


def cmd_explain(args: argparse.Namespace, console: Console) -> int:
    from backproplab.explain import explain  # the explainer: imported here, for start-up speed
    from backproplab.explain.document import Block
    from backproplab.explain.steps import method_name

    if is_model_source(args.source):  # a PyTorch model built by a function in the user's own file
        return cmd_explain_model(args)
    if getattr(args, "data", None) or getattr(args, "loss", None):
        raise UsageError("--data and --loss are for a PyTorch model (FILE.py:FUNCTION); a spec names its own data "
                         "and loss")
    job = load_job(args)
    if (args.param is None) == (args.node is None):
        raise UsageError("say what to explain: --param NAME (a parameter, such as w1) or --node NAME (a node "
                         "such as h1), one of the two")
    if args.node is not None:
        return cmd_explain_node(job, args)
    names = [n for n, _ in job.net.named_parameters()]
    if args.param not in names:
        raise UsageError(unknown_name_message("parameter", args.param, names) + " in --param")
    _, optimized = job.spec.optimizer(job.net)
    shape = job.net.parameter(args.param).shape
    if args.index is not None and (len(args.index) != len(shape) or
                                   any(not 0 <= i < n for i, n in zip(args.index, shape))):
        given = ",".join(str(i + 1) for i in args.index)
        raise UsageError(f"--index {given} does not fit {args.param}, which has shape {shape}; entries count from 1"
                         + (f", so choose up to {','.join(map(str, shape))}" if shape else " (it is a single number)"))
    trace = at_iteration(job, args, args.iteration)
    opt_spec = job.spec.training["optimizer"]
    plain_gd = opt_spec["name"] == "gradient_descent"
    lr = opt_spec["lr"] if args.param in optimized and plain_gd else None
    other_step: dict[str, Any] = {"lr": lr}
    if args.param in optimized and not plain_gd:  # Adam's or SGD's step, as the run took it
        if trace is None:
            trace = train(job, args, max_steps=1)
            job.net.load_state_dict(trace.iterations[0].params)
        other_step |= _recorded_step(trace, args.param, args.iteration, args.index)
    loss = loss_graph(job)
    exp = explain(loss, job.net.parameter(args.param), digits=args.digits, form=args.form, index=args.index,
                  **other_step)
    lead = (f"{job.spec.name}, iteration {args.iteration} ({method_name(opt_spec['name'])}, learning rate "
            f"{opt_spec['lr']:g}, optimizing {', '.join(optimized)})")
    exp.blocks.insert(1, Block("para", [lead]))
    exp.details["iteration"] = args.iteration
    sys.stdout.write(rendered(exp, args))
    return 0


def cmd_forward(args: argparse.Namespace, console: Console) -> int:
    """The forward pass as a table, sample by sample, at the chosen iteration."""
    from backproplab.explain import forward_table  # the explainer: imported here, for start-up speed

    job = load_job(args)
    trace = at_iteration(job, args, args.iteration, end=True)
    table = forward_table(job.net, job.x, job.y, job.loss, digits=args.digits,
                          title=iteration_title(job.spec.name, args.iteration, trace))
    table.details["iteration"] = args.iteration
    sys.stdout.write(rendered(table, args))
    return 0


COMMANDS = {"explain": cmd_explain, "forward": cmd_forward}
