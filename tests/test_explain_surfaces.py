"""Every surface says the same thing: one iteration numbering, the same terms in every format,
and names that cannot inject anything into LaTeX, Markdown or HTML."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

import backproplab as bl
from backproplab import Tensor, losses
from backproplab.optim import GradientDescent

from .conftest import cli

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def plain(text: str) -> str:
    """One spelling for every format: true minus and LaTeX's scientific notation as ASCII."""
    text = text.replace("−", "-")
    return re.sub(r" \\times 10\^\{(-?\d+)\}", r"e\1", text)


def close_to_shown(shown: str, exact: float) -> bool:
    """A shown number is the exact one, rounded to 2 decimals or 2 significant figures."""
    value = float(plain(shown))
    return abs(value - exact) <= (0.005 if abs(exact) >= 1 else 0.05 * abs(exact)) + 1e-12


# --- one numbering ---------------------------------------------------------------------------------
K = 3  # the iteration every surface is asked for


@pytest.fixture(scope="module")
def engine_iteration():
    """Iteration K of the dosage network trained on every parameter, from the Python API."""
    net, (x, y) = bl.presets.statquest()
    trace = GradientDescent(net.parameters(), lr=0.1, max_steps=20).fit(net, x, y, loss="ssr")
    return trace.iterations[K - 1]


def test_every_surface_shows_the_same_iteration(capsys, engine_iteration):
    it = engine_iteration
    g, w1, loss = it.gradients["w1"], it.params["w1"], it.loss
    common = ["statquest", "--optimize", "all", "--max-steps", "20"]

    # the terminal report: the K-th block
    code, out, _ = cli(capsys, "demo", *common, "--every", "1")
    assert code == 0
    block = plain(out).split(f"Iteration {K} (")[1].split("Iteration ")[0]
    report_w1 = re.match(r"w1 = (\S+),", block).group(1)
    report_g = re.search(r"dSSR/dw1 = (\S+)\n", block).group(1)
    report_loss = re.search(r"SSR = (\S+)\n", block).group(1)
    assert close_to_shown(report_w1, w1) and close_to_shown(report_g, g) and close_to_shown(report_loss, loss)

    # the explainer, in every format, asked with --iteration and with --step
    outputs = {}
    for fmt in ("text", "md", "latex", "html", "json"):
        code, out, _ = cli(capsys, "explain", *common, "--param", "w1", "--iteration", str(K), "--format", fmt)
        assert code == 0
        code, same, _ = cli(capsys, "explain", *common, "--param", "w1", "--step", str(K), "--format", fmt)
        assert same == out
        outputs[fmt] = plain(out)
    data = json.loads(outputs["json"])
    assert data["iteration"] == K and abs(data["gradient"] - g) <= 1e-12 * max(1, abs(g))
    assert abs(data["step"]["old"] - w1) <= 1e-12
    text = outputs["text"]
    page = html.unescape(re.sub(r"<[^>]+>", "", outputs["html"]))
    for doc in (text, page, outputs["md"], outputs["latex"]):
        assert f"iteration {K} " in doc
    for doc in (text, page):
        assert re.findall(r"\n\s*= (\S+)\n", doc)[-1] == report_g
        assert re.search(r"new w1 = old w1 - step size = (\S+) - ", doc).group(1) == report_w1
    for doc in (outputs["md"], outputs["latex"]):
        totals = re.findall(r"\n&= (\S+)\n\\end\{align", doc)
        assert totals[0] == report_g
        assert re.search(r"w_\{1\}\^\{\\text\{new\}\} &= (\S+) - ", doc).group(1) == report_w1

    # the narrative and the trace JSON
    code, out, _ = cli(capsys, "demo", *common, "--every", "1", "--explain", "w1")
    assert re.search(rf"Iteration {K} \(w1 = (\S+),", plain(out)).group(1) == report_w1
    code, out, _ = cli(capsys, "demo", *common, "--json")
    saved = json.loads(out)["iterations"][K - 1]
    assert saved["iteration"] == K and "step" not in saved
    assert saved["gradients"]["w1"] == pytest.approx(g, abs=1e-12)


