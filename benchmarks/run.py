"""Benchmark harness: ``python -m benchmarks`` (``--quick`` for a smoke run).

Each engine runs in its own process on the same data and starting values. Before timing,
every engine's first-step loss and gradients are checked against the hand-written NumPy
reference. Each run warms up, times enough steps to fill ``--min-time`` seconds, repeats
``--repeats`` times, and reports the median µs per step. Ratios are against PyTorch (same
dtype, its faster thread setting) and against hand-written NumPy: round by round, then the median.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

import numpy as np

from benchmarks import compile_time, memory, subnormal, workloads
from benchmarks import explain as explain_timings

ENGINES = {
    "backproplab-step": ("backproplab_engine", {"whole_step": True}, "backproplab, bl.compile of the whole step"),
    "backproplab-compiled": ("backproplab_engine", {"compiled": True}, "backproplab, bl.compile replay"),
    "backproplab": ("backproplab_engine", {}, "backproplab, new graph every step"),
    "numpy": ("numpy_engine", {}, "hand-written NumPy"),
    "torch-1": ("torch_engine", {"threads": 1}, "PyTorch CPU, 1 thread"),
    "torch": ("torch_engine", {}, "PyTorch CPU, default threads"),
    "micrograd": ("micrograd_engine", {}, "micrograd"),
    "jax": ("jax_engine", {}, "JAX CPU, jit of the whole step"),
    "backproplab-step-adam": ("backproplab_engine", {"whole_step": True, "adam": True},
                              "backproplab, bl.compile of the whole step, Adam"),
    "jax-adam": ("jax_engine", {"adam": True}, "JAX CPU, jit of the whole step, Adam"),
}
NEEDS = {"torch-1": "torch", "torch": "torch", "micrograd": "micrograd", "jax": "jax", "jax-adam": "jax"}
TARGETS = {  # workload: replay's time vs the floor at most; replay and plain path faster than PyTorch at least
    ("statquest", "float64"): (1.3, 6.0, 2.0),
    ("moons", "float64"): (1.3, 3.0, 1.5),
    ("mlp", "float32"): (1.1, None, None),
    ("mlp", "float64"): (1.1, None, None),
}
REPLAY, PLAIN, FLOOR = "backproplab-compiled", "backproplab", "numpy"
STEP, JAX = "backproplab-step", "jax"
STEP_ADAM, JAX_ADAM = "backproplab-step-adam", "jax-adam"
JAX_TARGETS = {("statquest", "float64"): 1.0, ("moons", "float64"): 1.0}  # the whole compiled step vs JAX, its time


def time_steps(step, min_time: float, repeats: int) -> list[float]:
    """Median-ready µs per step: warm up, find a step count that fills min_time, repeat."""
    start = time.perf_counter()
    warm = 0
    while warm < 3 or (time.perf_counter() - start < 0.2 * min_time and warm < 1000):
        step()
        warm += 1
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            step()
        elapsed = time.perf_counter() - t
        if elapsed >= 0.2 * min_time or n >= 1 << 20:
            break
        n *= 2
    n = max(1, int(n * min_time / max(elapsed, 1e-9)))
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            step()
        runs.append((time.perf_counter() - t) / n * 1e6)
    return runs


def child(engine: str, name: str, dtype: str, min_time: float, repeats: int) -> dict:
    module, options, _ = ENGINES[engine]
    mod = importlib.import_module(f"benchmarks.engines.{module}")
    step, first = mod.make(workloads.get(name, dtype), **options)
    loss, grads = first()
    runs = time_steps(step, min_time, repeats)
    return {"engine": engine, "workload": name, "dtype": dtype, "runs_us": runs, "median_us": statistics.median(runs),
            "loss": loss, "grads": {k: np.asarray(v, dtype=float).tolist() for k, v in grads.items()}}


def run_child(engine: str, name: str, dtype: str, min_time: float, repeats: int, blas_threads: int = 1) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.run", "--child", engine, name, dtype, str(min_time), str(repeats)]
    env = dict(os.environ)
    if blas_threads:  # NumPy's BLAS spinning on every core of a shared machine would time the machine, not the engine
        env.update({k: str(blas_threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} on {name}/{dtype} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def agree(result: dict, reference: dict, dtype: str) -> str:
    """'' if the first step's loss and gradients match the reference, else what differs."""
    rtol, atol = (1e-8, 1e-10) if dtype == "float64" else (2e-4, 1e-6)
    if not np.isclose(result["loss"], reference["loss"], rtol=rtol, atol=atol):
        return f"loss {result['loss']} vs {reference['loss']}"
    for k, ref in reference["grads"].items():
        got = np.asarray(result["grads"].get(k), dtype=float)
        if got.shape != np.shape(ref) or not np.allclose(got, ref, rtol=rtol, atol=atol):
            return f"gradient of {k} differs"
    return ""


