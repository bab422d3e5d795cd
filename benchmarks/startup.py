"""How long the command line takes to start: ``python -m benchmarks.startup``.

Each case is a new Python process, timed from launch to exit (wall clock): ``backproplab --version``,
``backproplab --help``, ``backproplab demo statquest`` (its whole run and report) and
``import backproplab``. The command line is started as ``python -m backproplab``, which imports what
the ``backproplab`` script imports. Python's bytecode is compiled once before timing, into a
folder of its own (``PYTHONPYCACHEPREFIX``), as an installed package has it. Rounds time every
case back to back, so a slow spell of a shared machine falls on all of them; ``--tree LABEL=SRC``
times another source tree round by round with this one (a before and after). Writes its table
into benchmarks/RESULTS.md between the startup markers (keeping the rest).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import results

START = "<!-- startup timings: python -m benchmarks.startup -->"
END = "<!-- /startup timings -->"
# (label, arguments after ``python``, target in milliseconds)
CASES = [
    ("backproplab --version", ["-m", "backproplab", "--version"], 150),
    ("backproplab --help", ["-m", "backproplab", "--help"], 150),
    ("backproplab demo statquest", ["-m", "backproplab", "demo", "statquest"], 500),
    ("import backproplab", ["-c", "import backproplab"], None),
]


def environment(src: str | None, cache: str) -> dict[str, str]:
    """The child's environment: bytecode kept in ``cache``, and ``src`` first on the path if given."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Milliseconds from starting ``python ARGS`` until it has ended, and the CPU milliseconds it used
    (a busy machine sways these less); an error stops the benchmark."""
    cpu0, t0 = children_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall, cpu = (time.perf_counter() - t0) * 1000, (children_cpu() - cpu0) * 1000
    if done.returncode:
        raise RuntimeError(f"python {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return wall, cpu


Times = dict[str, dict[str, list[tuple[float, float]]]]  # tree -> case -> (wall, CPU) milliseconds


def measure(repeats: int, trees: list[tuple[str, str | None]]) -> Times:
    """Every case of every tree ``repeats`` times, round by round, after one untimed run that compiles the bytecode."""
    times: Times = {tree: {label: [] for label, _, _ in CASES} for tree, _ in trees}
    with tempfile.TemporaryDirectory(prefix="backproplab-startup-") as cache:
        envs = {tree: environment(src, str(Path(cache, str(i)))) for i, (tree, src) in enumerate(trees)}
        for tree, _ in trees:
            for _, args, _ in CASES:
                run_once(args, envs[tree])
        for _ in range(repeats):
            for label, args, _ in CASES:
                for tree, _ in trees:
                    times[tree][label].append(run_once(args, envs[tree]))
    return times


def verdict(median: float, target: float | None) -> str:
    if target is None:
        return "—"
    return f"< {target} ms: " + ("met" if median < target else "MISSED")


def table(times: Times) -> list[str]:
    """Best and median wall-clock milliseconds of each case (a row per tree), judged on the median against
    the target, and the median CPU milliseconds."""
    several = len(times) > 1
    rows = ["| case | " + ("tree | " if several else "") + "best ms | median ms | target (on the median) | "
            "CPU ms (median) |", "|---|" + ("---|" if several else "") + "---:|---:|---|---:|"]
    for label, _, target in CASES:
        for tree, by_case in times.items():
            wall = [w for w, _ in by_case[label]]
            median = statistics.median(wall)
            cpu = statistics.median(c for _, c in by_case[label])
            rows.append(f"| {label} | " + (f"{tree} | " if several else "") +
                        f"{min(wall):,.0f} | {median:,.0f} | {verdict(median, target)} | {cpu:,.0f} |")
    return rows


def write(lines: list[str], output: Path) -> None:
    """Put the section between its markers in ``output``, keeping the rest of the file."""
    results.write_section(output, START, END, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs of each case (default: 10)")
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=SRC",
                        help="also time the source tree SRC (its src folder) under LABEL, round by round with this "
                        "one (repeatable)")
    parser.add_argument("--output", default=str(Path(__file__).with_name("RESULTS.md")))
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be 1 or more")
    trees: list[tuple[str, str | None]] = [("this tree", None), *results.source_trees(parser, args.tree)]
    load_before = os.getloadavg()[0]
    times = measure(args.repeats, trees)
    load_after = os.getloadavg()[0]
    lines = ["", "## Start-up", "",
             results.measured_on("python -m benchmarks.startup") + f": {args.repeats} "
             "runs of each case, each a new process timed from launch to exit, bytecode compiled beforehand. "
             + results.load_note(load_before, load_after),
             "", *table(times)]
    print("\n".join(lines))
    if not args.no_write:
        write([*lines, ""], Path(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