# --- the same terms in every format --------------------------------------------------------------
def _top_level_split(text: str, sep: str = " + ") -> list[str]:
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        depth += {"(": 1, ")": -1, "{": 1, "}": -1}.get(ch, 0)
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    return parts + [text[start:]]


def text_terms(text: str, lhs: str) -> list[str]:
    section = text.split("Putting in the numbers")[1]
    body = re.split(r"\n\s*= ", section.split(f"{lhs} = ", 1)[1])[0]
    if "\n" in body:
        return [t.strip() for t in re.split(r"\n\s+\+ ", body)]
    return [t.strip() for t in _top_level_split(body)]


def latex_terms(doc: str) -> list[str]:
    section = doc.split("Putting in the numbers")[1]
    first = re.search(r"&= (.*?)\n", section).group(1)
    return [t.strip() for t in first.split(r"\\ &\quad + ")]


def numbers(term: str) -> list[float]:
    return [float(n) for n in NUMBER.findall(plain(term).replace("- ", "-").replace("−", "-"))]


@pytest.mark.parametrize(("source", "args", "lhs"), [
    ("xor", ["--param", "W2", "--index", "1,1"], "dBCE/dW2[1,1]"),
    ("statquest", ["--param", "w1"], "dSSR/dw1"),
])
def test_every_format_carries_the_same_terms(capsys, source, args, lhs):
    docs = {}
    for fmt in ("text", "md", "latex", "html", "json"):
        code, out, _ = cli(capsys, "explain", source, *args, "--format", fmt)
        assert code == 0
        docs[fmt] = out
    text = text_terms(plain(docs["text"]), lhs)
    page = text_terms(plain(html.unescape(re.sub(r"<[^>]+>", "", docs["html"]))), lhs)
    md, tex = latex_terms(plain(docs["md"])), latex_terms(plain(docs["latex"]))
    saved = [plain(t["shown"]) for t in json.loads(docs["json"])["terms"]]
    assert len(text) == len(page) == len(md) == len(tex) == len(saved) >= 3
    assert page == text == saved
    for t, m, x in zip(text, md, tex):
        assert numbers(t) == numbers(m) == numbers(x), (t, m, x)
    # each term as shown is what the engine multiplies: the JSON values sum to the engine's gradient
    data = json.loads(docs["json"])
    assert sum(t["value"] for t in data["terms"]) == pytest.approx(data["gradient"], abs=1e-12)


# --- hostile names ---------------------------------------------------------------------------------
HOSTILE = [r"\input{/etc/passwd}", "<img src=x onerror=alert(1)>", "$$ & | # % _ ^ ~ }{", "a=b\\def\\x{}"]


def hostile_explanation(names):
    x, y = Tensor([0.0, 0.5, 1.0], name="x"), Tensor([0.0, 1.0, 0.0], name="y")
    w = Tensor(0.7, requires_grad=True, name=names[0])
    h = w * x
    h.name = names[1]
    g = h * 2.0
    g.name = names[2]
    out = g + 0.25
    out.name = names[3]
    loss = losses.ssr(out, y)
    return bl.explain(loss, wrt=w, lr=0.1), w


def _balanced(tex: str) -> bool:
    depth, escaped = 0, False
    for ch in tex:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "{}":
            depth += 1 if ch == "{" else -1
            if depth < 0:
                return False
    return depth == 0


