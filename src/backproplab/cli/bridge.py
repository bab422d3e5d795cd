"""The bridge's commands: ``export-torch``, and ``explain model.py:build`` (which ``explain`` hands over).

``explain model.py:build`` runs the user's own Python file, because it is their code and they
asked for it; nothing else in backproplab runs code from a file (spec files are only parsed).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import re
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backproplab.cli.commands import UsageError, load_job, train
from backproplab.cli.options import add_command, add_training_options

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console

# The bridge (and numpy) are imported inside the commands, for start-up speed: the parser and --help need neither.

MODEL_SOURCE = re.compile(r"(?P<file>.+\.py):(?P<func>[A-Za-z_][A-Za-z0-9_]*)")
LOSSES = ("mse", "l1", "huber", "smooth_l1", "bce", "bce_with_logits", "cross_entropy", "nll")
MAX_ROWS = 100_000


def is_model_source(source: str) -> bool:
    """True for 'model.py:build': a function in a Python file that builds a PyTorch model."""
    return MODEL_SOURCE.fullmatch(source) is not None


def _torch() -> Any:
    from backproplab.bridge._torch import TorchMissingError, require_torch

    try:
        return require_torch()
    except TorchMissingError as exc:
        raise UsageError(str(exc)) from None


def _user_line(exc: BaseException, path: Path) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    return f" (line {frames[-1].lineno} of {path.name})" if frames else ""


def load_model(source: str) -> Any:
    """Run the user's file and call its function: the PyTorch model it returns."""
    torch = _torch()
    match = MODEL_SOURCE.fullmatch(source)
    if match is None:
        raise UsageError(f"expected FILE.py:FUNCTION (a function that returns the PyTorch model), got {source!r}")
    path, func = Path(match["file"]).resolve(), match["func"]
    if not path.is_file():
        raise UsageError(f"there is no Python file {match['file']!r}")
    spec = importlib.util.spec_from_file_location(f"backproplab_user_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{match['file']!r} cannot be loaded as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
        if not callable(getattr(module, func, None)):
            raise ValueError(f"{path.name} has no function {func!r}; write def {func}(): ... return the model")
        model = getattr(module, func)()
    except Exception as exc:  # the user's own code: one line that says what and where
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UsageError(f"running {path.name}:{func} failed: {type(exc).__name__}: {first[:200]}"
                         f"{_user_line(exc, path)}") from None
    finally:
        sys.path.remove(str(path.parent))
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"{path.name}:{func} should return a torch.nn.Module, got {type(model).__name__}")
    return model


def read_table(path: str) -> tuple[list[str], np.ndarray]:
    """A CSV file with a header row of names and numbers below it."""
    import numpy as np

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"there is no data file {path!r}")
    with file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(line for line in handle if line.strip()))
    if len(rows) < 2 or len(rows[0]) < 2:
        raise UsageError(f"{file.name} should have a header row of at least two names (inputs, then the target) and "
                         "rows of numbers")
    if len(rows) > MAX_ROWS:
        raise UsageError(f"{file.name} has more than {MAX_ROWS:,} rows; explain a smaller sample")
    header = [h.strip() for h in rows[0]]
    try:
        values = np.array([[float(v) for v in row] for row in rows[1:]], dtype=np.float64)
    except ValueError:
        raise UsageError(f"{file.name}: every row below the header must be numbers") from None
    if values.ndim != 2 or values.shape[1] != len(header):
        raise UsageError(f"{file.name}: every row needs {len(header)} numbers, one per column of the header")
    return header, values


