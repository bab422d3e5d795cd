"""Each function of the op package is defined in one module only: the numerically stable helpers
(sigmoid, softmax, log_softmax, …) in ``engine/ops/numeric.py``, every other one beside the op it serves."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import backproplab.engine.ops as ops_package

OPS_DIR = Path(ops_package.__file__).parent

DEFINED_TWICE_ON_PURPOSE: dict[str, str] = {}
"""Function names that may be defined in more than one op module, each with the reason: none."""


def module_level_functions(folder: Path = OPS_DIR) -> dict[str, list[str]]:
    """Each function name defined at module level in ``folder`` (by ``def`` or a named lambda), and the modules."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(folder.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            for name in names:
                where[name].append(path.name)
    return where


def test_no_function_is_defined_in_two_op_modules():
    where = module_level_functions()
    assert where["sigmoid"] == ["numeric.py"] and where["log_softmax"] == ["numeric.py"]  # the walk sees them
    twice = {name: files for name, files in where.items() if len(files) > 1 and name not in DEFINED_TWICE_ON_PURPOSE}
    assert not twice, f"defined in more than one module under engine/ops: {twice}"


def test_the_walk_finds_a_function_defined_twice(tmp_path):
    """The check can fail: a copy of the package with a second sigmoid (and a named lambda) is caught."""
    for path in OPS_DIR.glob("*.py"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    with (tmp_path / "table.py").open("a", encoding="utf-8") as fh:
        fh.write("\n\ndef sigmoid(z):\n    return z\n\n\nsoftplus = lambda z: z\n")
    where = module_level_functions(tmp_path)
    assert where["sigmoid"] == ["numeric.py", "table.py"] and where["softplus"] == ["numeric.py", "table.py"]