@pytest.mark.parametrize("rotate", range(len(HOSTILE)))
def test_hostile_names_are_shown_never_run(rotate):
    names = HOSTILE[rotate:] + HOSTILE[:rotate]
    exp, _ = hostile_explanation(names)
    xs, ys = np.array([0, 0.5, 1]), np.array([0, 1, 0])
    assert exp.gradient == pytest.approx(float(np.sum(-2 * (ys - (2 * 0.7 * xs + 0.25)) * 2 * xs)), abs=1e-12)
    tex = exp.to_latex(document=True)
    jupyter = exp._repr_latex_()
    for doc in (tex, jupyter):
        assert not re.search(r"\\(input|def|include|write|immediate)\b", doc)
        assert _balanced(doc)
    assert "$" not in jupyter[2:-2].replace(r"\$", "")
    for block in re.findall(r"\\begin\{align\*\}(.*?)\\end\{align\*\}", tex, re.S):
        assert "$" not in block.replace(r"\$", "")  # no way out of math mode
    md = exp.to_markdown()
    assert not re.search(r"(?<!\\)<\s*img", md), md
    for block in re.findall(r"\$\$(.*?)\$\$", md, re.S):
        assert "<" not in block and ">" not in block
    page = exp.to_html(full_page=True)
    assert "<img" not in page and "&lt;img" in page
    assert names[0] in exp.to_text()  # the terminal shows the name as it is
    assert json.loads(exp.render("json"))["wrt"] == names[0]


def test_the_python_page_prints_what_it_says(capsys):
    from pathlib import Path

    section = (Path(__file__).parents[1] / "docs" / "python.md").read_text(encoding="utf-8")
    first, *rest = re.findall(r"```python\n(.*?)```", section, re.S)
    exec(compile(first, "python.md", "exec"), {})  # noqa: S102 - the page's own example
    totals = re.findall(r"\n  = (\S+)\n", plain(capsys.readouterr().out))
    exec(compile("import backproplab as bl\n" + "\n".join(rest), "python.md", "exec"), {})  # noqa: S102 - the rest runs too
    capsys.readouterr()
    start, end = totals[0], totals[-1]
    # the engine's own gradients, before and after training b3
    net, (x, y) = bl.presets.statquest()
    before = losses.ssr(net(Tensor(x)), Tensor(y))
    before.backward()
    grad_before = float(net.w1.grad)
    GradientDescent(net.parameters(only=["b3"]), lr=0.1).fit(net, x, y, loss="ssr")
    net.w1.grad = None
    after = losses.ssr(net(Tensor(x)), Tensor(y))
    after.backward()
    assert float(start) == pytest.approx(grad_before, abs=0.005)
    assert float(end) == pytest.approx(float(net.w1.grad), rel=0.05)
    for claim in (f"dSSR/dw1 = {start}, as above", f"dSSR/dw1 = {end}", f"from {start} to {end}"):
        assert claim in plain(section), claim


def test_the_readme_python_example_prints_what_it_says(capsys):
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## In Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    total = re.findall(r"\n  = (\S+)\n", plain(capsys.readouterr().out))[-1]
    net, (x, y) = bl.presets.statquest()
    loss = losses.ssr(net(Tensor(x)), Tensor(y))
    loss.backward()
    assert float(total) == pytest.approx(float(net.w1.grad), abs=0.005)
    assert f"dSSR/dw1 = {total}" in code
    b3 = namespace["trace"].final.params["b3"]
    assert f'trace.final.params["b3"] is {str(b3)[:6]}...' in code


def test_the_readme_shows_what_explain_prints(capsys):
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    shown = readme.split("```text\n$ backproplab explain statquest --param w1\n", 1)[1].split("```", 1)[0]
    code, out, _ = cli(capsys, "explain", "statquest", "--param", "w1")
    assert code == 0
    printed = iter(out.splitlines())
    lines = shown.splitlines()
    assert len(lines) >= 10 and lines[-1] == "  = 7.34"
    for line in lines:  # each line the README quotes is printed, in the order it quotes them
        assert any(p == line for p in printed), line


