"""Memory and time on ordinary and large input: every part of a run's record is in the estimate, a run
over the limit is refused before it starts, and names are looked up in one step however many there are.

The memory cases run in a subprocess under ``resource.setrlimit(RLIMIT_AS, ...)``, so what they
allocate is bounded and a miss shows as a MemoryError, not as a slow machine."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from backproplab import nn, optim
from backproplab.nn import MLP
from backproplab.train.trace import CHUNK_BYTES, Iterations, Trace, _Column
from backproplab.util import limits

GB = 1024**3


def limited(code: str, address_space: int, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python whose address space is at most ``address_space`` bytes more than
    it takes once numpy and backproplab are imported."""
    script = textwrap.dedent(f"""
        import resource, sys
        import numpy, backproplab, backproplab.cli.program
        with open("/proc/self/status") as fh:
            vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + {address_space}, vm + {address_space}))
    """) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)


def cli_under_limit(args: list[str], address_space: int, timeout: float = 180) -> subprocess.CompletedProcess:
    return limited(f"sys.exit(backproplab.cli.program.main({args!r}))", address_space, timeout)


def one_clear_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    return line


SINE = """version = 1
name = "wide"
[network]
kind = "mlp"
inputs = 1
layers = [{{ size = 1, activation = "identity" }}]
[data]
dataset = "sine"
n = {n}
[training]
loss = "mse"
optimize = "all"
min_step = 0.0
max_steps = {steps}
[training.optimizer]
name = "gradient_descent"
lr = 0.01
"""


def deep_spec(layers: int, steps: int) -> str:
    rows = ",\n".join('  { size = 1, activation = "tanh" }' for _ in range(layers))
    return (f'version = 1\nname = "deep"\n[network]\nkind = "mlp"\ninputs = 1\nlayers = [\n{rows}\n]\n'
            f'[data]\nx = [[0.0], [0.5], [1.0]]\ny = [0.0, 1.0, 0.0]\n[training]\nloss = "ssr"\noptimize = "all"\n'
            f'max_steps = {steps}\n[training.optimizer]\nname = "gradient_descent"\nlr = 0.1\n')


# --- what a run records, and the estimate of it -------------------------------------------------------------
def test_keep_every_one_over_the_limit_is_refused_before_training_in_one_line(tmp_path):
    path = tmp_path / "wide.toml"  # about 96 KB a row: within the limit thinned, 0.9 TB kept every step
    path.write_text(SINE.format(n=12_000, steps=10_000_000), encoding="utf-8")
    done = cli_under_limit(["run", str(path), "--keep-every", "1", "--quiet"], 3 * GB)
    line = one_clear_line(done)
    assert line.startswith("backproplab run: error: keeping every iteration of up to 10,000,000 steps")
    assert "more than the limit of" in line and "--keep-every" in line and "--max-steps N" in line
    assert "--memory-limit GB" in line
    suggested = int(line.split("(--keep-every ")[1].split(")")[0])
    need = limits.kept_iterations(10_000_000, suggested) * limits.trace_row_bytes(2, 2, 12_000)
    assert need <= 1.5 * GB  # the suggestion fits in the limit (at most half the address space left)


def test_keep_every_one_within_the_limit_still_runs(tmp_path):
    path = tmp_path / "wide.toml"
    path.write_text(SINE.format(n=200, steps=300), encoding="utf-8")
    done = cli_under_limit(["run", str(path), "--keep-every", "1", "--json"], 3 * GB)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(json.loads(done.stdout)["iterations"]) == 300


def test_explain_at_a_far_iteration_is_refused_before_training_in_one_line(tmp_path):
    path = tmp_path / "wide.toml"
    path.write_text(SINE.format(n=12_000, steps=10_000_000), encoding="utf-8")
    done = cli_under_limit(["explain", str(path), "--param", "W1", "--iteration", "5000000"], 3 * GB)
    line = one_clear_line(done)
    assert "reaching iteration 5,000,000 keeps every iteration on the way" in line
    assert "choose an earlier iteration" in line and "--memory-limit GB" in line


def test_the_memory_limit_option_counts_for_the_record_too(tmp_path, capsys):
    from .conftest import cli

    path = tmp_path / "wide.toml"
    path.write_text(SINE.format(n=1000, steps=2000), encoding="utf-8")  # 2,000 rows of about 8 KB: 16 MB
    code, _, err = cli(capsys, "run", str(path), "--keep-every", "1", "--quiet", "--memory-limit", "0.01")
    assert code == 2 and "(the limit set)" in err and "10.2 MB" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(capsys, "run", str(path), "--keep-every", "1", "--quiet", "--memory-limit", "0.1")
    assert code == 0, err


def test_fit_in_python_is_refused_in_its_own_words():
    net = MLP([1, 1])
    x, y = np.zeros((50_000, 1)), np.zeros((50_000, 1))
    opt = optim.GradientDescent(net.parameters(), lr=0.1)
    with limits.allowing(64 * 1024**2), pytest.raises(limits.MemoryLimitError) as e:
        opt.fit(net, x, y, loss="mse", max_steps=1000)
    message = str(e.value)
    assert "keep fewer (keep_every=" in message and "(max_steps)" in message and "allowing(nbytes)" in message
    assert e.value.need == 1000 * limits.trace_row_bytes(2, 2, 50_000)


def test_the_estimate_is_what_the_trace_takes():
    x = np.random.default_rng(0).normal(size=(40, 2))
    y = np.random.default_rng(1).normal(size=(40, 2))
    for steps, keep in ((25, 1), (25, 4), (26, 5), (700, 1), (700, 3)):
        net = MLP([2, 3, 2], activations="tanh")
        opt = optim.GradientDescent(net.parameters(only=["W1", "b2"]), lr=0.01)
        trace = opt.fit(net, x, y, loss="mse", max_steps=steps, keep_every=keep)
        assert len(trace.iterations) == limits.kept_iterations(steps, keep)
        row = limits.trace_row_bytes(6 + 3 + 6 + 2, 6 + 2, 80)  # every parameter; W1 and b2 optimized; 40×2
        assert trace.iterations.nbytes() == limits.kept_iterations(steps, keep) * row


