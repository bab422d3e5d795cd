"""Bad and hostile input, one case per row: each ends in one clear line that names the place.

Every row is run the same way and must give exit code 2, a single line on stderr naming the
field (or file, or option), no traceback, nothing on stdout, no file written and the input
files unchanged. The rows that would exhaust memory or block run in a subprocess under a
memory limit (RLIMIT_AS) and a time limit, so a regression cannot take the machine down.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backproplab.spec.presets import PRESETS

from .conftest import cli

STATQUEST = PRESETS["statquest"].text
MOONS = PRESETS["moons"].text
CSV = "dose,effect\n0,0\n0.5,1\n1,0\n"
INLINE = "x = [0.0, 0.5, 1.0]    # dosage\ny = [0.0, 1.0, 0.0]    # efficacy"
HUGE = "z" * 1_000_000


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def sq(old: str, new: str) -> str:
    return edit(STATQUEST, old, new)


def moons(old: str, new: str) -> str:
    return edit(MOONS, old, new)


def csv_spec(name: str, x: str = '"dose"') -> str:
    return sq(INLINE, f'csv = "{name}"\nx = {x}\ny = "effect"')


def node(formula: str) -> str:
    return sq('h1 = "softplus(z1)"', f'h1 = "{formula}"')


SET = ["--max-steps", "2"]
# (id, files {name: text}, the command after the program name ({d} is the case's folder), expected words)
CASES = [
    # 1: parameters no formula uses; a node that hides a parameter
    ("unused parameter only", {"s.toml": sq("b3 = 0.0", "b3 = 0.0\nunused = 1.0").replace(
        'optimize = ["b3"]', 'optimize = ["unused"]')}, ["run", "{d}/s.toml"],
     "s.toml: training.optimize: no formula on the way to the output (yhat) uses unused"),
    ("node reuses a parameter's name", {"s.toml": sq('h2 = "softplus(z2)"', 'h2 = "softplus(z2)"\nw1 = "x * 2"')},
     ["run", "{d}/s.toml"], "network.nodes.w1: 'w1' is already the name of a parameter"),
    # 2: the parser and tomllib never recurse without bound
    ("200 nested parentheses", {"s.toml": node("(" * 200 + "z1" + ")" * 200)}, ["run", "{d}/s.toml"],
     ("network.nodes.h1: the formula ", "nests more than 100 levels deep")),
    ("100,000 unary minus signs", {"s.toml": node("-" * 100_000 + "z1")}, ["run", "{d}/s.toml"],
     ("network.nodes.h1: the formula ", "nests more than 100 levels deep")),
    ("5,000 powers", {"s.toml": node("z1" + " ^ z1" * 5000)}, ["run", "{d}/s.toml"],
     ("network.nodes.h1: the formula ", "nests more than 100 levels deep")),
    ("unclosed call", {"s.toml": node("softplus(z1")}, ["run", "{d}/s.toml"],
     "network.nodes.h1: expected ')' but the formula ended"),
    ("TOML nested 5,000 deep", {"s.toml": STATQUEST + "\n[extra]\na = " + "[" * 5000 + "]" * 5000 + "\n"},
     ["run", "{d}/s.toml"], "s.toml: cannot be read: its lists or tables nest too deeply"),
    # 4: oversized numbers
    ("huge number of inputs", {"m.toml": moons("inputs = 2", "inputs = 99999999999999999999")},
     ["run", "{d}/m.toml"], "network.inputs: must be at most 1,000,000,000"),
    ("layer size 1e20", {"m.toml": moons("{ size = 16,", "{ size = 1e20,")}, ["run", "{d}/m.toml"],
     "network.layers[0].size: should be a whole number, got 1e+20"),
    # 10: a literal that overflows
    ("literal 1e999 in a formula", {"s.toml": node("softplus(z1) * 1e999")}, ["run", "{d}/s.toml"],
     "network.nodes.h1: the number '1e999' is too large for a float64"),
    ("literal 1e999 as a setting", {"s.toml": sq("lr = 0.1", "lr = 1e999")}, ["run", "{d}/s.toml"],
     "training.optimizer.lr: must be a finite number"),
    ("huge integer as a setting", {"s.toml": sq("lr = 0.1", "lr = " + "9" * 400)}, ["run", "{d}/s.toml"],
     "training.optimizer.lr: must be a finite number"),
    # 11: messages with a location
    ("MLP seed -1", {"m.toml": moons("seed = 0\nlayers", "seed = -1\nlayers")}, ["run", "{d}/m.toml"],
     "network.seed: must be 0 or more, got -1"),
    ("node named like an input", {"s.toml": sq('h2 = "softplus(z2)"', 'h2 = "softplus(z2)"\nx = "w1 * 2"')},
     ["run", "{d}/s.toml"], "network.nodes.x: 'x' is already the name of an input"),
    ("3-D data.x", {"s.toml": sq("x = [0.0, 0.5, 1.0]", "x = [[[0.0], [0.5], [1.0]]]")}, ["run", "{d}/s.toml"],
     "data.x: is nested 3 deep"),
    ("explain an unknown parameter", {}, ["demo", "statquest", "--explain", "nosuch"],
     "unknown parameter 'nosuch' (choose from: w1"),
    ("contour over one parameter twice", {}, ["plot", "statquest", "contour", "--params", "w1,w1", "-o",
                                              "{d}/c.png"], "--params names 'w1' twice"),
    ("boolean parameter value", {"s.toml": sq("w1 = 3.34", "w1 = true")}, ["run", "{d}/s.toml"],
     "network.parameters.w1: should be a finite number, got True"),
    ("boolean MLP parameter value", {"m.toml": moons("[data]", "[network.parameters]\nb3 = [true]\n\n[data]")},
     ["run", "{d}/m.toml"], "network.parameters.b3: should be numbers, got [True]"),
    ("boolean data", {"s.toml": sq("x = [0.0, 0.5, 1.0]", "x = [false, true, true]")}, ["run", "{d}/s.toml"],
     "data.x: holds true/false"),
    ("no nodes", {"s.toml": 'version = 1\n[network]\nkind = "formulas"\ninputs = ["x"]\noutput = "yhat"\n'
                            '[network.nodes]\n[network.parameters]\nw1 = 1.0\n[data]\nx = [0.0]\ny = [0.0]\n'},
     ["run", "{d}/s.toml"], "network.nodes: is empty; give at least one formula"),
    ("empty node name", {"s.toml": sq('h2 = "softplus(z2)"', 'h2 = "softplus(z2)"\n"" = "x"')},
     ["run", "{d}/s.toml"], 'network.nodes."": a name cannot be empty'),
    ("duplicate CSV header", {"s.toml": csv_spec("d.csv"), "d.csv": "dose,effect,dose\n0,0,1\n0.5,1,1\n1,0,1\n"},
     ["run", "{d}/s.toml"], "d.csv:1: the column 'dose' appears twice in the header"),
    ("1 MB unknown name", {"s.toml": sq('optimize = ["b3"]', f'optimize = ["{HUGE}"]')}, ["run", "{d}/s.toml"],
     "training.optimize: unknown parameter 'zzzzzzzzzz"),
    ("1 MB node name", {"s.toml": sq('h2 = "softplus(z2)"', f'h2 = "softplus(z2)"\n{HUGE} = "x"')},
     ["run", "{d}/s.toml"], "is longer than 32 characters"),
    ("1 MB unknown name in a formula", {"s.toml": node(f"softplus({HUGE[:500_000]})")}, ["run", "{d}/s.toml"],
     "network.nodes.h1: uses 'zzzz"),
    ("1 MB --param", {}, ["explain", "statquest", "--param", HUGE], "unknown parameter 'zzzz"),
    ("misspelt parameter in another case", {}, ["explain", "moons", "--param", "w1"], "did you mean 'W1'?"),
    # 12: optimizer settings, each for the chosen optimizer
    ("adam eps -1 via --set", {"s.toml": STATQUEST},
     ["run", "{d}/s.toml", "--set", "optimizer.name=adam", "--set", "optimizer.eps=-1"],
     "training.optimizer.eps: must be a positive number"),
    ("adam betas out of range", {"s.toml": STATQUEST},
     ["run", "{d}/s.toml", "--set", "optimizer.name=adam", "--set", "optimizer.betas=[1.0, 0.5]"],
     "training.optimizer.betas: should be two numbers in [0, 1)"),
    ("sgd momentum 1", {"s.toml": STATQUEST},
     ["run", "{d}/s.toml", "--set", "optimizer.name=sgd", "--set", "optimizer.momentum=1"],
     "training.optimizer.momentum: must be in [0, 1)"),
    ("momentum for adam", {"s.toml": STATQUEST},
     ["run", "{d}/s.toml", "--set", "optimizer.name=adam", "--set", "optimizer.momentum=0.5"],
     "training.optimizer.momentum: unknown adam setting 'momentum'"),
    ("misspelt optimizer setting", {"s.toml": STATQUEST}, ["run", "{d}/s.toml", "--set", "optimizer.lrr=0.5"],
     "training.optimizer.lrr: unknown gradient_descent setting 'lrr'; did you mean 'lr'?"),
    ("lr without optimizer.", {"s.toml": STATQUEST}, ["run", "{d}/s.toml", "--set", "lr=0.05"],
     "training.lr: lr is an optimizer setting; did you mean 'optimizer.lr'?"),
    ("a parameter twice in optimize", {"s.toml": sq('optimize = ["b3"]', 'optimize = ["b3", "b3"]')},
     ["run", "{d}/s.toml"], "training.optimize: 'b3' appears twice"),
    # 14: a spec reads only regular files in its own folder
    ("csv up and out", {"s.toml": csv_spec("../../../../../../../../etc/passwd")}, ["run", "{d}/s.toml"],
     "data.csv: '../../../../../../../../etc/passwd' is outside"),
    ("csv absolute path", {"s.toml": csv_spec("/etc/passwd")}, ["run", "{d}/s.toml"],
     "data.csv: '/etc/passwd' is outside"),
    ("csv symlink out of the folder", {"s.toml": csv_spec("link.csv"), "link.csv": "->/etc/passwd"},
     ["run", "{d}/s.toml"], "data.csv: 'link.csv' is outside"),
    ("csv /proc/self/environ", {"s.toml": csv_spec("/proc/self/environ")}, ["run", "{d}/s.toml"],
     "data.csv: '/proc/self/environ' is outside"),
    ("csv a folder", {"s.toml": csv_spec("sub"), "sub/keep": ""}, ["run", "{d}/s.toml"], "sub' is a folder"),
    ("another folder's file does not leak", {"s.toml": csv_spec("/etc/passwd", '"zzz"')},
     ["run", "{d}/s.toml", "--data-dir", "/etc"], "data.x: unknown column 'zzz' (choose from: root:x:0:0"),
    # 15: names follow a safe pattern
    ("LaTeX in a node name", {"s.toml": sq('h2 = "softplus(z2)"', 'h2 = "softplus(z2)"\n"\\\\input{/etc/passwd}" '
                                           '= "x"')}, ["run", "{d}/s.toml"],
     "network.nodes.\\input{/etc/passwd}: the name '\\\\input{/etc/passwd}' may use only letters"),
    ("HTML in a parameter name", {"s.toml": sq("b3 = 0.0", 'b3 = 0.0\n"<img src=x onerror=alert(1)>" = 1.0')},
     ["run", "{d}/s.toml"], "network.parameters.<img src=x onerror=alert(1)>: the name"),
    ("input named with a digit first", {"s.toml": sq('inputs = ["x"]', 'inputs = ["1x"]')}, ["run", "{d}/s.toml"],
     "network.inputs[0]: the name '1x' may use only letters"),
    ("control characters in the description", {"s.toml": sq('name = "statquest"', 'name = "a\\u001b[31mb"')},
     ["run", "{d}/s.toml"], "name: should be one line of at most 500 printable characters"),
]

# Cases that would allocate without bound or block: run in a subprocess under limits.
RESOURCE_CASES = [
    ("layer of 10^9 units", {"m.toml": moons("{ size = 16,", "{ size = 1000000000,")}, ["run", "{d}/m.toml"],
     "network.layers[0].size: the network's parameters need"),
    ("10^9 generated samples", {"m.toml": moons("n = 100 ", "n = 1000000000 ")}, ["run", "{d}/m.toml"],
     "data.n: 1,000,000,000 samples need about"),
    ("activations too large for memory", {"m.toml": moons("n = 100 ", "n = 10000000 ").replace("size = 16,",
                                                                                          "size = 1000,")},
     ["run", "{d}/m.toml"], "data.n: 10,000,000 samples through this network need about"),
    ("csv /dev/zero", {"s.toml": csv_spec("/dev/zero")}, ["run", "{d}/s.toml", "--data-dir", "/dev"],
     "data.csv: '/dev/zero' is not a regular file"),
    ("csv FIFO", {"s.toml": csv_spec("fifo"), "fifo": "|fifo"}, ["run", "{d}/s.toml"],
     "is not a regular file (a device, FIFO or socket)"),
    ("spec FIFO", {"fifo.toml": "|fifo"}, ["run", "{d}/fifo.toml"], "is not a regular file"),
    ("a trace too large for memory", {"m.toml": moons("{ size = 16, activation = \"tanh\" },\n  { size = 16,",
                                                       "{ size = 2000, activation = \"tanh\" },\n  { size = 2000,")},
     ["run", "{d}/m.toml", "--max-steps", "20000"], "training.max_steps: 20,000 steps would record about"),
]


def make_files(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("->"):
            path.symlink_to(text[2:])
        elif text == "|fifo":
            os.mkfifo(path)
        else:
            path.write_text(text, encoding="utf-8")


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under the folder and a hash of each regular file's bytes (links and FIFOs not followed)."""
    state = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            state[str(path)] = "link" if path.is_symlink() else "other"
        else:
            state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def check_clean(code: int, out: str, err: str, expected: str | tuple[str, ...]) -> None:
    assert code == 2, (code, err[-500:])
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err[:1000]
    assert len(err) < 600, f"message of {len(err)} characters: {err[:300]}"
    for words in (expected,) if isinstance(expected, str) else expected:
        assert words in err, err[:1000]


