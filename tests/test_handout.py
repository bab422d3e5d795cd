"""``backproplab handout``: the PDF holds the numbers the terminal prints, the worksheet none of the answers and
the key all of them, the HTML reads whole at A4 in print, and bad input is one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import backproplab as bl
from backproplab.cli.program import main
from backproplab.lesson import handout_files, handout_html, handout_typst, typeset
from backproplab.lesson.handout import blanks, build
from backproplab.lesson.settings import Settings
from backproplab.optim import GradientDescent
from backproplab.spec import presets

pypdf = pytest.importorskip("pypdf")
pytest.importorskip("typst")

ITERATIONS = [1, 2, 3]
CHECK = (Path(__file__).resolve().parent / "page_layout_check.js").read_text(encoding="utf-8")


def plain(text: str) -> str:
    """Text with every minus sign as '-' and runs of space as one, so numbers compare as written."""
    return re.sub(r"\s+", " ", text.replace("\u2212", "-"))


def pdf_text(path: Path) -> str:
    return plain(" ".join(page.extract_text() for page in pypdf.PdfReader(path).pages))


@pytest.fixture(scope="module")
def handout():
    return build(Settings(preset="statquest"), "1-3", ["b3", "w1"])


@pytest.fixture(scope="module")
def written(handout, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("handout")
    out = {w.kind: w.path for w in handout_files.write(handout, folder / "part3.pdf")}
    out.update({w.kind: w.path for w in handout_files.write(handout, folder / "part3.pdf", worksheet=True, key=True)})
    return out


def terminal_numbers(capsys, param: str, k: int) -> list[str]:
    """The results the terminal's ``explain`` prints at iteration k: the gradient, the step size, the new value."""
    assert main(["explain", "statquest", "--param", param, "--iteration", str(k)]) == 0
    out = plain(capsys.readouterr().out)
    step = re.search(r"step size = gradient × learning rate = \S+ × \S+ = (-?\d+\.\d+)", out)
    new = re.search(rf"new {param} = old {param} - step size = \S+ - \S+ = (-?\d+\.\d+)", out)
    gradient = re.findall(r"= (-?\d+\.\d+)", out[:step.start()] if step else out)[-1]
    return [gradient] + [m.group(1) for m in (step, new) if m]


def test_the_pdf_holds_the_numbers_the_terminal_prints(written, capsys) -> None:
    text = pdf_text(written["handout"])
    for k in ITERATIONS:
        b3 = terminal_numbers(capsys, "b3", k)
        assert len(b3) == 3  # the gradient, the step size, the new b3
        w1 = terminal_numbers(capsys, "w1", k)
        for number in b3 + w1:
            assert number in text, (k, number)
    assert main(["forward", "statquest"]) == 0
    loss = re.search(r"SSR = .* = (\d+\.\d+)", plain(capsys.readouterr().out)).group(1)
    assert loss in text


def test_the_worksheet_holds_none_of_the_answers_and_the_key_all(handout, written) -> None:
    sheet, key = pdf_text(written["worksheet"]), pdf_text(written["key"])
    answers = list(handout.blanks.values())
    distinct = [b for b in answers if len(re.sub(r"\D", "", b.shown)) >= 3]  # not a 0, 1 or 0.5 of the data
    assert len(distinct) >= 20
    for b in distinct:
        assert plain(b.shown) not in sheet, b.label
    for b in answers:
        assert plain(b.shown) in key, b.label
    assert "Every answer" in key and "Every answer" not in sheet


def test_blanks_are_one_list_with_unique_keys_and_labels(handout) -> None:
    listed = blanks(Settings(preset="statquest"), "1-3", ["b3", "w1"])
    assert [b.key for b in listed] == list(handout.blanks)
    assert len({b.label for b in listed}) == len(listed)
    assert {"it2.b3.gradient", "it2.b3.step", "it2.b3.new", "it3.w1.gradient", "forward.1.loss"} <= set(handout.blanks)
    net, (x, y) = presets.statquest()  # the engine's own run of the same example, b3 trained at rate 0.1
    trace = GradientDescent([dict(net.named_parameters())["b3"]], lr=0.1).fit(net, x, y, loss="ssr")
    assert handout.blanks["it2.b3.gradient"].value == pytest.approx(float(trace.iterations[1].gradients["b3"]))
    assert handout.blanks["it2.b3.new"].value == pytest.approx(float(trace.iterations[2].params["b3"]))


@pytest.mark.parametrize("kind", ["handout", "worksheet", "key"])
def test_the_html_handout_reads_whole_at_a4_in_print(browser, handout, kind) -> None:
    html = handout_html.page(handout, kind)
    assert "<script" not in html and 'class="katex"' in html
    page = browser.new_page(viewport={"width": 794, "height": 1123})
    page.emulate_media(media="print")
    page.set_content(html)
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 794, "height": height})  # every line on screen, so overlaps are looked for
    assert page.evaluate(CHECK) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 794
    breaks = page.evaluate("[...document.querySelectorAll('section.new-page')]"
                           ".map(s => getComputedStyle(s).breakBefore)")
    assert breaks and set(breaks) == {"page"}
    page.close()


@pytest.mark.parametrize(("argv", "said"), [
    (["--params", "b9"], "no parameter 'b9' in this network; choose from w1, b1"),
    (["--iterations", "1-400"], "iteration 400 is not in this run; choose iterations from 1 to"),
    (["--iterations", "three"], "is not a list such as 1-3"),
    (["-o", "part3.docx"], "end the file name in .pdf, .html or .md"),
    (["--params", "w1[2,1]"], "is not an entry of w1"),
])
def test_bad_input_is_one_clear_line(argv, said, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["handout", "statquest", *argv] + ([] if "-o" in argv else ["-o", "part3.pdf"])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_the_command_writes_the_worksheet_and_key_and_names_them(tmp_path, capsys) -> None:
    out = tmp_path / "part3.pdf"
    assert main(["handout", "statquest", "--iterations", "1-2", "--worksheet", "--key", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    for name in ("part3-worksheet.pdf", "part3-key.pdf"):
        assert (tmp_path / name).read_bytes().startswith(b"%PDF") and name in err
    assert not out.exists()


def test_without_the_extra_the_command_writes_html_and_says_how(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(typeset, "missing", lambda: ["typst", "mini-racer"])
    assert main(["handout", "statquest", "-o", str(tmp_path / "part3.pdf")]) == 0
    err = capsys.readouterr().err
    assert not (tmp_path / "part3.pdf").exists()
    html = (tmp_path / "part3.html").read_text(encoding="utf-8")
    assert "Part 1: the forward pass" in html and 'class="katex"' not in html
    assert [line for line in err.splitlines() if typeset.INSTALL in line] == [
        f"wrote HTML instead of a PDF (part3.html); for the PDF: {typeset.INSTALL}"]


def test_markdown_and_the_python_api(tmp_path, handout) -> None:
    md = handout_html.markdown(handout, "key")
    assert "## Part 3: iteration 2" in md and f"${handout.blanks['it2.b3.new'].latex}$" in md
    paths = bl.handout("statquest", tmp_path / "p.md", iterations="2", params="b3", worksheet=True, key=True)
    assert [p.name for p in paths] == ["p-worksheet.md", "p-key.md"]
    assert "\\_\\_\\_\\_" in paths[0].read_text(encoding="utf-8")
    assert "<html" in bl.handout("statquest", iterations="1")


def test_each_typst_page_compiles_to_an_image(handout) -> None:
    pages = handout_typst.pages(handout, "worksheet", ppi=20)
    assert len(pages) >= 5 and all(p.startswith(b"\x89PNG") for p in pages)
