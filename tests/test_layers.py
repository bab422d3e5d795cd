"""The folders are the layers: util → engine → nn → train → optim → spec → explain → plots →
lesson, bridge → cli. ``lint-imports`` checks the contracts in pyproject.toml (each folder imports
only the folders below it; no circle between the modules of a folder) over every import, the
ones inside functions included."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports() -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is missing: pip install -e '.[test]' installs import-linter")
    return subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


def test_every_layer_contract_is_kept():
    ran = lint_imports()
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in ran.stdout


def test_a_wrong_import_breaks_the_build(tmp_path):
    """The contracts can fail: the same check over a copy of the package in which the engine
    imports the command line reports the broken layer."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "backproplab", copy / "backproplab",
                    ignore=shutil.ignore_patterns("static", "__pycache__", "specs"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (copy / "backproplab" / "engine" / "wrong.py").write_text("from backproplab.cli import main\n")
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None
    ran = subprocess.run([exe, "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert ran.returncode != 0
    assert "backproplab.engine.wrong -> backproplab.cli" in ran.stdout


def test_the_public_api_stays_where_it_was():
    """Every ``bl.*`` name still resolves through the package, and PyTorch's module paths work as in torch."""
    import importlib

    import backproplab as bl

    missing = [name for name in bl.__all__ if not hasattr(bl, name)]
    assert missing == []
    functional = importlib.import_module("backproplab.nn.functional")
    assert functional is bl.functional is bl.nn.functional
    assert importlib.import_module("backproplab.optim.lr_scheduler").StepLR is bl.optim.lr_scheduler.StepLR
    assert bl.losses is bl.nn.losses and bl.ops.OPS["add"] is bl.ops.add
    assert callable(bl.spec.read) and callable(bl.presets.statquest)
    assert bl.compile is importlib.import_module("backproplab.engine.replay").compile