def cmd_explain_model(args: argparse.Namespace) -> int:
    """``explain model.py:build --param 0.weight --index 1,0 --data data.csv``."""
    import numpy as np

    from backproplab.bridge._torch import TorchBridgeError
    from backproplab.bridge.explain import explain_torch, model_output

    torch = _torch()
    if args.param is None:
        raise UsageError("say which parameter to explain: --param NAME, as model.named_parameters() names it "
                         "(such as 0.weight)")
    if args.data is None:
        raise UsageError("give the data: --data FILE.csv (a header row; the inputs, then the target in the last "
                         "column)")
    model = load_model(args.source)
    _, values = read_table(args.data)
    loss_name = args.loss or "mse"
    x, y = values[:, :-1], values[:, -1]
    if loss_name in ("cross_entropy", "nll"):
        if not np.all(y == np.round(y)):
            raise UsageError(f"{loss_name}: the target column must hold class numbers (0, 1, 2, …)")
        y = y.astype(np.int64)
    else:  # one target per output, in the output's shape ((n,) or (n, 1))
        with torch.no_grad():
            try:
                shape = tuple(model_output(model(torch.from_numpy(x).to(next(model.parameters()).dtype))).shape)
            except (RuntimeError, StopIteration, TorchBridgeError):
                shape = (len(y), 1)
        y = y.reshape(shape) if int(np.prod(shape)) == len(y) else y.reshape(-1, 1)
    tf = torch.nn.functional
    loss_fn = {"mse": tf.mse_loss, "l1": tf.l1_loss, "huber": tf.huber_loss, "smooth_l1": tf.smooth_l1_loss,
               "bce": tf.binary_cross_entropy,
               "bce_with_logits": tf.binary_cross_entropy_with_logits, "cross_entropy": tf.cross_entropy,
               "nll": tf.nll_loss}[loss_name]
    index = None if args.index is None else tuple(i + 1 for i in args.index)  # entries count from 0 here
    exp = explain_torch(model, loss_fn, x, y, wrt=args.param, index=index, digits=args.digits, form=args.form)
    sys.stdout.write(exp.render(args.format, factors=args.factors))
    return 0


def export_torch(job: Any, output: str, force: bool = False) -> tuple[Path, Path]:
    """Write the job's network as OUTPUT (a state_dict) and the module's source beside it; an existing
    file that export-torch did not write is replaced only with ``force``."""
    from backproplab.bridge.export import save

    _torch()
    if Path(output).is_dir():
        raise UsageError(f"-o {output} is a folder; give a file name in it, such as {Path(output) / 'mynet.pt'}")
    if not output.endswith(".pt"):
        raise UsageError(f"-o should name a .pt file, such as mynet.pt, got {output!r}")
    return save(job.net, output, force=force)


TRAINING = ("optimize", "lr", "max_steps", "min_step")
"""The training options: giving one trains the network before it is written, as --train does."""


def cmd_export_torch(args: argparse.Namespace, console: Console) -> int:
    """The network of a preset or spec file as a PyTorch state_dict and a module file beside it; with
    --train (or a training option) trained first, as ``run`` trains it, else with its starting values."""
    job = load_job(args)
    if getattr(args, "train", False) or any(getattr(args, k, None) is not None for k in TRAINING):
        _torch()  # before the work: a run that could not be written is wasted
        train(job, args)
    pt, py = export_torch(job, args.output, force=getattr(args, "force", False))
    if args.quiet:
        console.print(f"wrote {pt} and {py}", markup=False)
    else:
        console.print(f"wrote {pt} (the state_dict: load it with torch.load(..., weights_only=True)) and {py} "
                      "(the module that uses it)", markup=False)
    return 0


def add_parsers(sub: Any) -> None:
    """``export-torch SOURCE -o FILE.pt`` (``sub`` is the command line's subparsers)."""
# alike on purpose: each command's words and options are written out beside it, in argparse's shape
    export_torch = add_command(
        sub, "export-torch", "write a network as a PyTorch module: a state_dict and a Python file defining it",
        "Write the network of a built-in example or spec file for PyTorch: FILE.pt holds the state_dict "
        "(tensors only, loadable with torch.load(FILE, weights_only=True)) and FILE.py the module's class, "
        "generated from the network's layers or formulas. The values written are those the example starts "
        "from; --train, or any of --optimize, --lr, --max-steps and --min-step, trains the network first as run "
        "does. Needs PyTorch: pip install \"backproplab[torch]\".",
        "Example: backproplab export-torch mynet.toml -o mynet.pt",
    )
    export_torch.add_argument("-o", "--output", required=True, metavar="FILE.pt", help="the state_dict to write")
    export_torch.add_argument("--force", action="store_true",
                              help="replace FILE.pt and FILE.py even if they are not files export-torch wrote")
    export_torch.add_argument("--train", action="store_true",
                              help="train the network first, as run does, and write its trained values (a training "
                                   "option below also trains first)")
    add_training_options(export_torch)


COMMANDS = {"export-torch": cmd_export_torch}
