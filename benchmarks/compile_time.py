"""How long a compiled training step takes to be ready: backproplab's ``bl.compile`` against JAX's ``jax.jit``.

For backproplab: the first call (the step run plainly while its graph is recorded) and the code
generation (writing the replay's source and compiling it with Python's ``compile()``), timed apart
from the first replay. For JAX: the first call of the jitted step, tracing and XLA compilation
included. Each is measured in a fresh process, the median of ``repeats`` processes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks import workloads


def backproplab_ms(name: str, dtype: str) -> dict[str, float]:
    """Milliseconds to record the whole step (its first call) and to generate and compile its code."""
    from backproplab.engine.codegen import make_program
    from benchmarks.engines import backproplab_engine

    step, _ = backproplab_engine.make(workloads.get(name, dtype), whole_step=True)
    t = time.perf_counter()
    step()  # recorded: the plain step, run once
    record = time.perf_counter() - t
    t = time.perf_counter()
    step.program = make_program(step.tape, step.plan)
    generate = time.perf_counter() - t
    step()  # the first replay, to check that the generated code runs
    return {"record_ms": record * 1e3, "codegen_ms": generate * 1e3}


def jax_ms(name: str, dtype: str) -> dict[str, float]:
    from benchmarks.engines import jax_engine

    return {"compile_ms": jax_engine.compile_ms(workloads.get(name, dtype))}


def measure(engine: str, name: str, dtype: str, repeats: int = 3) -> dict[str, float]:
    """The median of each timing over ``repeats`` fresh processes."""
    runs = []
    for _ in range(repeats):
        cmd = [sys.executable, "-m", "benchmarks.compile_time", engine, name, dtype]
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"compile time of {engine} on {name}/{dtype} failed:\n{proc.stderr[-2000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def rows(keys: list[tuple[str, str]], with_jax: bool, quick: bool = False) -> list[str]:
    """Rows for the "also measured" table: time to a compiled step, per workload (one process each when quick)."""
    out, repeats = [], 1 if quick else 3
    for name, dtype in keys:
        bl_ms = measure("backproplab", name, dtype, repeats)
        jax_ms = measure("jax", name, dtype, repeats)["compile_ms"] if with_jax else None
        jax_text = f"; JAX's first jitted call {jax_ms:.0f} ms" if jax_ms is not None else ""
        limit = 20.0 if name in ("statquest", "moons") else 200.0
        total = bl_ms["record_ms"] + bl_ms["codegen_ms"]
        out.append(f"| time to a compiled training step, {name} ({dtype}): recording {bl_ms['record_ms']:.1f} ms + "
                   f"code generation {bl_ms['codegen_ms']:.1f} ms{jax_text} | {total:.1f} ms | < {limit:g} ms: "
                   f"{'met' if total < limit else 'MISSED'} |")
    return out


if __name__ == "__main__":
    engine, name, dtype = sys.argv[1:4]
    print(json.dumps(backproplab_ms(name, dtype) if engine == "backproplab" else jax_ms(name, dtype)))
