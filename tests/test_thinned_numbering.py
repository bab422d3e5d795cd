"""A long run may keep only every k-th iteration: every surface still names iterations by their real number."""

from __future__ import annotations

import re

import backproplab as bl
from backproplab.explain.run import explain_run
from backproplab.util.numbers import trace_html


def _thinned(keep_every: int = 3):
    net, (x, y) = bl.presets.statquest()
    opt = bl.optim.GradientDescent(net.parameters(only=["b3"]), lr=0.1)
    trace = opt.fit(net, x, y, loss="ssr", min_step=0.0, max_steps=10, keep_every=keep_every)
    return net, trace


def test_the_narrative_heads_each_kept_iteration_by_its_own_number():
    net, trace = _thinned()
    kept = [it.step + 1 for it in trace.iterations]
    assert kept[:3] == [1, 4, 7]  # every third, by the loop's own record
    story = explain_run(trace, net, every=1)
    headed = [int(n) for n in re.findall(r"^Iteration (\d+)", story.to_text(), flags=re.M)]
    assert headed == kept
    gaps = [int(n) for n in re.findall(r"… (\d+) iteration\(s\) not shown", story.to_text())]
    assert gaps == [b - a - 1 for a, b in zip(kept, kept[1:]) if b - a > 1]


def test_the_trace_table_numbers_rows_by_iteration_and_counts_the_hidden_ones():
    _, trace = _thinned(keep_every=2)
    page = trace_html(trace, head=2, tail=1)
    rows = [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", page)]
    kept = [it.step + 1 for it in trace.iterations]
    assert rows == kept[:2] + kept[-1:]
    hidden = int(re.search(r"… (\d+) iteration\(s\)", page).group(1))
    assert hidden == kept[-1] - kept[1] - 1
