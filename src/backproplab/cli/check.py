"""``check``: a hand calculation of one iteration checked against the exact one, value by value."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from backproplab.cli.commands import UsageError, load_job, train
from backproplab.cli.fastjson import fast_dumps
from backproplab.cli.options import add_command, add_iteration_option, add_training_options, digits_arg

if TYPE_CHECKING:
    from rich.console import Console

KEYS_HELP = ("what you worked out, as KEY=VALUE: yhat=-1.03,-0.03,-1.04 (every ŷ, in sample order) or yhat2=-0.03; "
             "grad=, step= and new= for the parameter being optimised (with several, name it: grad.w1=, step.w1=, "
             "new.w1=); a parameter's own name for its new value (b3=2.19)")


def add_parsers(sub: Any) -> None:
    """``check SOURCE --iteration K KEY=VALUE …`` (``sub`` is the command line's subparsers)."""
    check = add_command(
        sub, "check", "check your hand calculation of one iteration against the exact one",
        "Compare the numbers you worked out by hand for one iteration (ŷ, the gradient, the step size, the new "
        "value) with the exact ones. Each is marked right within its rounding, right from rounded inputs, or "
        "wrong, with the likely mistake (the residual's sign, the −2, a chain factor left out, the old value, the "
        "step's sign …) and the right line of working.",
        "Example: backproplab check statquest --iteration 2 yhat=-1.03,-0.03,-1.04 grad=-6.26 step=-0.626 b3=2.19",
    )
    check.intermixed = True  # KEY=VALUE words after --iteration K as well as before it
    check.add_argument("values", nargs="*", metavar="KEY=VALUE", help=KEYS_HELP)
    add_iteration_option(check, "check the working")
    add_training_options(check)
    check.add_argument("--digits", type=digits_arg, default=2, metavar="N",
                       help="decimals the exact values and the right lines are shown with (default: 2)")
    check.add_argument("--json", action="store_true", help="print the verdicts as one JSON object instead")


def given_values(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE pairs as a dict; a pair without '=' or a key given twice is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{pair!r} is not KEY=VALUE; write, for example, grad=-6.26")
        if key.strip() in out:
            raise UsageError(f"{key.strip()} is given twice")
        out[key.strip()] = value
    if not out:
        raise UsageError("give at least one value to check, such as grad=-6.26 (keys: yhat, grad, step, new, or a "
                         "parameter's name)")
    return out


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from backproplab.explain.check_answer import check_values  # the explainer: imported here, for start-up speed

    values = given_values(args.values)
    job = load_job(args)
    opt, _ = job.spec.optimizer(job.net)
    trace = train(job, args, max_steps=min(args.iteration, opt.max_steps), keep_every=1)
    if len(trace.iterations) < args.iteration:
        raise UsageError(f"--iteration {args.iteration}: the run stopped after {len(trace.iterations)} iteration(s); "
                         f"choose --iteration from 1 to {len(trace.iterations)}")
    result = check_values(trace, args.iteration, values, job.net, args.digits)
    dumps = fast_dumps() or json.dumps
    sys.stdout.write((dumps(result.to_dict()) if args.json else str(result)) + "\n")
    return 0


COMMANDS = {"check": cmd_check}
