"""``python -m benchmarks.memory``: peak memory of long runs, and time of explain and graph on deep graphs.

Each case runs the ``backproplab`` command in a fresh process and reads that process's
peak resident set size (``ru_maxrss``), so one case's memory cannot hide in another's.
The results replace the memory section of benchmarks/RESULTS.md (``python -m benchmarks``
keeps that section when it rewrites the file).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import results

MARK = "<!-- memory: written by python -m benchmarks.memory -->"
END = "<!-- /memory -->"
RSS_TARGET_MB = 300
DEEP_TARGET_S = 30.0
PROBE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(json.dumps({'rc': p.returncode, 'seconds': time.perf_counter() - t, 'err': p.stderr[-400:],\n"
    "                  'cpu': r.ru_utime + r.ru_stime, 'peak_kb': r.ru_maxrss}))\n"
)


def measure(*args: str) -> dict:
    """Run ``backproplab ARGS`` in a fresh process: exit code, seconds and peak RSS in MB."""
    cmd = [sys.executable, "-c", PROBE, sys.executable, "-m", "backproplab", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    result["peak_mb"] = result["peak_kb"] / 1024
    return result


def chain_spec(n: int) -> str:
    """A formula network of ``n`` named nodes in a chain (tanh and affine in turn), one parameter."""
    lines = ["version = 1", 'name = "chain"', "[network]", 'kind = "formulas"', 'inputs = ["x"]', f'output = "h{n}"',
             "[network.nodes]", 'h1 = "w1 * x"']
    lines += [f'h{i} = "h{i - 1} * 0.5 + w1"' if i % 2 else f'h{i} = "tanh(h{i - 1})"' for i in range(2, n + 1)]
    lines += ["[network.parameters]", "w1 = 0.5", "[data]", "x = [0.0, 0.5, 1.0]", "y = [0.0, 1.0, 0.0]",
              "[training]", 'loss = "ssr"', 'optimize = ["w1"]', "max_steps = 2", "[training.optimizer]",
              'name = "gradient_descent"', "lr = 0.01"]
    return "\n".join(lines) + "\n"


def cases(steps: int, chain: int, folder: Path) -> list[tuple[str, tuple[str, ...], str]]:
    spec = folder / "chain.toml"
    spec.write_text(chain_spec(chain), encoding="utf-8")
    rss = f"< {RSS_TARGET_MB} MB"
    return [
        (f"moons, {steps:,} steps, terminal report", ("demo", "moons", "--max-steps", str(steps), "--quiet"), rss),
        (f"moons, {steps:,} steps, --json", ("demo", "moons", "--max-steps", str(steps), "--json", "--quiet"), rss),
        (f"moons, {steps:,} steps, --save", ("demo", "moons", "--max-steps", str(steps), "--quiet", "--save",
                                             str(folder / "trace.json")), rss),
        (f"statquest, all 7 parameters, {steps:,} steps, --json",
         ("demo", "statquest", "--optimize", "all", "--min-step", "0", "--max-steps", str(steps), "--json",
          "--quiet"), rss),
        (f"explain w1 on a chain of {chain:,} formula nodes", ("explain", str(spec), "--param", "w1"),
         f"< {DEEP_TARGET_S:g} s of CPU"),
        (f"graph of a chain of {chain:,} formula nodes", ("graph", str(spec), "-o", str(folder / "chain.dot")),
         f"< {DEEP_TARGET_S:g} s of CPU"),
    ]


def write_section(path: Path, rows: list[str], command: str) -> None:
    """Replace (or add) the memory section of RESULTS.md, keeping the rest."""
    section = ["", "## Long runs and deep graphs", "",
               f"Measured with `{command}`: each case is one `backproplab` process; peak memory is its maximum "
               "resident set size. A run of more than 10,000 steps keeps every k-th iteration and the last "
               "(at most 10,000; `--keep-every 1` keeps all), which is what keeps memory flat.", "",
               "| case | exit code | seconds | CPU seconds | peak memory | target |", "|---|---:|---:|---:|---:|---|",
               *rows, "", "Seconds are wall-clock time on a machine shared with other work; CPU seconds are the "
               "process's own (user + system).", ""]
    results.write_section(path, MARK, END, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="training steps of the long runs (100,000)")
    parser.add_argument("--chain", type=int, default=100_000, help="nodes of the deep chain (100,000)")
    parser.add_argument("--output", default=str(Path(__file__).with_name("RESULTS.md")))
    args = parser.parse_args(argv)
    rows, failed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, cmd, target in cases(args.steps, args.chain, Path(tmp)):
            print(f"measuring: {label}", file=sys.stderr)
            r = measure(*cmd)
            # time targets are judged on the process's own CPU time: wall-clock time on a shared machine
            # measures the other work too (both are in the table)
            met = r["peak_mb"] < RSS_TARGET_MB if "MB" in target else r["cpu"] < DEEP_TARGET_S
            if r["rc"] != 0 or not met:
                failed.append(f"{label}: exit {r['rc']}, {r['seconds']:.1f} s, {r['peak_mb']:.0f} MB {r['err']}")
            rows.append(f"| {label} | {r['rc']} | {r['seconds']:.1f} | {r['cpu']:.1f} | {r['peak_mb']:.0f} MB "
                        f"| {target} ({'met' if met else 'missed'}) |")
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m benchmarks.memory", *given])
    write_section(Path(args.output), rows, command)
    print("\n".join(rows))
    for f in failed:
        print("missed: " + f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
