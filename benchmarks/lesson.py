"""Time and size of the lesson page's documents: ``python -m benchmarks.lesson``.

Writes its table into benchmarks/RESULTS.md between the lesson markers (keeping the rest of
the file), so it can be rerun on its own.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from backproplab.lesson import document as lesson
from backproplab.lesson.settings import Settings, load_job
from benchmarks import results

START = "<!-- lesson page: python -m benchmarks.lesson -->"
END = "<!-- /lesson page -->"
CASES = [
    ("dosage, b3, as the example (12 iterations)", Settings(), False),
    ("dosage, b3, 1,000 iterations (min-step 0)", Settings(min_step=0.0, max_steps=1000), False),
    ("dosage, all 7 parameters, 1,000 iterations", Settings(optimize="all", min_step=0.0, max_steps=1000), False),
    ("moons, 2,000 steps (served)", Settings(preset="moons", max_steps=2000), False),
    ("moons, 2,000 steps (exported, every explanation that fits)", Settings(preset="moons", max_steps=2000), True),
]


def measure(settings: Settings, everything: bool, repeats: int) -> tuple[float, float, int]:
    """Median seconds to train, median seconds for the whole recompute (train, document, JSON), bytes."""
    train, total, size = [], [], 0
    for _ in range(repeats):
        job = load_job(settings)
        t0 = time.perf_counter()
        lesson.train(job)
        train.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        size = len(lesson.to_json(lesson.build(settings, everything=everything)).encode("utf-8"))
        total.append(time.perf_counter() - t0)
    return statistics.median(train), statistics.median(total), size


def concurrent(n: int = 50, concurrency: int = 4) -> tuple[int, list[float], list[float]]:
    """``n`` recompute requests at once against a real server on loopback: (answered, all
    latencies, answered latencies), each answer checked to be a lesson or a clear "busy"."""
    import concurrent.futures
    import threading

    import httpx
    import uvicorn

    from backproplab.lesson.server import bind, create_app

    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(concurrency=concurrency), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with httpx.Client(timeout=120) as http:
            def one(i: int) -> tuple[int, float]:
                t0 = time.perf_counter()
                r = http.post(f"{url}/api/lesson", json={"lr": 0.01 * (i % 10 + 1), "max_steps": 200})
                body = r.json()
                if not (r.status_code == 200 and body["trace"]["iterations"] or
                        r.status_code == 503 and "busy" in body["error"]):
                    raise RuntimeError(f"unexpected answer {r.status_code}: {str(body)[:200]}")
                return r.status_code, time.perf_counter() - t0

            with concurrent.futures.ThreadPoolExecutor(n) as pool:
                results = list(pool.map(one, range(n)))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    times = sorted(t for _, t in results)
    done = sorted(t for s, t in results if s == 200)
    return len(done), times, done


def _afresh(trace, net, name: str, k: int, index: tuple[int, ...] | None) -> str:
    """Iteration k's explanation the way it was made before: the model at its values, a new graph, explain()."""
    from backproplab.engine.tensor import Tensor
    from backproplab.explain import explain
    from backproplab.nn.losses import get_loss
    from backproplab.train.trace import scalar

    it = trace.iterations[k - 1]
    net.load_state_dict(it.params)
    loss = get_loss(trace.loss)(net(Tensor(trace.inputs, name="x")), Tensor(trace.targets, name="y"))
    step = np.asarray(it.step_sizes[name])
    return explain(loss, net.parameter(name), lr=trace.learning_rate, step_rule=trace.optimizer,
                   step=float(step[index]) if index is not None else scalar(step), index=index).to_text()


