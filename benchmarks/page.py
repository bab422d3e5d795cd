"""How long a learner waits on the lesson page, driven in chromium: ``python -m benchmarks.page``.

For every preset a new ``backproplab serve`` process (nothing cached) serves the page to a new
browser context, and four waits are timed from the learner's action until the page shows its result:

- first load: from opening the address until the first iteration's worked gradient is shown;
- step: from pressing → until iteration 2's worked gradient is shown (the server is asked for it);
- learning rate: from changing the learning rate until the new run is drawn with the current
  iteration's worked gradient;
- preset: from choosing the next preset until its run is drawn with its worked gradient.

"Shown" is read from the page's own state: the derivation's title names the iteration, the
derivation holds the working (not the "working it out …" note), and the status line is empty.
Beside each wait, the part the page's requests to the server took; and, apart from the browser,
the server's CPU time for the same requests. ``--tree LABEL=SRC`` times other source trees round
by round with this one (a before and after on a shared machine). Writes its tables into
benchmarks/RESULTS.md between the page markers (keeping the rest).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks import results

START = "<!-- page timings: python -m benchmarks.page -->"
END = "<!-- /page timings -->"
PRESETS = ["statquest", "moons", "xor", "circles", "spiral", "regression", "classic"]
WAITS = [("load", "first load", 1000), ("step", "step (→) to the worked gradient", 250),
         ("lr", "learning-rate change", 500), ("preset", "preset switch (to this one)", 500)]
CHROMIUM = os.environ.get("BACKPROPLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOWN = """(k) => {
  const title = (document.getElementById("derivation-title") || {}).textContent || "";
  const box = document.getElementById("derivation");
  const banner = document.getElementById("banner");
  if (!box || !banner) return false;
  if (!banner.hidden && banner.className === "error") return "error: " + banner.textContent;
  return title.endsWith(` at iteration ${k}`) && box.children.length > 0 && !box.querySelector("p.missing")
    && document.getElementById("status").textContent === "";
}"""


@contextlib.contextmanager
def served(preset: str, src: str | None = None) -> Iterator[str]:
    """``backproplab serve`` in its own process (so no run is cached, and the browser's driver does not
    share its interpreter) on a free loopback port, until the block ends; ``src`` is the source tree
    to import backproplab from (default: the installed one)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.Popen([sys.executable, "-m", "backproplab", "serve", preset, "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"http://[^/\s]+", line)
        if not found:
            raise RuntimeError(f"backproplab serve did not start: {line.strip()}")
        yield found.group(0)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def wait_shown(page, iteration: int, timeout_ms: float = 60_000) -> None:
    """Wait until the page shows ``iteration``'s worked gradient; a banner with an error stops the run."""
    handle = page.wait_for_function(f"() => {{ const r = ({SHOWN})({iteration}); return r; }}",
                                    polling="raf", timeout=timeout_ms)
    value = handle.json_value()
    if isinstance(value, str):
        raise RuntimeError(f"the page showed {value}")


SERVER_TIME = """() => {
  const own = performance.getEntriesByType("resource").filter((e) => e.name.includes("/api/"));
  performance.clearResourceTimings();
  return own.reduce((sum, e) => sum + (e.responseEnd - e.requestStart), 0);
}"""


def timed(action, page, iteration: int) -> tuple[float, float]:
    """Milliseconds from ``action()`` until iteration ``iteration``'s worked gradient is shown, and how
    many of them the page's requests to the server took (from asking to the last byte of the answer)."""
    if page.url.startswith("http"):
        page.evaluate(SERVER_TIME)  # forget the requests before the action
    t0 = time.perf_counter()
    action()
    wait_shown(page, iteration)
    return (time.perf_counter() - t0) * 1000, page.evaluate(SERVER_TIME)


def one_round(browser, preset: str, following: str, src: str | None) -> dict[str, tuple[float, float]]:
    """The four waits on a fresh server and a fresh browser context; the switch goes to ``following``."""
    out: dict[str, tuple[float, float]] = {}
    with served(preset, src) as url:
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        try:
            out["load"] = timed(lambda: page.goto(url + "/", wait_until="commit"), page, 1)
            out["step"] = timed(lambda: page.keyboard.press("ArrowRight"), page, 2)
            lr = float(page.eval_on_selector("#lr", "el => el.value"))
            out["lr"] = timed(lambda: page.eval_on_selector(
                "#lr", "(el, v) => { el.value = v; el.dispatchEvent(new Event('change')); }", repr(lr * 0.8)), page, 2)
            out["preset"] = timed(lambda: page.select_option("#preset", following), page, 1)
        finally:
            context.close()
    return out


def launch(playwright):
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        raise SystemExit(f"chromium is not installed at {CHROMIUM}: apt-get install chromium")
    return playwright.chromium.launch(executable_path=path, headless=True, args=ARGS)


Times = dict[str, dict[str, dict[str, list[tuple[float, float]]]]]  # tree -> preset -> wait -> (total, server)


def measure(repeats: int, presets: list[str], trees: list[tuple[str, str | None]]) -> Times:
    """Every wait of every preset over ``repeats`` rounds, for each source tree in turn at each preset (so
    a slow spell of a shared machine falls on all of them); a preset switch is filed under the one it goes to."""
    from playwright.sync_api import sync_playwright

    times: Times = {t: {p: {w: [] for w, _, _ in WAITS} for p in presets} for t, _ in trees}
    with sync_playwright() as p:
        browser = launch(p)
        try:
            for _ in range(repeats):
                for i, preset in enumerate(presets):
                    following = presets[(i + 1) % len(presets)]
                    for tree, src in trees:
                        got = one_round(browser, preset, following, src)
                        for wait in ("load", "step", "lr"):
                            times[tree][preset][wait].append(got[wait])
                        times[tree][following]["preset"].append(got["preset"])
                        print(tree, preset, {k: round(v[0]) for k, v in got.items()}, flush=True)
        finally:
            browser.close()
    return times


def table(times: dict[str, dict[str, list[tuple[float, float]]]]) -> list[str]:
    """Median and max of each wait per preset against its target, and the median of the server's part."""
    head = "| preset | " + " | ".join(f"{label} (target {target} ms)" for _, label, target in WAITS) + " |"
    rows = [head, "|---|" + "---:|" * len(WAITS)]
    for preset, waits in times.items():
        cells = []
        for wait, _, target in WAITS:
            got = waits[wait]
            if not got:
                cells.append("—")
                continue
            total, server = [t for t, _ in got], [s for _, s in got]
            worst = max(total)
            cells.append(f"{statistics.median(total):,.0f} / {worst:,.0f}" + ("" if worst <= target else " ✗") +
                         f" ({statistics.median(server):,.0f})")
        rows.append(f"| {preset} | " + " | ".join(cells) + " |")
    return rows


CPU_PARTS = [("lesson", "the lesson document (train, build, JSON)"),
             ("first", "the first GET /api/lesson (after the warm-up, where the server makes one)"),
             ("entry", "the first worked entry (iteration 1)"),
             ("step", "a step's detail (iteration 2)"), ("lr", "a new learning rate: document and detail")]


def server_cpu(preset: str, repeats: int) -> dict[str, list[float]]:
    """CPU milliseconds of the server's answers to what the page asks, each repeat on a new app: the
    lesson (its warm-up before serving and the first GET together, and that GET alone), the first selected
    parameter's worked gradient (its entry [1, 1] for a matrix) at iteration 1
    and 2, and a learning-rate change with its detail. CPU time is less swayed by a busy machine than
    waiting is."""
    import warnings

    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

    try:
        from backproplab.lesson.server import create_app
        from backproplab.lesson.settings import Settings
    except ImportError:  # a tree from before the lesson package had its folder: the same server under web/
        from backproplab.web.server import create_app  # type: ignore[no-redef]
        from backproplab.web.settings import Settings  # type: ignore[no-redef]

    out: dict[str, list[float]] = {part: [] for part, _ in CPU_PARTS}

    def cpu(ask) -> tuple[float, dict]:
        t0 = time.process_time()
        r = ask()
        if r.status_code != 200:
            raise RuntimeError(f"the server answered {r.status_code}: {r.text[:200]}")
        return (time.process_time() - t0) * 1000, r.json()

    for _ in range(repeats):
        app = create_app(Settings(preset=preset))
        warm = getattr(app.state, "warm", None)  # a tree whose server builds the first lesson before serving
        t0 = time.process_time()
        if warm is not None:
            warm()
        before = (time.process_time() - t0) * 1000
        client = TestClient(app, base_url="http://127.0.0.1")
        ms, doc = cpu(lambda: client.get("/api/lesson"))
        out["lesson"].append(before + ms)
        out["first"].append(ms)
        param = doc["trace"]["optimize"][0]
        value = doc["trace"]["iterations"][0]["params"][param]
        index = [0] * np.ndim(value) if np.ndim(value) else None
        ask = {"settings": {"preset": preset}, "param": param, "index": index}
        out["entry"].append(cpu(lambda: client.post("/api/detail", json=dict(ask, iteration=1)))[0])
        out["step"].append(cpu(lambda: client.post("/api/detail", json=dict(ask, iteration=2)))[0])
        changed = {"preset": preset, "lr": doc["settings"]["lr"] * 0.8}
        ms, _ = cpu(lambda: client.post("/api/lesson", json=changed))
        ms2, _ = cpu(lambda: client.post("/api/detail", json=dict(ask, settings=changed, iteration=2)))
        out["lr"].append(ms + ms2)
    return out


def measure_cpu(repeats: int, presets: list[str], trees: list[tuple[str, str | None]]) -> dict:
    """:func:`server_cpu` for every preset, each tree in its own process, tree after tree at each preset."""
    got: dict[str, dict[str, dict[str, list[float]]]] = {t: {} for t, _ in trees}
    for preset in presets:
        for tree, src in trees:
            env = dict(os.environ)
            if src:
                env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
            run = subprocess.run([sys.executable, "-m", "benchmarks.page", "--cpu", preset, "--repeats", str(repeats)],
                                 capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parent.parent)
            if run.returncode:
                raise RuntimeError(f"timing {preset} in {tree} failed: {run.stderr.strip()[-400:]}")
            got[tree][preset] = json.loads(run.stdout.strip().splitlines()[-1])
            print(tree, preset, {k: round(statistics.median(v)) for k, v in got[tree][preset].items()}, flush=True)
    return got


def cpu_table(times: dict[str, dict[str, dict[str, list[float]]]]) -> list[str]:
    """Median CPU milliseconds of each part, a column per tree for each part."""
    trees = list(times)
    head = "| preset | " + " | ".join(f"{label}: {tree}" if len(trees) > 1 else label
                                      for _, label in CPU_PARTS for tree in trees) + " |"
    rows = [head, "|---|" + "---:|" * (len(CPU_PARTS) * len(trees))]
    for preset in times[trees[0]]:
        cells = [f"{statistics.median(times[tree][preset][part]):,.0f}" for part, _ in CPU_PARTS for tree in trees]
        rows.append(f"| {preset} | " + " | ".join(cells) + " |")
    return rows


def write(lines: list[str], output: Path) -> None:
    """Put the section between its markers in ``output``, keeping the rest of the file."""
    results.write_section(output, START, END, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.page", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma list of: " + ", ".join(PRESETS))
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=SRC",
                        help="time the page served from the source tree SRC (its src folder) under LABEL, round by "
                        "round with the others (repeatable; default: the installed backproplab)")
    parser.add_argument("--note", default="", help="a sentence to write above the tables")
    parser.add_argument("--output", default=str(Path(__file__).with_name("RESULTS.md")))
    parser.add_argument("--no-write", action="store_true", help="print the tables only")
    parser.add_argument("--no-browser", action="store_true", help="time the server's CPU only")
    parser.add_argument("--cpu", metavar="PRESET", help=argparse.SUPPRESS)  # one preset's server CPU, as JSON
    args = parser.parse_args(argv)
    if args.cpu:
        print(json.dumps(server_cpu(args.cpu, args.repeats)))
        return 0
    presets = [p for p in args.presets.split(",") if p]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        parser.error(f"unknown preset(s) {', '.join(unknown)}; choose from {', '.join(PRESETS)}")
    trees: list[tuple[str, str | None]] = [*results.source_trees(parser, args.tree)] or [("this tree", None)]
    load_before = os.getloadavg()[0]  # how busy the shared machine was, written beside the tables
    cpu = measure_cpu(args.repeats, presets, trees)
    times = {} if args.no_browser else measure(args.repeats, presets, trees)
    load_after = os.getloadavg()[0]
    lines = ["", "## The lesson page in chromium", "",
             results.measured_on("python -m benchmarks.page") + f"; {args.repeats} rounds, each on a new "
             "`backproplab serve` process and a new browser context at "
             "1366×768. Milliseconds from the learner's action until the page shows the result with its worked "
             "gradient: median / max (✗: the max is over its target), and in brackets the median of the time "
             "the page's requests to the server took (asked to answered; the rest is the browser's). "
             + results.load_note(load_before, load_after),
             *([""] + [args.note] if args.note else [])]
    for tree, by_preset in times.items():
        lines += ["", *([f"{tree}:", ""] if len(times) > 1 else []), *table(by_preset)]
    lines += ["", "The server's side alone: median CPU milliseconds of its answers to what the page asks (on a new "
              "app each time, in-process, without the network), which a busy machine sways less than waiting.",
              "", *cpu_table(cpu)]
    print("\n".join(lines))
    if not args.no_write:
        write([*lines, ""], Path(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
