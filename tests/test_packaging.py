"""The package as a user meets it: what the browser tests need and what they do without it, output
that any locale can take, ``--debug`` anywhere on the line, type information for a type checker, and
the metadata of the wheel pip builds (licence, classifiers, one version, py.typed, the torch range), the
source distribution (everything its tests read) and the developer tools' dependency groups."""

from __future__ import annotations

import email.parser
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import typing
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import backproplab
from backproplab.cli.program import main
from backproplab.nn import Parameter
from backproplab.spec.data import SpecError
from backproplab.spec.presets import DosageNet
from tests import host_helpers, web_helpers
from tests.conftest import cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# --- the browser tests without a browser ----------------------------------------------------------
def test_without_a_browser_a_test_fails_in_ci_and_skips_elsewhere():
    with pytest.raises(pytest.fail.Exception, match="install chromium"):
        web_helpers.browser_missing_action(True)("the browser tests need chromium: apt-get install chromium")
    with pytest.raises(pytest.skip.Exception, match="install chromium"):
        web_helpers.browser_missing_action(False)("the browser tests need chromium: apt-get install chromium")


@pytest.mark.parametrize(("value", "ci"), [("true", True), ("1", True), ("", False), ("false", False)])
def test_ci_is_read_from_the_environment(monkeypatch, value, ci):
    monkeypatch.setenv("CI", value)
    assert web_helpers.in_ci() is ci


@pytest.fixture
def no_browser(monkeypatch, tmp_path):
    """A machine with no chromium: none named, none on PATH, and Playwright's own not downloaded."""
    monkeypatch.setenv("BACKPROPLAB_CHROMIUM", str(tmp_path / "no-such-chromium"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "playwright-browsers"))
    return tmp_path


@pytest.mark.parametrize("helper", ["web", "host"])
def test_a_browser_test_without_a_browser_skips_with_one_line_saying_how_to_get_one(no_browser, monkeypatch, helper):
    pytest.importorskip("playwright")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        if helper == "web":
            with web_helpers.chromium():
                pass
        else:
            next(host_helpers.chromium("the widget's browser tests"))
    reason = str(skipped.value)
    assert "\n" not in reason.strip()
    assert "apt-get install chromium" in reason and "playwright install chromium" in reason


def test_a_browser_test_without_a_browser_fails_in_ci(no_browser, monkeypatch):
    pytest.importorskip("playwright")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        with web_helpers.chromium():
            pass


def test_playwrights_own_chromium_is_used_when_no_other_is_found(no_browser):
    """Where ``python -m playwright install chromium`` puts its browser, the tests find it (a script that
    notes it ran and starts this machine's chromium stands in for the download, at the path Playwright
    itself asks for)."""
    pytest.importorskip("playwright")
    from playwright.sync_api import Error, sync_playwright

    real = Path("/usr/lib/chromium/chromium")
    if not real.exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium) to stand in for Playwright's")
    with sync_playwright() as p:
        with pytest.raises(Error, match="Executable doesn't exist at") as missing:
            p.chromium.launch()
    wanted = Path(re.search(r"Executable doesn't exist at (\S+)", str(missing.value)).group(1))
    wanted.parent.mkdir(parents=True)
    ran = no_browser / "playwrights-chromium-ran"
    wanted.write_text(f'#!/bin/sh\n: > "{ran}"\nexec "{real}" "$@"\n')
    wanted.chmod(0o755)
    with web_helpers.chromium() as browser:
        page = browser.new_page()
        page.set_content("<p id='x'>σ(z)</p>")
        assert page.inner_text("#x") == "σ(z)"
    assert ran.exists()