def whole_runs(steps: int, sample: int) -> list[str]:
    """Moons' explanations at every iteration of a long run: built once and filled in (RunExplainer), and
    one at a time on a new graph as before (timed on ``sample`` iterations spread over the run, scaled up)."""
    from backproplab.explain.plan import RunExplainer

    job = load_job(Settings(preset="moons", max_steps=steps))
    start = {n: p.data.copy() for n, p in job.net.named_parameters()}
    trace = lesson.train(job)
    job.net.load_state_dict(start)
    n = len(trace.iterations)
    every = [(name, None) for name in trace.optimize]
    entries = [("W1", (1, 15)), ("b1", (15,)), ("W2", (15, 15)), ("b2", (15,)), ("W3", (15, 0)), ("b3", (0,))]
    rows = ["", f"Moons' worked gradients at every iteration of a {n:,}-iteration run, rendered as text. Before: each "
            "one on a new graph with `bl.explain` (timed on "
            f"{sample} iterations spread over the run, times {n / sample:g}). After: `RunExplainer`, the structure "
            "built once per explanation and the numbers of every iteration filled in together, then each rendered.",
            "", "| explanations | before | after: built and filled | after: rendered too | one, once built |",
            "|---|---:|---:|---:|---:|"]
    for what, keys in ((f"all {len(every)} parameters, as explain picks (layer by layer; b3 entry by entry)", every),
                       (f"one entry of each of the {len(entries)} parameters (--index)", entries)):
        picks = np.linspace(1, n, sample).round().astype(int)
        t0 = time.perf_counter()
        for k in picks:
            for name, index in keys:
                _afresh(trace, job.net, name, int(k), index)
        before = (time.perf_counter() - t0) * n / sample
        job.net.load_state_dict(start)
        t0 = time.perf_counter()
        plan = RunExplainer(trace, job.net)
        plan.prepare(keys)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        for k in range(1, n + 1):
            for name, index in keys:
                plan.explanation(name, k, index).to_text()
        rendered = time.perf_counter() - t0
        name, index = keys[0]
        one = []
        for k in picks:
            t0 = time.perf_counter()
            plan.explanation(name, int(k), index)
            one.append(time.perf_counter() - t0)
        rows.append(f"| {what}: {len(keys) * n:,} | {before:,.1f} s | {built:.2f} s | {built + rendered:.2f} s "
                    f"({before / (built + rendered):,.0f}× faster) | {statistics.median(one) * 1000:.2f} ms |")
        print(rows[-1])
    return rows


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sample", type=int, default=20, help="iterations the explanations made one at a time are "
                        "timed on")
    parser.add_argument("--output", default=str(Path(__file__).with_name("RESULTS.md")))
    args = parser.parse_args(argv)
    lines = ["", "## The lesson page's documents", "",
             f"Measured with `python -m benchmarks.lesson` on {platform.machine()}, CPython "
             f"{platform.python_version()}; medians of {args.repeats} runs. \"Recompute\" is what one request to "
             "`backproplab serve` costs: load the settings, train, build the lesson document and write its JSON. "
             "Targets: the dosage lesson with 1,000 iterations in under 100 ms; moons with 2,000 steps under 2 MB.",
             "", "| lesson | training alone | recompute (ms) | document size |", "|---|---:|---:|---:|"]
    for name, settings, everything in CASES:
        train, total, size = measure(settings, everything, args.repeats)
        lines.append(f"| {name} | {train * 1000:,.0f} ms | {total * 1000:,.0f} | {size / 1e6:.2f} MB |")
        print(lines[-1])
    answered, times, done = concurrent()
    lines += ["", f"50 recompute requests at once on loopback (dosage, 200 steps, the server admitting 4 at a time): "
              f"{answered} answered with a correct lesson, {50 - answered} with a clear 503 \"busy\"; none failed. "
              f"Latency over all 50: p50 {percentile(times, 0.5) * 1000:.0f} ms, "
              f"p95 {percentile(times, 0.95) * 1000:.0f} ms; over the answered ones: "
              f"p50 {percentile(done, 0.5) * 1000:.0f} ms, "
              f"p95 {percentile(done, 0.95) * 1000:.0f} ms."]
    print(lines[-1])
    lines += whole_runs(2000, args.sample)
    lines += [""]
    results.write_section(Path(args.output), START, END, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
