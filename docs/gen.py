"""Pages of the documentation that are generated from the code, so they cannot go stale.

``pages()`` returns {path: text or bytes}; ``docs/hooks.py`` hands them to MkDocs at build time.
Each page reads the thing it documents: the op table from ``backproplab.engine.ops``, the command line
from the argparse parser, the spec fields from the spec checker itself (it is asked which
fields each table allows), the error messages from the catalogue of bad input that the tests
check, the series from the notebooks executed in a fresh kernel, and the gallery from figures
drawn by the command line. Two hand-written pages get a generated part appended: ``own-networks.md``
(the spec reference) and ``speed.md`` (the generated code and the measured times).

``python docs/gen.py notebooks`` writes the executed series the package ships (``backproplab notebooks DIR``).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import os
import re
import subprocess
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path
from string import Template
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
Page = dict[str, "str | bytes"]


# --- the op table ---------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "&#124;").replace("\n", " ")


def _math(latex: str) -> str:
    return "$" + latex.replace("|", r"\vert ") + "$"


def ops_page() -> str:
    """The table in a ``div.op-table``, which ``assets/site.css`` lays out: four columns on a wide screen
    (the page drops its table of contents to make room), one card per op on a phone."""
    from backproplab import ops

    lines = ["---", "hide:", "  - toc", "---", "", "# The op table", "",
             "Every primitive operation is defined once, in `backproplab.engine.ops`: its forward computation, "
             "its backward rule (a vector-Jacobian product per input) and its local derivative in words "
             "and in LaTeX. The engine runs the first two; the explainer prints the third. This page is "
             "generated from that table.", "",
             f"{len(ops.OPS)} ops; the activations a layer may use are "
             + ", ".join(f"`{n}`" for n in ops.ACTIVATIONS) + ".", "",
             '<div class="op-table" markdown>', "",
             "| op | forward | local derivative | in words |", "|---|---|---|---|"]
    for name, op in ops.OPS.items():
        names = {a: a for a in (*op.args, *op.attrs, "n")}
        forward = _math(op.render("latex", "expr", names))
        rules = " ".join(_math(r"\displaystyle " + op.rule(k, "latex")) for k in range(len(op.args)))
        words = "<br>".join(_cell(op.rule(k, "text")) for k in range(len(op.args)))
        if not op.elementwise:
            words += "<br>backward: " + "; ".join(_cell(Template(op.backward_rule(k)).safe_substitute(names))
                                                  for k in range(len(op.args)))
        lines.append(f"| `{name}` | {forward} | {rules} | {words} |")
    return "\n".join([*lines, "", "</div>"]) + "\n"


# --- the command line -------------------------------------------------------------------------------
def cli_page() -> str:
    from backproplab.cli.program import build_parser

    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    lines = ["# Command line", "", "Generated from the `backproplab` command's own argument parser.", "",
             "```text", parser.format_help().rstrip(), "```", ""]
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, sub in subparsers.choices.items():
        lines += [f"## backproplab {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


# --- spec files ------------------------------------------------------------------------------------
PROBE = "zz_not_a_field"
TABLES = [  # (where the table is, which preset, the line of its file the probe goes after)
    ("top level", "statquest", 'name = "statquest"'),
    ("network (kind = \"formulas\")", "statquest", 'output = "yhat"'),
    ("network (kind = \"mlp\")", "moons", "inputs = 2"),
    ("network.layers[i]", "moons", "{ size = 16, activation = \"tanh\""),
    ("data (inline lists)", "statquest", "y = [0.0, 1.0, 0.0]"),
    ("data (csv)", "statquest", 'csv = "data.csv"'),
    ("data (generated)", "moons", 'dataset = "moons"'),
    ("training", "statquest", 'loss = "ssr"'),
]


def allowed_fields(preset: str, after: str) -> list[str]:
    """Ask the spec checker which fields the table holding ``after`` allows: it names them when it
    meets a field it does not know."""
    from backproplab.spec.presets import PRESETS
    from backproplab.spec.spec import SpecError, parse

    text = PRESETS[preset].text
    if after.startswith("csv"):  # the dosage data moved to a CSV file (the fields are checked before it is read)
        inline = re.search(r"^x = .*\ny = .*$", text, re.M).group(0)
        text = text.replace(inline, 'csv = "data.csv"\nx = ["dose"]\ny = "effect"', 1)
    assert after in text, after
    if after.startswith("{"):
        probed = text.replace(after, after + f", {PROBE} = 1", 1)
    else:
        probed = text.replace(after, after + f"\n{PROBE} = 1", 1)
    try:
        parse(probed)
    except SpecError as err:
        found = re.search(r"choose from: ([^)]*)\)", str(err))
        if found and PROBE in str(err):
            return [f.strip() for f in found.group(1).split(",")]
        raise
    raise AssertionError(f"the spec checker accepted an unknown field after {after!r}")


def catalogue() -> list[tuple[str, list[str], list[str]]]:
    """(case, command, expected message parts) from the tests' table of bad input."""
    path = ROOT / "tests" / "test_spec_catalogue.py"
    if not path.exists():
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rows = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CASES" for t in node.targets):
            for row in node.value.elts:
                case = ast.literal_eval(row.elts[0])
                command = [c.value if isinstance(c, ast.Constant) else ast.unparse(c).upper()
                           for c in row.elts[2].elts]  # a value made in code (such as HUGE) by its name
                expected = ast.literal_eval(row.elts[3])
                parts = [expected] if isinstance(expected, str) else list(expected)
                rows.append((case, [str(c) for c in command], parts))
    return rows


