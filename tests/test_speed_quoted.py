"""The speed numbers the README and docs/speed.md quote are the ones in benchmarks/RESULTS.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = (ROOT / "benchmarks" / "RESULTS.md").read_text()

WORKLOADS = {"dosage": ("statquest", "float64"), "moons": ("moons", "float64"),
             "MLP 784-128-64-10, float32": ("mlp", "float32"), "MLP 784-128-64-10, float64": ("mlp", "float64")}
ENGINES = {
    "backproplab, SGD": "backproplab, bl.compile of the whole step",
    "whole step compiled (SGD)": "backproplab, bl.compile of the whole step",
    "hand-written NumPy": "hand-written NumPy",
    "PyTorch": "PyTorch CPU, 1 thread",
    "JAX jit": "JAX CPU, jit of the whole step",
    "backproplab, Adam": "backproplab, bl.compile of the whole step, Adam",
    "whole step, Adam": "backproplab, bl.compile of the whole step, Adam",
    "JAX jit, Adam": "JAX CPU, jit of the whole step, Adam",
}


def _medians() -> dict[tuple[str, str, str], float]:
    """µs per step by (workload, dtype, engine), from RESULTS.md's first table."""
    found = {}
    for m in re.finditer(r"^\| (\w+) \| (float\d+) \| ([^|]+?) \| ([\d,.]+) \|", RESULTS, re.M):
        found[(m[1], m[2], m[3])] = float(m[4].replace(",", ""))
    return found


def _shown(us: float) -> str:
    """A time as the quoted tables write it: one decimal under 100 µs, whole µs with separators above."""
    return f"{us:.1f}" if us < 100 else f"{int(us + 0.5):,}"  # halves up, as a reader rounds


def _table(text: str, header: str) -> list[dict[str, str]]:
    """The rows of the Markdown table whose header row starts with ``header``, as dicts by column."""
    lines = text[text.index(header):].splitlines()
    columns = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(columns, (c.strip() for c in line.strip("|").split("|")))))
    return rows


def _workload(cell: str) -> tuple[str, str]:
    return next(key for name, key in WORKLOADS.items() if cell.startswith(name))


@pytest.mark.parametrize(("page", "header"), [("README.md", "| workload | backproplab, SGD |"),
                                              ("docs/speed.md", "| workload | whole step compiled (SGD) |")])
def test_the_quoted_step_times_are_the_benchmark_run(page, header):
    medians = _medians()
    rows = _table((ROOT / page).read_text(), header)
    assert len(rows) >= 2
    for row in rows:
        workload, dtype = _workload(row["workload"].replace("dosage network", "dosage"))
        for column, cell in row.items():
            if column in ENGINES:
                assert cell == _shown(medians[(workload, dtype, ENGINES[column])]), (page, row["workload"], column)


def _ratio(workload: str, what: str) -> str:
    m = re.search(rf"^\| {workload} \| whole compiled step vs {re.escape(what)} \(its time\) \| [^|]+ \| "
                  r"([\d.]+×) \(rounds ([\d.]+)–([\d.]+)\)", RESULTS, re.M)
    assert m, (workload, what)
    return m[1]


def test_the_quoted_ratios_to_jax_are_the_benchmark_run():
    readme = (ROOT / "README.md").read_text()
    speed = (ROOT / "docs" / "speed.md").read_text()
    dosage, moons = _ratio("statquest \\(float64\\)", "JAX jit"), _ratio("moons \\(float64\\)", "JAX jit")
    assert f"{dosage} JAX's time on the dosage network and {moons} on moons" in readme
    adam = _ratio("statquest \\(float64\\)", "JAX jit, Adam"), _ratio("moons \\(float64\\)", "JAX jit, Adam")
    assert f"(Adam:\n{adam[0]} and {adam[1]})" in readme
    mlp32, mlp64 = _ratio("mlp \\(float32\\)", "JAX jit"), _ratio("mlp \\(float64\\)", "JAX jit")
    assert f"takes {mlp32} JAX's time in float32 and {mlp64} in float64" in readme
    for row in _table(speed, "| workload | SGD | Adam |"):
        workload, dtype = _workload(row["workload"])
        label = f"{workload} \\({dtype}\\)"
        assert row["SGD"].startswith(_ratio(label, "JAX jit") + " "), row
        assert row["Adam"].startswith(_ratio(label, "JAX jit, Adam") + " "), row
