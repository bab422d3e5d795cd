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
    assert "× its time" in text and "replayed training steps" in text
    assert "| statquest (float64) | replay vs the floor (its time) | ≤ 1.3× |" in text  # the targets, each judged
    assert "| statquest (float64) | replay vs the plain path (times faster) | ≥ 1× |" in text


def test_memory_results_replace_their_own_section_and_keep_the_rest(tmp_path):
    from benchmarks import memory

    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n| timing table |\n")
    memory.write_section(out, ["| case A | 0 | 1.0 | 1.0 | 10 MB | < 300 MB (met) |"], "python -m benchmarks.memory")
    memory.write_section(out, ["| case B | 0 | 2.0 | 2.0 | 20 MB | < 300 MB (met) |"], "python -m benchmarks.memory")
    text = out.read_text()
    assert text.startswith("# Benchmark results\n\n| timing table |") and text.count(memory.MARK) == 1
    assert "case B" in text and "case A" not in text
    spec = memory.chain_spec(5)
    assert 'output = "h5"' in spec and spec.count("\nh") == 5
