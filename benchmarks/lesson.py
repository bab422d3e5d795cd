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

from backproplab.web import lesson
from backproplab.web.settings import Settings

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
    from backproplab.web.settings import load_job

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(Path(__file__).with_name("RESULTS.md")))
    args = parser.parse_args(argv)
    lines = [START, "", "## The lesson page's documents", "",
             f"Measured with `python -m benchmarks.lesson` on {platform.machine()}, CPython "
             f"{platform.python_version()}; medians of {args.repeats} runs. \"Recompute\" is what one request to "
             "`backproplab serve` costs: load the settings, train, build the lesson document and write its JSON. "
             "Targets: the dosage lesson with 1,000 iterations in under 100 ms; moons with 2,000 steps under 2 MB.",
             "", "| lesson | training alone | recompute (ms) | document size |", "|---|---:|---:|---:|"]
    for name, settings, everything in CASES:
        train, total, size = measure(settings, everything, args.repeats)
        lines.append(f"| {name} | {train * 1000:,.0f} ms | {total * 1000:,.0f} | {size / 1e6:.2f} MB |")
        print(lines[-1])
    lines += ["", END]
    out = Path(args.output)
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    if START in text and END in text:
        text = text[:text.index(START)] + "\n".join(lines) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
