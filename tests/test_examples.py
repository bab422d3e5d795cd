"""The examples run as they are, so they cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_own_network_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "own_network.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "dMSE/dW1[1,2] = Σ_i" in proc.stdout and "stopped by" in proc.stdout
    for name in ("loss-history.png", "network.png", "decision-boundary.png", "explanation.md"):
        assert (tmp_path / name).stat().st_size > 100