@pytest.mark.parametrize(("case", "files", "argv", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_bad_input_gives_one_line_naming_the_place(capsys, tmp_path, case, files, argv, expected):
    make_files(tmp_path, files)
    before = snapshot(tmp_path)
    code, out, err = cli(capsys, *[a.replace("{d}", str(tmp_path)) for a in argv], *SET)
    check_clean(code, out, err, expected)
    assert snapshot(tmp_path) == before, "a file was written or changed"


RUNNER = textwrap.dedent("""
    import json, resource, sys
    limit = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from backproplab.cli.program import main
    results = []
    for argv in json.loads(sys.argv[1]):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        sys.stdout.flush()
        sys.stderr.write("\\n@@END@@\\n")
        sys.stderr.flush()
        results.append(code)
    print(json.dumps(results))
""")


def test_resource_cases_are_refused_quickly_under_a_memory_limit(tmp_path):
    """All rows in one subprocess (one start-up), limited to 2 GB of address space and 60 s."""
    runs, befores = [], []
    for i, (_, files, argv, _) in enumerate(RESOURCE_CASES):
        folder = tmp_path / str(i)
        folder.mkdir()
        make_files(folder, files)
        befores.append(snapshot(folder))
        runs.append([a.replace("{d}", str(folder)) for a in argv])
    proc = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(runs)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, stdin=subprocess.DEVNULL)
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    errs = proc.stderr.split("\n@@END@@\n")
    assert len(codes) == len(RESOURCE_CASES) and len(errs) == len(RESOURCE_CASES) + 1, proc.stderr[-2000:]
    for i, (case, _, _, expected) in enumerate(RESOURCE_CASES):
        check_clean(codes[i], "", errs[i].strip() + "\n", expected)
        assert snapshot(tmp_path / str(i)) == befores[i], case


def test_mlp_of_a_billion_units_is_refused_under_a_memory_limit():
    code = textwrap.dedent("""
        import resource, time
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))
        import backproplab as bl
        from backproplab.util import limits as bl_limits
        start = time.process_time()  # CPU time: other work on the machine (a parallel test run) does not count
        try:
            bl.MLP([2, 10**9, 1])
        except ValueError as exc:
            print(round(time.process_time() - start, 3), exc)
        print(bl_limits.default_limit())
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    first, default = proc.stdout.strip().splitlines()
    seconds, _, message = first.partition(" ")
    assert float(seconds) < 1, proc.stdout
    assert int(default) <= 1024**3  # at most half the process's own limit
    assert "4,000,000,001 parameters" in message and "more than the limit" in message
