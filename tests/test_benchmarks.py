"""A smoke run of the benchmark harness, so it cannot rot (timings themselves live in benchmarks/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_harness_smoke_run(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--workloads", "statquest",
         "--engines", "backproplab-compiled,backproplab,numpy", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "all agree" in text
    assert "| statquest | float64 | backproplab, bl.compile replay |" in text
    assert "× its time" in text and "does not grow" in text