def available(engine: str) -> bool:
    need = NEEDS.get(engine)
    return need is None or importlib.util.find_spec(need) is not None


def per_round(res: dict, engines: tuple[str, ...]) -> list[float] | None:
    """Each round's µs per step of the fastest of ``engines`` (those that ran), round by round."""
    runs = [res[e]["runs_us"] for e in engines if e in res]
    return [min(r) for r in zip(*runs)] if runs else None


def paired(res: dict, num: tuple[str, ...], den: tuple[str, ...]) -> list[float] | None:
    """Round by round, num's time over den's. A round times every engine back to back, so a slow
    spell of the machine that falls on a round falls on both sides of its ratio."""
    a, b = per_round(res, num), per_round(res, den)
    return [x / y for x, y in zip(a, b)] if a and b else None


TORCH = ("torch-1", "torch")


def _ratio_rows(results: dict, key: tuple[str, str]) -> list[str]:
    rows = []
    res = results[key]
    for engine, r in res.items():
        vs_torch, vs_floor = paired(res, TORCH, (engine,)), paired(res, (engine,), (FLOOR,))
        torch_text = f"{statistics.median(vs_torch):.2f}× faster" if vs_torch else "—"
        floor_text = f"{statistics.median(vs_floor):.2f}× its time" if vs_floor else "—"
        rows.append(f"| {key[0]} | {key[1]} | {ENGINES[engine][2]} | {r['median_us']:,.1f} | {torch_text} | "
                    f"{floor_text} |")
    return rows


def target_rows(results: dict) -> list[str]:
    """Each target of the replay and the plain path: what was asked, what this run measured (the median
    of the rounds' ratios, and their range), met or missed."""
    rows = []
    for key, res in results.items():
        floor_target, replay_torch, plain_torch = TARGETS[key]
        label = f"{key[0]} ({key[1]})"

        def row(what: str, ratios: list[float] | None, limit: float | None, at_most: bool) -> None:
            if not ratios or limit is None:
                return
            value = statistics.median(ratios)
            ok = value <= limit if at_most else value >= limit
            sign = "≤" if at_most else "≥"
            spread = f" (rounds {min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""
            verdict = "met" if ok else "MISSED"
            rows.append(f"| {label} | {what} | {sign} {limit:g}× | {value:.2f}×{spread} | {verdict} |")

        row("replay vs the floor (its time)", paired(res, (REPLAY,), (FLOOR,)), floor_target, True)
        row("replay vs PyTorch (times faster)", paired(res, TORCH, (REPLAY,)), replay_torch, False)
        row("plain path vs PyTorch (times faster)", paired(res, TORCH, (PLAIN,)), plain_torch, False)
        row("replay vs the plain path (times faster)", paired(res, (PLAIN,), (REPLAY,)), 1.0, False)
        rows += step_rows(key, res)
    return rows


def step_rows(key: tuple[str, str], res: dict) -> list[str]:
    """The whole compiled training step (``bl.compile`` of zero_grad, loss, backward, step; SGD, and Adam) against
    JAX's jit of the same step and PyTorch: its time over theirs, the median of the rounds' ratios, with a target
    where one is set."""
    rows = []
    for ours, what, other in ((STEP, "JAX jit", (JAX,)), (STEP, "PyTorch", TORCH),
                              (STEP_ADAM, "JAX jit, Adam", (JAX_ADAM,))):
        ratios = paired(res, (ours,), other)
        if not ratios:
            continue
        value, limit = statistics.median(ratios), JAX_TARGETS.get(key) if other in ((JAX,), (JAX_ADAM,)) else None
        asked, verdict = (f"≤ {limit:g}×", "met" if value <= limit else "MISSED") if limit else ("—", "")
        rows.append(f"| {key[0]} ({key[1]}) | whole compiled step vs {what} (its time) | {asked} | {value:.2f}× "
                    f"(rounds {min(ratios):.2f}–{max(ratios):.2f}) | {verdict} |")
    return rows