def test_latex_writes_small_numbers_as_powers_of_ten():
    net, (x, y) = bl.presets.statquest()
    GradientDescent(net.parameters(only=["b3"]), lr=0.1).fit(net, x, y, loss="ssr")
    exp = bl.explain(losses.ssr(net(Tensor(x, name="x")), Tensor(y, name="y")), wrt=net.w1, lr=0.1)
    terms = [t["value"] for t in exp.details["terms"]]
    small = min((abs(v) for v in terms if v), default=1.0)
    assert small < 1e-4  # sample 2's term is about −8.3e−5: it must be shown, not rounded to 0
    exponent = int(np.floor(np.log10(small)))
    assert f"e{exponent}".replace("-", "−") in exp.to_text()
    maths = "".join(re.findall(r"\$\$(.*?)\$\$", exp.to_markdown(), re.S))  # Markdown's formulas; its prose is text
    for doc in (exp.to_latex(document=True), maths):
        assert not re.search(r"\de\s*[-−]\s*\d", doc), doc
        assert rf"\times 10^{{{exponent}}}" in doc


def test_no_number_in_the_report_is_rounded_to_nothing(capsys):
    args = ["statquest", "--optimize", "all", "--max-steps", "10"]  # step sizes of 0.0054 to 0.0085 among them
    _, out, _ = cli(capsys, "demo", *args, "--json")
    trace = json.loads(out)
    _, out, _ = cli(capsys, "demo", *args, "--every", "1")
    blocks = plain(out).split("\nIteration ")[1:]
    assert len(blocks) == len(trace["iterations"])
    checked = 0
    for block, it in zip(blocks, trace["iterations"]):
        found = re.findall(r"dSSR/d(\w+) = (\S+)\nstep size = gradient × learning rate = \S+ × 0\.1 = (\S+)\n", block)
        for name, gradient, step in found:
            assert close_to_shown(gradient, it["gradients"][name]), (name, gradient, it["gradients"][name])
            assert close_to_shown(step, it["step_sizes"][name]), (name, step, it["step_sizes"][name])
            checked += 1
    assert checked == 7 * len(blocks)


def test_digits_zero_still_shows_the_data_as_it_is(capsys):
    _, out, _ = cli(capsys, "explain", "statquest", "--param", "w1", "--digits", "0")
    assert "× 0.5\n" in out  # x_2 = 0.5, not 0 or 1
    _, out, _ = cli(capsys, "forward", "statquest", "--digits", "0")
    assert re.search(r"\n\s+2\s+0\.5\s", out)


def test_hostile_names_in_the_forward_table():
    class Hostile(bl.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = bl.Parameter(0.7, HOSTILE[0])

        def forward(self, x):
            x = x if isinstance(x, Tensor) else Tensor(x, name="x")
            return bl.tanh((self.w * x).named(HOSTILE[1])).named(HOSTILE[2])

    xs, ys = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0])
    table = bl.forward_table(Hostile(), xs, ys)
    assert table.value == pytest.approx(float(np.sum((ys - np.tanh(0.7 * xs)) ** 2)), abs=1e-12)
    tex = table.to_latex(document=True)
    assert not re.search(r"\\(input|def)\b", tex) and _balanced(tex)
    md = table.to_markdown()
    assert not re.search(r"(?<!\\)<\s*img", md)
    assert "<img" not in table.to_html(full_page=True)


def test_the_python_page_shows_what_a_loss_written_by_hand_prints(capsys):
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "python.md").read_text(encoding="utf-8")
    at = page.index("A loss written by hand")
    code = re.search(r"```python\n(.*?)```", page[at:], re.S).group(1)
    shown = re.search(r"```text\n(.*?)```", page[at:], re.S).group(1)
    exec(compile("import backproplab as bl\n" + code, "python.md", "exec"), {})  # noqa: S102 - the page's own example
    printed = capsys.readouterr().out
    assert shown in printed  # the lines the page quotes are the engine's, word for word
    w = 0.5  # and the sum it prints is the gradient: a central difference of Σ (w·x + b − y)²
    x, y = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0])
    h = 1e-6
    numeric = (np.sum(((w + h) * x + 0.1 - y) ** 2) - np.sum(((w - h) * x + 0.1 - y) ** 2)) / (2 * h)
    assert float(plain(re.findall(r"\n  = (\S+)\n", printed)[-1])) == pytest.approx(numeric, abs=0.005)