def _first_line(obj: Any) -> str:
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


def _choices() -> list[str]:
    """The "Choices" section: every activation, formula function, loss, optimizer and data set, from the code."""
    from backproplab import datasets, ops
    from backproplab.nn.losses import LOSSES
    from backproplab.optim import OPTIMIZERS
    from backproplab.spec import formula
    from backproplab.spec.checker import SETTING_RULES, optimizer_settings

    lines = ["## Choices", "", "**Activations** (`network.layers[i].activation`):", ""]
    for name, op in ops.ACTIVATIONS.items():
        settings = ops.ACTIVATION_SETTINGS.get(name, {})
        shown = f" (with PyTorch's {', '.join(f'{k} = {v:g}' for k, v in settings.items())})" if settings else ""
        lines.append(f"- `{name}`: {_cell(op.rule(0, 'text'))}{shown}")
    lines += ["", "**Functions a formula may call**: " + ", ".join(f"`{n}`" for n in formula.FUNCTIONS) + "."]
    lines += ["", "**Losses** (`training.loss`):", ""]
    lines += [f"- `{name}`: {_first_line(fn)}" for name, fn in LOSSES.items()]
    lines += ["", "**Optimizers** (`[training.optimizer]`: `name` and its settings, with their defaults):", ""]
    for name, cls in OPTIMIZERS.items():
        settings = {k: v for k, v in optimizer_settings(name).items() if k != "name"}
        shown = ", ".join(f"`{k} = {v!r}`" for k, v in settings.items())
        lines.append(f"- `{name}`: {_first_line(cls)} Settings: {shown}.")
    lines += ["", "Each setting's range:", ""]
    lines += [f"- `{key}`: {rule}" for key, (_, rule) in SETTING_RULES.items()]
    lines += ["", "**Generated data sets** (`data.dataset`, with `n`, `seed` and `noise`):", ""]
    lines += [f"- `{name}`: {_first_line(fn)}" for name, fn in datasets.DATASETS.items()]
    return lines