def test_the_estimate_holds_against_the_memory_the_process_takes():
    code = """
        import numpy as np, json
        from backproplab import optim
        from backproplab.util import limits
        from backproplab.nn import MLP

        def resident():
            with open("/proc/self/status") as fh:
                return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))

        net = MLP([1, 1])
        x = np.linspace(0, 1, 20_000).reshape(-1, 1)
        opt = optim.GradientDescent(net.parameters(), lr=0.01)
        opt.fit(net, x, x, loss="mse", max_steps=5)  # everything the run touches, once
        before = resident()
        trace = opt.fit(net, x, x, loss="mse", max_steps=300)
        after = resident()  # the trace is still held
        estimate = limits.kept_iterations(300, 1) * limits.trace_row_bytes(2, 2, 20_000)
        print(json.dumps({"grew": after - before, "estimate": estimate, "trace": trace.iterations.nbytes()}))
    """
    done = limited(code, 2 * GB)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    assert got["trace"] == got["estimate"]
    assert 0.8 * got["estimate"] <= got["grew"] <= got["estimate"] + 32 * 1024**2  # 48 MB estimated


# --- a column's first block ---------------------------------------------------------------------------------
def test_thousands_of_scalar_columns_take_their_numbers_not_a_megabyte_each():
    code = """
        from backproplab.train.trace import Iterations
        names = [f"w{k}" for k in range(2000)]
        its = Iterations()
        for step in range(3):
            its.record(step, {n: 1.0 for n in names}, [0.0, 1.0], 0.5, {n: 0.1 for n in names},
                       {n: 0.01 for n in names}, 0.1)
        print(its.nbytes())
    """
    done = limited(code, 1 * GB)  # the old 1 MiB first block: 6,004 columns reserve 6 GB
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) <= 6004 * 16 * 16


def test_columns_grow_by_doubling_up_to_a_block_and_read_back_every_row():
    column = _Column(0.0)
    for k in range(5000):
        column.append(float(k))
    sizes = [len(c) for c in column.chunks]
    assert sizes[0] == 16 and all(b == min(2 * a, CHUNK_BYTES // 8) for a, b in zip(sizes, sizes[1:]))
    assert sum(sizes) < 2 * 5000
    assert [column.get(i) for i in (0, 15, 16, 47, 48, 4999)] == [0.0, 15.0, 16.0, 47.0, 48.0, 4999.0]
    assert column.all().tolist() == [float(k) for k in range(5000)]
    wide = _Column(np.zeros((300, 300)))  # 720 KB a row: one row a block
    for k in range(3):
        wide.append(np.full((300, 300), k))
    assert [len(c) for c in wide.chunks] == [1, 1, 1] and wide.get(2)[0, 0] == 2


def test_a_loaded_trace_takes_exactly_its_rows():
    its = Iterations()
    for step in range(37):
        its.record(step, {"w": float(step)}, [0.0], 1.0, {"w": 0.5}, {"w": 0.05}, None)
    trace = Trace(loss="ssr", learning_rate=0.1, optimize=["w"], iterations=its)
    loaded = Trace.from_json(trace.to_json())
    assert loaded.iterations == trace.iterations
    assert loaded.iterations.nbytes() == 37 * limits.trace_row_bytes(1, 1, 1)


# --- names looked up in one step ----------------------------------------------------------------------------
def counting(monkeypatch, owner, name):
    calls = [0]
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_a_parameter_is_found_by_name_without_walking_the_network(monkeypatch):
    net = MLP([1] * 2001, activations="tanh")  # 2,000 one-unit layers
    names = [n for n, _ in net.named_parameters()]
    walks = counting(monkeypatch, nn.Module, "named_parameters")
    assert [p.name for p in net.parameters(only=names)] == names
    assert all(net.parameter(n).name == n for n in names)
    assert walks[0] <= 2  # one walk builds the index; before, one walk per name (8,000)


def test_the_name_index_follows_a_changed_network():
    net = MLP([1, 2, 1])
    first = net.parameter("W1")
    net.layer1.weight = nn.Parameter(np.ones((1, 2)), "W1")  # replaced
    assert net.parameter("W1") is not first and net.parameter("W1").data.tolist() == [[1.0, 1.0]]
    net.layer2.rename("9")
    assert net.parameter("W9") is net.layer2.weight
    with pytest.raises(KeyError, match="unknown parameter 'W2'"):
        net.parameter("W2")


def test_each_gradient_of_the_last_iteration_is_read_without_rebuilding_it(monkeypatch):
    names = [f"w{k}" for k in range(300)]
    its = Iterations()
    for step in range(3):
        its.record(step, {n: float(step) for n in names}, [0.0], 1.0, {n: 0.5 for n in names},
                   {n: 0.05 for n in names}, 0.1)
    gets = counting(monkeypatch, _Column, "get")
    assert [its[-1].gradients[n] for n in names] == [0.5] * 300  # as the report reads them, name by name
    assert gets[0] <= 3 * 300 + 5  # one row made once; before, once per name (270,000 reads)
    assert [it.step for it in its] == [0, 1, 2]


def test_two_thousand_one_unit_layers_train_in_seconds_of_cpu(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text(deep_spec(2000, 3), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "backproplab", "run", str(path), "--quiet"],
                          capture_output=True, text=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "final SSR" in done.stdout
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 30  # CPU time, not wall time: other work on the machine does not count
