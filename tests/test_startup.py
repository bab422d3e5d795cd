"""What starting up loads: ``import backproplab`` and the command line leave the heavy libraries
(matplotlib, the web server, PyTorch) until something needs them, and ``--help`` and ``--version`` start
without numpy; the package's names are imported on first use. The timings themselves are in
``python -m benchmarks.startup``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("matplotlib", "starlette", "uvicorn", "torch")


def loaded_after(code: str) -> dict:
    """Run ``code`` in a new Python; the heavy top-level packages it left imported, whether numpy is one of
    them, and how Ctrl-C is handled."""
    probe = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, signal, sys
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY + ("rich",)!r}))
        default = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        print(json.dumps({{"heavy": heavy, "numpy": "numpy" in sys.modules, "sigint_default": default}}))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def command(*args: str) -> str:
    """``code`` that runs ``backproplab ARGS`` in-process and carries on after it exits."""
    return f"""
        from backproplab.cli import main
        try:
            main({list(args)!r})
        except SystemExit:
            pass
    """


def test_import_loads_no_heavy_library_and_keeps_ctrl_c():
    got = loaded_after("import backproplab")
    assert got["heavy"] == []
    assert got["sigint_default"]  # a program that imports the library keeps Python's own Ctrl-C


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("demo", "--help")])
def test_version_and_help_load_no_heavy_library(args):
    got = loaded_after(command(*args))
    assert set(got["heavy"]) <= {"rich"}
    assert not got["numpy"]  # the parser is built from plain words: no numpy, no engine


def test_import_loads_numpy_only_when_a_name_is_used():
    assert not loaded_after("import backproplab")["numpy"]
    assert loaded_after("import backproplab as bl; bl.tensor([1.0])")["numpy"]


def test_a_command_that_computes_loads_numpy():
    assert loaded_after(command("presets"))["numpy"]


def test_the_parsers_preset_names_are_the_presets():
    from backproplab.cli.options import PRESET_NAMES
    from backproplab.spec.presets import PRESETS

    assert PRESET_NAMES == tuple(PRESETS)


def test_every_public_name_is_listed_and_star_imported():
    import backproplab as bl

    assert set(bl.__all__) <= set(dir(bl))
    assert {"abs", "float", "plots", "spec", "__version__"} <= set(dir(bl))
    star: dict = {}
    exec("from backproplab import *", star)
    assert all(star[name] is getattr(bl, name) for name in bl.__all__)
    assert "sum" not in star and "float" not in star  # the built-ins stay Python's


def test_names_resolve_to_their_modules_objects():
    got = loaded_after("""
        import backproplab as bl
        import numpy as np
        from backproplab.engine import functions
        from backproplab.engine.tensor import Tensor
        assert bl.Tensor is Tensor and bl.tensor is functions.tensor and bl.sum is functions.sum
        assert bl.float is np.float32 and bl.long is np.int64 and bl.float64 is np.float64
        import backproplab.nn.functional as F
        assert bl.functional is F and bl.nn.functional is F
        assert callable(bl.spec.read)
    """)
    assert got["numpy"]


def test_explain_stays_the_function_when_its_package_is_imported_first():
    loaded_after("""
        import sys
        import backproplab.explain.core  # the package backproplab.explain, before bl.explain is used
        import backproplab as bl
        assert bl.explain is sys.modules["backproplab.explain.core"].explain, bl.explain
        from backproplab import explain
        assert explain is bl.explain
    """)


def test_a_text_report_draws_nothing_and_serves_nothing():
    got = loaded_after(command("demo", "statquest", "--max-steps", "3"))
    assert got["heavy"] == ["rich"]


def test_a_command_that_draws_loads_matplotlib(tmp_path):
    out = tmp_path / "curve.png"
    got = loaded_after(command("plot", "statquest", "loss-curve", "--max-steps", "3", "-o", str(out)))
    assert "matplotlib" in got["heavy"] and out.stat().st_size > 0


def test_plots_and_widgets_are_imported_on_first_use():
    got = loaded_after("""
        import sys
        import backproplab as bl
        assert "matplotlib" not in sys.modules
        assert bl.plots.loss_curve is sys.modules["backproplab.plots"].loss_curve
        assert "matplotlib" in sys.modules
        from backproplab import plots
        assert plots is bl.plots
    """)
    assert "matplotlib" in got["heavy"] and "starlette" not in got["heavy"]


def test_widgets_import_on_first_use():
    pytest.importorskip("anywidget")
    import backproplab as bl

    assert bl.widgets.Lesson.__name__ == "Lesson"


def test_an_unknown_attribute_is_still_an_attribute_error():
    import backproplab as bl

    with pytest.raises(AttributeError, match="no attribute 'plotz'"):
        bl.plotz  # noqa: B018


def test_the_startup_benchmark_judges_the_median_and_keeps_the_rest_of_the_results(tmp_path):
    from benchmarks import startup

    times = {"this tree": {label: [(100.0, 90.0), (400.0, 95.0), (140.0, 92.0)] for label, _, _ in startup.CASES}}
    rows = startup.table(times)
    assert "| backproplab --version | 100 | 140 | < 150 ms: met | 92 |" in rows
    times["this tree"]["backproplab --help"] = [(100.0, 90.0), (160.0, 90.0), (170.0, 90.0)]
    assert "| backproplab --help | 100 | 160 | < 150 ms: MISSED | 90 |" in startup.table(times)
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n| other table |\n")
    startup.write(["| first |"], out)
    startup.write(["| second |"], out)
    text = out.read_text()
    assert text.startswith("# Benchmark results\n\n| other table |") and text.count(startup.START) == 1
    assert "| second |" in text and "| first |" not in text