def spec_page() -> str:
    """The hand-written page on spec files, then the reference generated from the spec reader."""
    from backproplab.spec.presets import PRESETS

    lines = [hand_written("own-networks.md").rstrip(), "",
             "## Fields, table by table", "",
             "Each table allows these fields and no others (a misspelt field is an error with a "
             "did-you-mean):", "", "| table | fields |", "|---|---|"]
    for where, preset, after in TABLES:
        lines.append(f"| {where} | " + ", ".join(f"`{f}`" for f in allowed_fields(preset, after)) + " |")
    lines += ["", "A `[data]` table gives either `x` and `y` as inline lists, or `csv` with the column "
              "names `x` and `y`, or `dataset` (generated in code).", "", *_choices()]
    lines += ["", "## CSV data", "",
              "`csv = \"file.csv\"` reads a UTF-8 comma-separated file whose first non-empty row names the "
              "columns (each name once). `x` and `y` each name one column (`y = \"effect\"`) or a list of "
              "columns (`x = [\"dose\"]`); other columns are ignored. Every row has as many fields as the "
              "header, every chosen cell is a number, and empty rows are skipped. The path is relative to the "
              "spec file, and the file must be a regular file inside the spec's own folder (`--data-dir DIR` "
              "allows another folder).", "",
              "## Two complete specs", "", "The dosage example, a network of formulas with inline data:", "",
              "```toml", PRESETS["statquest"].text.rstrip(), "```", "",
              "Two moons, layers of units with generated data:", "", "```toml", PRESETS["moons"].text.rstrip(),
              "```", "", "## Every error message", "",
              "A mistake gets one line that names the file and the field and says what to do, with exit code 2. "
              "These are the cases the test suite checks (the message is shown as far as the tests pin it "
              "down; `{d}` is the folder of the spec):", "", "| mistake | command | message |", "|---|---|---|"]
    for case, command, parts in catalogue():
        shown = " … ".join(f"`{_cell(p)}`" for p in parts)
        lines.append(f"| {_cell(case)} | `backproplab {_cell(' '.join(command))}` | {shown} |")
    return "\n".join(lines) + "\n"


# --- the series: notebooks executed, as Markdown ---------------------------------------------------
def _source_hash() -> str:
    h = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")) + sorted(NOTEBOOKS.glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def execute(path: Path) -> Any:
    import jupytext
    import nbclient

    nb = jupytext.read(path)
    with tempfile.TemporaryDirectory() as folder:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": folder}}).execute()
    return nb


WIDGET = "application/vnd.jupyter.widget-view+json"


def _output_markdown(out: Any, stem: str, n: int, files: Page) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return "```text\n" + "".join(out.get("text", "")).rstrip() + "\n```\n"
    data = out.get("data", {})
    if "image/png" in data:
        name = f"{stem}-{n}.png"
        files[f"series/img/{name}"] = base64.b64decode(data["image/png"])
        return f"![output](img/{name})\n"
    if "image/gif" in data:
        name = f"{stem}-{n}.gif"
        files[f"series/img/{name}"] = base64.b64decode(data["image/gif"])
        return f"![animation](img/{name})\n"
    if WIDGET in data:  # a site has no kernel to answer the widget: a picture of the same page
        return ('!!! note "The interactive lesson"\n    In Jupyter this output is the lesson page as a widget. '
                "Here is the same page at iteration 2; `backproplab serve` opens it in a browser.\n\n"
                "![The lesson page at iteration 2](../screenshots/dosage-iteration-2.png)\n")
    if "text/markdown" in data:
        return "".join(data["text/markdown"]) + "\n"
    if "text/html" in data:
        return '<div class="nb-output" markdown="0">\n' + "".join(data["text/html"]) + "\n</div>\n"
    if "text/plain" in data:
        return "```text\n" + "".join(data["text/plain"]).rstrip() + "\n```\n"
    return ""


CHECK_TAG = "remove-cell"  # a notebook's checks: run by the tests, left out of the lesson's page


def is_check(cell: Any) -> bool:
    return CHECK_TAG in cell.get("metadata", {}).get("tags", [])


def notebook_markdown(nb: Any, stem: str, files: Page) -> str:
    """The lesson as a page: prose, code and outputs, without the check cells and what they print."""
    note = (f'!!! note "Run it yourself"\n    `notebooks/{stem}.ipynb` (or `{stem}.py`, a jupytext notebook). '
            "Every number below was computed when this page was built, and checked by the notebook's "
            f'check cells (tagged `{CHECK_TAG}`, left out of this page).\n')
    parts = []
    n = 0
    for cell in nb.cells:
        if is_check(cell):
            continue
        if cell.cell_type == "markdown":
            parts.append(cell.source + "\n")
            if len(parts) == 1:
                parts.append(note)
        elif cell.cell_type == "code":
            parts.append("```python\n" + cell.source.rstrip() + "\n```\n")
            for out in cell.get("outputs", []):
                n += 1
                parts.append(_output_markdown(out, stem, n, files))
    return "\n".join(parts)


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]-*.py"))