# --- output in any locale, and --debug anywhere -----------------------------------------------------
def demo_output(**env: str) -> subprocess.CompletedProcess:
    """``backproplab demo statquest`` in a fresh interpreter with the given locale settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONIOENCODING", "PYTHONUTF8"))}
    return subprocess.run([sys.executable, "-m", "backproplab", "demo", "statquest"], capture_output=True,
                          env={**clean, **env}, timeout=120)


@pytest.mark.parametrize("locale", [{"PYTHONIOENCODING": "cp1252"},
                                    {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0"},
                                    {"PYTHONIOENCODING": "ascii", "PYTHONUTF8": "0"}])
def test_the_demo_prints_its_numbers_whatever_the_locale(locale):
    net, (x, y) = backproplab.spec.presets.statquest()
    trace = backproplab.optim.GradientDescent(net.parameters(only=["b3"]), lr=0.1).fit(net, x, y, loss="ssr")
    first = f"dSSR/db3 = {trace.iterations[0].gradients['b3']:.2f}".replace("-", "\u2212")
    utf8 = demo_output(PYTHONIOENCODING="utf-8")
    proc = demo_output(**locale)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert proc.stderr == b""
    text = proc.stdout.decode("utf-8")
    assert first in text and f"b3 \u2248 {trace.final.params['b3']:.2f}" in text
    assert proc.stdout == utf8.stdout


class AsciiOnly(io.StringIO):
    """A stream that is not a text wrapper and takes ASCII only, as some embedding hosts give."""

    encoding = "ascii"

    def write(self, text: str) -> int:
        text.encode("ascii")
        return super().write(text)


def test_output_a_stream_cannot_take_is_one_line_and_not_a_usage_error(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", AsciiOnly())
    code, _, err = cli(capsys, "demo", "statquest", "--max-steps", "1")
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "cannot be written as ascii" in err and "PYTHONIOENCODING=utf-8" in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_works_before_or_after_the_command(capsys, tmp_path, where):
    missing = str(tmp_path / "missing.toml")
    args = ["--debug", "run", missing] if where == "before" else ["run", missing, "--debug"]
    with pytest.raises(SpecError, match="no such file"):
        main(args)
    code, _, err = cli(capsys, "run", missing)
    assert code == 2 and "no such file" in err and "Traceback" not in err


def test_debug_after_the_command_leaves_a_good_run_alone(capsys):
    code, out, err = cli(capsys, "demo", "statquest", "--max-steps", "1", "--debug")
    assert code == 0 and "dSSR/db3" in out


# --- types ---------------------------------------------------------------------------------------
def test_the_dosage_networks_parameters_are_declared_for_a_type_checker():
    hints = typing.get_type_hints(DosageNet)
    names = [name for name, _ in DosageNet().named_parameters()]
    assert names and {name: hints.get(name) for name in names} == {name: Parameter for name in names}


def test_py_typed_is_in_the_package_and_its_package_data():
    assert (ROOT / "src" / "backproplab" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["backproplab"]


# --- the project's metadata ------------------------------------------------------------------------
def test_the_version_is_written_once():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "backproplab.__version__"}
    assert importlib.metadata.version("backproplab") == backproplab.__version__


def test_the_build_asks_for_a_setuptools_that_builds_it():
    reqs = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    setuptools = next(r for r in reqs if r.name == "setuptools")
    assert not setuptools.specifier.contains("76.1.0") and setuptools.specifier.contains("77.0.3")


def test_the_licence_is_a_file_and_an_expression():
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "Copyright (c) 2026 the backproplab authors" in licence
    assert PYPROJECT["project"]["license"] == "MIT" and PYPROJECT["project"]["license-files"] == ["LICENSE"]


def extra(name: str) -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][name]]


def test_torch_is_a_range_and_pinned_only_for_the_parity_checks():
    torch = next(r for r in extra("torch") if r.name == "torch")
    assert torch.specifier.contains("2.2.0") and torch.specifier.contains("2.99.0")
    parity = next(r for r in extra("parity") if r.name == "torch")
    assert [s.operator for s in parity.specifier] == ["=="]
    pinned = [(name, r) for name in PYPROJECT["project"]["optional-dependencies"] if name != "parity"
              for r in extra(name) if r.name == "torch" and any(s.operator == "==" for s in r.specifier)]
    assert pinned == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel pip builds from the project's files (copied, so the checkout gets no build folder)."""
    import setuptools

    if Version(setuptools.__version__) < Version("77"):
        pytest.skip(f"setuptools {setuptools.__version__} cannot build it; pip install 'setuptools>=77'")
    src = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src" / "backproplab", src / "src" / "backproplab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(src / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = (src / "dist").glob("backproplab-*.whl")
    return zipfile.ZipFile(built)


def metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(wheel.read(name).decode("utf-8"))


def test_the_wheel_ships_py_typed_and_the_licence(wheel):
    names = wheel.namelist()
    assert "backproplab/py.typed" in names
    (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert wheel.read(licence) == (ROOT / "LICENSE").read_bytes()


def test_the_wheels_metadata(wheel):
    meta = metadata(wheel)
    assert meta["Version"] == backproplab.__version__
    assert meta["License-Expression"] == "MIT"
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers and "Intended Audience :: Education" in classifiers
    assert {c for c in classifiers if c.startswith("Programming Language :: Python :: 3.")} == {
        f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 14)}
    torch = {str(r.marker): r for r in map(Requirement, meta.get_all("Requires-Dist")) if r.name == "torch"}
    assert not any(s.operator == "==" for s in torch['extra == "torch"'].specifier)
    assert [s.operator for s in torch['extra == "parity"'].specifier] == ["=="]


# --- the source distribution ----------------------------------------------------------------------
REPOSITORY_ONLY = (".ci/", ".gitignore")  # CI's scripts: an sdist's tests do not read them


def checkout_files() -> list[str]:
    """The project's files as git sees them, new ones included and ignored ones left out."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs the git checkout: the sdist is compared with the files git lists")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    return [name for name in listed if (ROOT / name).is_file()]  # a file deleted but not yet committed is gone


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> tuple[list[str], set[str]]:
    """The checkout's files, and the members of the sdist setuptools builds from a copy of them."""
    import setuptools

    files = checkout_files()
    if Version(setuptools.__version__) < Version("77"):
        pytest.skip(f"setuptools {setuptools.__version__} cannot build it; pip install 'setuptools>=77'")
    src = tmp_path_factory.mktemp("checkout")
    for name in files:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, src / name)
    build = "import sys; from setuptools.build_meta import build_sdist; build_sdist(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", build, str(src / "dist")], cwd=src, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = (src / "dist").glob("backproplab-*.tar.gz")
    with tarfile.open(built) as tar:
        members = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    return files, members


