"""The LaTeX output compiles (pdflatex, where installed) and always passes a strict structural check."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import backproplab as bl
from backproplab import Tensor, losses
from backproplab.explain import explain
from backproplab.explain.run import explain_run
from backproplab.optim import GradientDescent

KNOWN = {
    "documentclass", "usepackage", "begin", "end", "subsection", "frac", "partial", "sum", "hat", "mathrm",
    "cdot", "times", "sigma", "tanh", "ln", "operatorname", "mathbb", "left", "right", "odot", "top", "text",
    "quad", "approx", "delta", "noindent", "textit", "theta", "Sigma", "textstyle", "dots", "infty", "textbackslash",
    "textasciitilde", "textasciicircum", "to", "surd", "epsilon", "sqrt",
}


def documents() -> dict[str, str]:
    net, (x, y) = bl.presets.statquest()
    loss = losses.ssr(net(Tensor(x, name="x")), Tensor(y, name="y"))
    mlp = bl.MLP([2, 3, 1], "tanh")
    mlp_loss = losses.mse(mlp(Tensor(np.eye(2), name="x")), [1.0, 0.0])
    trace = GradientDescent(net.parameters(only=["b3"]), lr=0.1).fit(net, x, y)
    return {
        "b3": explain(loss, net.b3, lr=0.1).to_latex(document=True),
        "w1": explain(loss, net.w1, lr=0.1).to_latex(document=True),
        "mlp_paths": explain(mlp_loss, mlp.parameter("W1"), index=(2, 1), lr=0.1).to_latex(document=True),
        "mlp_delta": explain(mlp_loss, mlp.parameter("W1")).to_latex(document=True),
        "run": explain_run(trace, net).to_latex(document=True),
        **{name: e.to_latex(document=True) for name, e in stepped().items()},
        **{name: e.to_latex(document=True) for name, e in unnamed().items()},
    }


def unnamed() -> dict:
    """Graphs written by hand with nothing named in between: generated names, their definitions, Σ over paths."""
    w, b = bl.Parameter(0.5, "w"), bl.Parameter(0.1, "b")
    x, y = Tensor([0.0, 0.5, 1.0], name="x"), Tensor([0.0, 1.0, 0.0], name="y")
    return {
        "unnamed_square": explain(((w * x + b - y) ** 2).sum(), w, lr=0.1),
        "unnamed_cube": explain((((w * x).exp() - y) ** 3).mean(), w),
        "unnamed_paths": explain((w * w).exp(), w),
    }


def stepped() -> dict:
    """Explanations whose step prose uses the most symbols: Adam's (with and without its m̂ and v̂) and SGD's."""
    net, (x, y) = bl.presets.statquest()
    loss = losses.ssr(net(Tensor(x, name="x")), Tensor(y, name="y"))
    return {
        "adam": explain(loss, net.w1, lr=0.05, step_rule="adam", step=0.05, moments=(7.3, 53.9, 1e-8)),
        "adam_page": explain(loss, net.b3, lr=0.05, step_rule="adam", step=0.05),
        "sgd": explain(loss, net.w3, lr=0.1, step_rule="sgd", step=0.2),
    }


STEPPED = ["adam", "adam_page", "sgd"]
UNNAMED = ["unnamed_square", "unnamed_cube", "unnamed_paths"]


def structural_problems(tex: str) -> list[str]:
    problems = []
    depth = 0
    for ch in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            problems.append("a } closes nothing")
            break
    if depth > 0:
        problems.append("an unclosed {")
    for macro in set(re.findall(r"\\([a-zA-Z]+)", tex)) - KNOWN:
        problems.append(f"unknown macro \\{macro}")
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+\*?)\}", tex):
        if kind == "begin":
            stack.append(env)
        elif not stack or stack.pop() != env:
            problems.append(f"\\end{{{env}}} does not close the open environment")
    problems += [f"\\begin{{{env}}} is never closed" for env in stack]
    for paragraph in re.split(r"\n\s*\n", tex):
        if len(re.findall(r"(?<!\\)\$", paragraph)) % 2:
            problems.append(f"unbalanced $ in: {paragraph[:60]!r}")
    if re.search(r"(?<!\\)\$\$", tex):
        problems.append("two formulas side by side ($$ opens display maths)")
    if any(ord(ch) > 127 for ch in tex):
        problems.append("non-ASCII characters (pdflatex would need extra packages)")
    return problems


@pytest.mark.parametrize("name", ["b3", "w1", "mlp_paths", "mlp_delta", "run", *STEPPED, *UNNAMED])
def test_latex_passes_the_structural_check(name):
    assert structural_problems(documents()[name]) == []


def test_the_structural_check_can_fail():
    for bad in (r"\frac{a}{b", r"\foo{x}", "$x", r"\begin{align*} x", r"\begin{align*}\end{aligned}", "ŷ",
                r"$\surd$$\hat{v}$"):
        assert structural_problems(bad), bad


NO_TEX = "no TeX engine installed (apt-get install texlive-latex-base)"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason=NO_TEX)
@pytest.mark.parametrize("name", ["b3", "w1", "mlp_paths", "mlp_delta", "run", *STEPPED, *UNNAMED])
def test_latex_compiles_with_pdflatex(name, tmp_path):
    (tmp_path / "doc.tex").write_text(documents()[name], encoding="ascii")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


@pytest.mark.parametrize("name", STEPPED)
def test_every_symbol_of_the_prose_reaches_latex(name):
    """No character of the explainer's words is lost on the way to LaTeX (an unknown one would become ?)."""
    e = stepped()[name]
    tex, text = e.to_latex(), e.to_text()
    assert tex.count("?") == text.count("?") == 0
    assert "old value $-$ step size" in tex and "value - step" not in tex  # a minus sign, not a hyphen
    if name.startswith("adam"):
        assert r"$\hat{m}$/($\surd\hat{v}$ + $\epsilon$)" in tex