def notebook_title(path: Path) -> str:
    """The notebook's first heading ('# # Part 1: the forward pass' in the percent format)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return path.stem


def series_pages(files: Page) -> list[tuple[str, str]]:
    """Execute each notebook (cached by the hash of the source) and write it as a page."""
    import nbformat

    cache = Path(tempfile.gettempdir()) / f"backproplab-docs-{_source_hash()}"
    cache.mkdir(exist_ok=True)
    titles = []
    for path in notebook_paths():
        stored = cache / f"{path.stem}.ipynb"
        if stored.exists():
            nb = nbformat.read(stored, as_version=4)
        else:
            nb = execute(path)
            nbformat.write(nb, stored)
        files[f"series/{path.stem}.md"] = notebook_markdown(nb, path.stem, files)
        titles.append((path.stem, notebook_title(path)))
    return titles


def series_index(titles: list[tuple[str, str]]) -> str:
    lines = ["# The series", "",
             "The worked example and what follows it, as notebooks in `notebooks/`. Each runs top to bottom "
             "in seconds and asserts the numbers it shows, so the test suite fails if one goes wrong. The "
             "pages below are the notebooks executed when this site was built, shown without their check cells.", ""]
    lines += [f"1. [{title}]({stem}.md)" for stem, title in titles]
    return "\n".join(lines) + "\n"


# --- the series as the package ships it (backproplab notebooks DIR) --------------------------------------
SHIPPED = ROOT / "src" / "backproplab" / "lesson" / "notebooks"


def _smaller_png(data: str) -> str:
    """A figure as a 256-colour PNG: a plot has few colours, and the file is about a third of the size."""
    from PIL import Image  # matplotlib's own dependency

    image = Image.open(io.BytesIO(base64.b64decode(data)))
    if image.mode == "RGBA" and image.getextrema()[3] != (255, 255):
        return data  # a see-through part would turn opaque
    out = io.BytesIO()
    image.convert("RGB").quantize(colors=256).save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")


def shipped_notebook(nb: Any) -> Any:
    """An executed notebook as a learner gets it: without its check cells, and without what only this run
    had (the widget, which needs its kernel, timings, object ids, jupytext's pairing), so that running an
    unchanged series again writes the same files."""
    nb.cells = [cell for cell in nb.cells if not is_check(cell)]
    count = 0
    for k, cell in enumerate(nb.cells):
        cell.id = f"cell-{k}"
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = [out for out in cell.outputs if WIDGET not in out.get("data", {})]
        for out in cell.outputs:
            if "execution_count" in out:
                out["execution_count"] = count
            if "image/png" in out.get("data", {}):
                out["data"]["image/png"] = _smaller_png(out["data"]["image/png"])
    for key in ("widgets", "jupytext"):
        nb.metadata.pop(key, None)
    return nb


def ship_notebooks() -> list[Path]:
    """Execute each notebook in a fresh kernel and write the copy the package ships into ``SHIPPED``."""
    import nbformat

    SHIPPED.mkdir(exist_ok=True)
    paths = notebook_paths()
    for old in SHIPPED.glob("*.ipynb"):  # a renamed or removed notebook leaves no copy behind
        if old.stem not in {p.stem for p in paths}:
            old.unlink()
    written = []
    for path in paths:
        target = SHIPPED / f"{path.stem}.ipynb"
        target.write_text(nbformat.writes(shipped_notebook(execute(path))) + "\n", encoding="utf-8")
        written.append(target)
    return written


# --- gallery -----------------------------------------------------------------------------------------
GALLERY = [  # (command after `backproplab`, what the run is)
    ("export-figures statquest {out}", "The dosage network: gradient descent on b3"),
    ("export-figures statquest {out} --optimize all --max-steps 2000 --no-animation",
     "The dosage network: all seven parameters"),
    ("export-figures moons {out} --max-steps 200 --no-animation", "Two moons: an MLP trained with Adam"),
]
ROW = re.compile(r"^\| \[([^\]]+)\]\([^)]*\)[^|]* \| (.*) \|$")


def gallery(files: Page) -> str:
    """Every figure of three runs, drawn by `backproplab export-figures` as the site is built, with
    the line its own index.md gives it."""
    lines = ["# Gallery", "", "Every figure below was drawn when this site was built, by the command above it "
             "(which also writes SVG files and an index.md that lists them). The line under each figure is "
             "from that index.", ""]
    for i, (command, heading) in enumerate(GALLERY):
        with tempfile.TemporaryDirectory() as folder:
            args = [*command.format(out=folder).split(), "--no-svg", "--dpi", "80"]
            done = subprocess.run([sys.executable, "-m", "backproplab", *args], capture_output=True, text=True,
                                  env={**os.environ, "MPLBACKEND": "Agg"})
            if done.returncode != 0:
                raise RuntimeError(f"backproplab {command}: {done.stderr.strip()}")
            index = (Path(folder) / "index.md").read_text(encoding="utf-8").splitlines()
            lines += [f"## {heading}", "", f"```bash\nbackproplab {command.format(out='figures/')}\n```", ""]
            lines += [line.lstrip("# ") for line in index[:4] if line and not line.startswith("|")] + [""]
            for row in index:
                found = ROW.match(row)
                if not found:
                    continue
                name, what = found.groups()
                if not name.endswith((".png", ".gif")):  # a graph as DOT text where Graphviz is missing
                    lines += [f"*{name}* (not drawn here): {what}", ""]
                    continue
                files[f"gallery/{i}-{name}"] = (Path(folder) / name).read_bytes()
                lines += [f"![{name}]({i}-{name})", "", f"*{name}*: {what}", ""]
    return "\n".join(lines) + "\n"


# --- pages written by hand, and what is generated for them ------------------------------------------
def hand_written(name: str) -> str:
    """A hand-written page of ``docs/``, as it is in the repository."""
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def speed_page() -> str:
    """The hand-written page on speed, then the dosage network's generated code in full and the benchmark results."""
    import backproplab as bl

    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    body = re.sub(r"^# .*\n", "", results, count=1)
    net, (x, y) = bl.presets.statquest()
    run = bl.compile(lambda: bl.losses.ssr(net(bl.Tensor(x, name="x")), bl.Tensor(y, name="y")))
    run()
    return (hand_written("speed.md").rstrip() + "\n"
            + "\n## The dosage network's replay in full\n\n`run.source` for the network above, written when "
              "this page was built:\n\n```python\n" + run.source + "```\n\n"
            + "## Measured\n\nFrom `benchmarks/RESULTS.md`, written by `python -m benchmarks` (install its "
              "extras with `pip install \".[bench]\"`).\n\n" + body)


ARTICLE_WORDS = (
    "The article prints rounded numbers, and at iteration 2 it works on with them: its predictions there "
    "are its rounded ŷ minus its rounded step, and its own terms add up to −6.20, not the −6.26 it prints "
    "(at iteration 1, to −15.62, not −15.7). The numbers here are exact; each one the article prints, "
    "beside the exact value:")


def article_page() -> str:
    """The dosage example beside the article it comes from, the table from the engine."""
    from backproplab.explain.article import ARTICLE, article_table_markdown

    return (f"# Compared with the article\n\nThe dosage example is worked by hand in *{ARTICLE}*. "
            f"{ARTICLE_WORDS}\n\n{article_table_markdown()}\n\n"
            "`backproplab demo statquest --compare` prints the same table after the run; "
            "`compared_with_article()` in `backproplab.explain.article` gives it as a list of rows, "
            "each with the article's number, the exact value and the reason.\n")


def pages() -> Page:
    files: Page = {}
    files["ops.md"] = ops_page()
    files["cli.md"] = cli_page()
    files["own-networks.md"] = spec_page()
    files["speed.md"] = speed_page()
    files["article.md"] = article_page()
    titles = series_pages(files)
    files["series/index.md"] = series_index(titles)
    files["gallery/index.md"] = gallery(files)
    return files


if __name__ == "__main__" and sys.argv[1:] == ["notebooks"]:  # python docs/gen.py notebooks
    shipped = ship_notebooks()
    size = sum(path.stat().st_size for path in shipped)
    print(f"wrote {len(shipped)} notebooks into {SHIPPED.relative_to(ROOT)} ({size / 1e6:.2f} MB)")
elif __name__ == "__main__":  # python docs/gen.py OUT: write the generated pages into OUT, to read them
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs-generated")
    with redirect_stdout(io.StringIO()):
        made = pages()
    for rel, content in made.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    print(f"wrote {len(made)} files into {out}")
