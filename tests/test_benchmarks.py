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
    assert "softmax probabilities that are subnormal float32 numbers" in text  # benchmarks/subnormal.py


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


def test_ratios_are_taken_round_by_round():
    """A slow round falls on both engines of that round: the paired ratio stays 1.5 where the ratio of
    medians would say 1.2, and the targets table gives the median and the range of the rounds' ratios."""
    from benchmarks import run

    res = {"backproplab-compiled": {"runs_us": [15.0, 30.0, 15.0], "median_us": 15.0},
           "backproplab": {"runs_us": [60.0, 120.0, 45.0], "median_us": 60.0},
           "numpy": {"runs_us": [10.0, 20.0, 12.5], "median_us": 12.5},
           "torch-1": {"runs_us": [150.0, 300.0, 150.0], "median_us": 150.0},
           "torch": {"runs_us": [160.0, 290.0, 140.0], "median_us": 160.0}}
    assert run.paired(res, ("backproplab-compiled",), ("numpy",)) == [1.5, 1.5, 1.2]
    assert run.per_round(res, run.TORCH) == [150.0, 290.0, 140.0]  # the faster PyTorch setting of each round
    rows = run.target_rows({("statquest", "float64"): res})
    assert "| statquest (float64) | replay vs the floor (its time) | ≤ 1.3× | 1.50× (rounds 1.20–1.50) | MISSED |" \
        in rows
    assert any(r.startswith("| statquest (float64) | replay vs the plain path (times faster) | ≥ 1× | 4.00×")
               for r in rows)
    table = run._ratio_rows({("statquest", "float64"): res}, ("statquest", "float64"))
    assert "| statquest | float64 | backproplab, bl.compile replay | 15.0 | 9.67× faster | 1.50× its time |" in table


def test_every_benchmark_writes_its_own_section_and_keeps_the_ones_after_it(tmp_path):
    """RESULTS.md has one section per benchmark; rewriting one (memory's too) keeps every other, before and after."""
    import importlib

    from benchmarks import memory, results

    modules = [importlib.import_module(f"benchmarks.{name}") for name in ("lesson", "page", "startup", "run")]
    assert all(m.__name__ for m in modules)  # each benchmark imports with the package as it is laid out now
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n| timing table |\n")
    memory.write_section(out, ["| case A |"], "python -m benchmarks.memory")
    results.write_section(out, "<!-- later -->", "<!-- /later -->", ["a later section"])
    memory.write_section(out, ["| case B |"], "python -m benchmarks.memory")
    text = out.read_text()
    assert "| timing table |" in text and "a later section" in text
    assert "case B" in text and "case A" not in text and text.count(memory.MARK) == 1
    assert text.index(memory.MARK) < text.index("<!-- later -->")


def test_subnormal_probabilities_are_counted_between_zero_and_the_smallest_normal_number():
    """Logits 0, −100, −200 in float32: e^−100 ≈ 3.7e-44 is subnormal, e^−200 is 0 and e^0 is normal."""
    import numpy as np
    from benchmarks import subnormal

    def net(x):
        return x  # the "network" hands its input on as the logits

    logits = np.array([[0.0, -100.0, -200.0], [-100.0, 0.0, -1.0]], np.float32)
    assert subnormal._subnormal_probabilities(net, logits) == (2, 6)
    assert subnormal._subnormal_probabilities(net, logits.astype(np.float64)) == (0, 6)