def extras(quick: bool) -> list[str]:
    """Explainer timings and memory over many steps, measured in this process."""
    import backproplab as bl
    from backproplab.explain import explain
    from backproplab.explain.plan import RunExplainer
    from backproplab.explain.run import explain_run
    from backproplab.optim import GradientDescent

    lines = []
    net, (x, y) = bl.presets.statquest()
    loss = bl.losses.ssr(net(bl.Tensor(x, name="x")), bl.Tensor(y, name="y"))
    times = []
    for _ in range(3 if quick else 20):
        t = time.perf_counter()
        explain(loss, net.w1, lr=0.1).to_text()
        times.append((time.perf_counter() - t) * 1e3)
    lines.append(f"| explain w1 of the dosage network (text) | {statistics.median(times):.1f} ms | < 20 ms |")
    lines += explain_timings.rows(quick)  # one entry of wide MLPs and of a small CNN: benchmarks/explain.py
    lines += subnormal.rows(quick)  # why float32 Adam on the MLP slows down: benchmarks/subnormal.py
    steps = 50 if quick else 1000
    for optimize, target in ((["b3"], "< 2 s"), (None, "—")):
        net, (x, y) = bl.presets.statquest()
        trace = GradientDescent(net.parameters(only=optimize), lr=0.01, max_steps=steps, min_step=0).fit(net, x, y)
        seconds = _timed(lambda: explain_run(trace, net, every=1).to_text())
        what = "b3, as in the worked example" if optimize else "all 7 parameters"
        lines.append(f"| explain_run, every iteration of a {steps}-iteration run ({what}), as text | {seconds:.2f} s "
                     f"| {target} |")
    plans = []
    seconds = _timed(lambda: plans.append(RunExplainer(trace, net)))
    lines.append(f"| all 7 parameters at every iteration of a {steps}-iteration run: structure built once, numbers "
                 f"filled in for every iteration (RunExplainer) | {seconds:.2f} s | < 1 s: "
                 f"{'met' if seconds < 1 else 'MISSED'} |")
    times = []
    for k in range(1, steps + 1, max(1, steps // 20)):
        t = time.perf_counter()
        plans[0].explanation("w1", k)
        times.append((time.perf_counter() - t) * 1e3)
    ms = statistics.median(times)
    lines.append(f"| one parameter at one iteration once the structure exists (w1, median of {len(times)}) | "
                 f"{ms:.2f} ms | < 2 ms: {'met' if ms < 2 else 'MISSED'} |")
    first, last, window, total = memory_growth(200 if quick else 1000, 2000 if quick else 100_000)
    ratio = last / first
    lines.append(f"| peak traced memory in the first and the last {window:,} of {total:,} replayed training steps "
                 f"(dosage network, bl.compile) | {first / 1024:.1f} KiB vs {last / 1024:.1f} KiB (ratio {ratio:.3f}) "
                 f"| within 5%: {'met' if ratio <= 1.05 else 'MISSED'} |")
    return lines


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def memory_growth(window: int, steps: int) -> tuple[int, int, int, int]:
    """Peak traced memory in the first and in the last ``window`` of ``steps`` replayed training steps.

    A first window warms up (NumPy's and Python's caches) before anything is measured; if
    anything were kept from step to step, the last window's peak would be above the first's.
    """
    import backproplab as bl

    net, (x, y) = bl.presets.statquest()
    xt, yt = bl.Tensor(x), bl.Tensor(y)
    run = bl.compile(lambda: bl.losses.ssr(net(xt), yt))
    opt = bl.optim.GradientDescent(net.parameters(), lr=0.01)

    def step() -> None:
        opt.zero_grad()
        run()
        opt.step()

    first = last = 0  # only two numbers are kept: a growing list of peaks would be traced memory itself
    tracemalloc.start()
    for w in range(steps // window + 1):
        tracemalloc.reset_peak()
        for _ in range(window):
            step()
        last = tracemalloc.get_traced_memory()[1]
        if w == 1:
            first = last
    tracemalloc.stop()
    return first, last, window, steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny timings, one repeat")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds of steps per timing (default 1)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma list of: " + ", ".join(ENGINES))
    parser.add_argument("--workloads", default="statquest,moons,mlp", help="comma list of: statquest, moons, mlp")
    parser.add_argument("--output", default=str(Path(__file__).with_name("RESULTS.md")))
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="threads for NumPy's BLAS in each timed process (default 1; 0 leaves BLAS's own default)")
    args = parser.parse_args(argv)
    if args.child:
        engine, name, dtype, min_time, repeats = args.child
        print(json.dumps(child(engine, name, dtype, float(min_time), int(repeats))))
        return 0
    min_time, repeats = (0.05, 1) if args.quick else (args.min_time, args.repeats)
    wanted = set(args.workloads.split(","))
    results: dict[tuple[str, str], dict[str, dict]] = {}
    problems = []
    for key in workloads.WORKLOADS:
        if key[0] not in wanted:
            continue
        results[key] = {}
        engines = [e for e in args.engines.split(",") if available(e) and not (e == "micrograd" and key[0] == "mlp")]
        for e in set(args.engines.split(",")) - set(engines):
            print(f"skip {e} on {key[0]}: " + ("not installed" if not available(e) else
                  "one step of a 784-128-64-10 MLP on scalars takes tens of seconds"), file=sys.stderr)
        # Rounds interleave the engines, so a slow spell of the machine falls on all of them alike.
        for round_ in range(repeats):
            for engine in engines:
                print(f"timing {engine} on {key[0]} ({key[1]}), round {round_ + 1}/{repeats}", file=sys.stderr)
                r = run_child(engine, key[0], key[1], min_time, 1, args.blas_threads)
                if engine in results[key]:
                    results[key][engine]["runs_us"] += r["runs_us"]
                else:
                    results[key][engine] = r
        for r in results[key].values():
            r["median_us"] = statistics.median(r["runs_us"])
        reference = results[key].get("numpy")
        for engine, r in results[key].items():
            if reference and (msg := agree(r, reference, key[1])):
                problems.append(f"{engine} on {key[0]}/{key[1]}: {msg}")
    header = ["| workload | dtype | engine | µs per step (median) | vs PyTorch | vs the floor (hand-written NumPy) |",
              "|---|---|---|---:|---|---|"]
    rows = [row for key in results for row in _ratio_rows(results, key)]
    lines = [
        "# Benchmark results", "",
        f"Measured {date.today().isoformat()} with `python -m benchmarks{' --quick' if args.quick else ''}` on "
        f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, NumPy "
        f"{np.__version__}. Each time is the median of {repeats} runs of at least {min_time:g} s each, one per "
        "process, in rounds that time every engine back to back; each ratio is the median of the rounds' own "
        "ratios (the targets table gives their range), so a slow spell of the machine falls on both sides of "
        "it. The floor is "
        "`benchmarks/engines/numpy_engine.py`: straight-line NumPy written for each workload, no graph. NumPy's BLAS "
        + (f"ran with {args.blas_threads} thread(s) in every process" if args.blas_threads else "ran with its default "
           "threads") + "; PyTorch is timed with 1 thread and with its default.", "",
        "Every engine's first-step loss and gradients were checked against the hand-written NumPy reference "
        "before timing" + (": all agree." if not problems else ". Disagreements: " + "; ".join(problems)), "",
        *header, *rows, "",
        "| workload | target | asked | this run | |", "|---|---|---|---|---|", *target_rows(results), "",
        "| also measured | result | target |", "|---|---|---|", *extras(args.quick),
        *compile_time.rows(list(results), available(JAX), args.quick), "",
    ]
    out = Path(args.output)
    kept = out.read_text(encoding="utf-8").partition(memory.MARK) if out.exists() else ("", "", "")
    out.write_text("\n".join(lines) + (f"\n{kept[1]}{kept[2]}" if kept[1] else ""), encoding="utf-8")  # memory.py's
    print("\n".join(lines))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