def test_the_sdist_carries_every_file_of_the_project_but_cis_scripts(sdist):
    files, members = sdist
    assert any(name.startswith("tests/snapshots/") for name in files)  # the comparison sees the test data
    missing = [name for name in files if name not in members and not name.startswith(REPOSITORY_ONLY)]
    assert missing == [], "add them to MANIFEST.in: " + ", ".join(missing)
    assert not [name for name in members if name.startswith(REPOSITORY_ONLY)]


def test_the_sdist_carries_no_build_leftovers(sdist):
    _, members = sdist
    assert not [name for name in members if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in members if name.split("/", 1)[0] in {".venv", "build", "dist", ".hypothesis"}]


def test_every_folder_the_tests_read_is_in_the_sdist(sdist):
    """A test that opens a path under the project's root needs it in the sdist, git-ignored or not (.git is
    the exception: the test reading it skips outside a checkout)."""
    _, members = sdist
    shipped = {name.split("/", 1)[0] for name in members}
    pattern = r"(?:\bROOT|__file__\)(?:\.resolve\(\))?\.(?:parents\[1\]|parent\.parent)) */ *\"([^\"/]+)"
    read = {first for path in (ROOT / "tests").glob("*.py")
            for first in re.findall(pattern, path.read_text(encoding="utf-8"))}
    assert {"tests", "docs", "notebooks", "examples", "src"} <= read
    assert sorted(read - shipped - {".git"}) == []


# --- the developer tools -----------------------------------------------------------------------------
def dependency_group(name: str) -> list[Requirement]:
    """A PEP 735 group with its ``include-group`` entries expanded."""
    reqs: list[Requirement] = []
    for entry in PYPROJECT["dependency-groups"][name]:
        reqs += dependency_group(entry["include-group"]) if isinstance(entry, dict) else [Requirement(entry)]
    return reqs


def test_the_dev_group_has_the_tools_and_the_test_extras_bounds():
    dev = {r.name: r.specifier for r in dependency_group("dev")}
    assert {"ruff", "import-linter", "radon", "mypy", "build"} <= set(dev)
    shared = {r.name: r.specifier for r in extra("test") if r.name in dev}
    assert set(shared) >= {"ruff", "import-linter"} and shared == {name: dev[name] for name in shared}


# --- the README ------------------------------------------------------------------------------------
def test_the_readme_names_every_prerequisite_of_the_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```bash\n(.*?)^```$", readme, flags=re.S | re.M)
    assert "pytest" in blocks[1]
    after = readme[readme.index(blocks[1]) + len(blocks[1]):]
    after = after[:after.index("\n## ")]
    for needed in ("apt-get install chromium", "playwright install chromium", "BACKPROPLAB_CHROMIUM", "CI=true",
                   "texlive-latex-base", "graphviz", "GB", "minutes"):
        assert needed in after, needed
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", "-p",
                                "no:cacheprovider", "tests/test_explain_latex.py", "-k", "pdflatex"],
                               capture_output=True, text=True, cwd=ROOT, timeout=300)
    tex_tests = [line for line in collected.stdout.splitlines() if "::test_latex_compiles_with_pdflatex[" in line]
    assert tex_tests and f"the {len(tex_tests)} tests that compile" in after, collected.stdout[-500:]


def test_the_readme_layout_is_the_package_and_its_layers():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1]
    tree = layout.split("```text\n", 1)[1].split("```", 1)[0]
    listed = re.findall(r"^  (\w+)/ ", tree, flags=re.M)
    folders = sorted(p.parent.name for p in (ROOT / "src" / "backproplab").glob("*/__init__.py"))
    assert sorted(listed) == folders
    layers = re.search(r"^layers = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M).group(1)
    bottom_up = [name.strip().strip('"') for name in reversed(layers.split(","))]
    assert " → ".join(bottom_up) in " ".join(layout.split())
    assert listed == [name for layer in bottom_up for name in layer.split(" | ")]  # the tree is in layer order
