"""The bridge on the command line: export-torch, and explain FILE.py:FUNCTION."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest

import backproplab as bl
from backproplab.spec.presets import get_preset

from .conftest import assert_clean_error, cli, needs_torch

pytestmark = needs_torch

MODEL = '''
import torch


def build():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()


def broken():
    return 1 / 0
'''


def write_model(tmp_path):
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    rows = ["a,b,y", "0.5,-1,0.3", "1.5,0.25,-0.7", "-0.2,2,1.1"]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return tmp_path / "model.py", tmp_path / "data.csv"


def test_explain_a_pytorch_model_from_the_users_file(tmp_path, capsys):
    import torch

    model_file, data = write_model(tmp_path)
    code, out, err = cli(capsys, "explain", f"{model_file}:build", "--param", "0.weight", "--index", "1,0",
                         "--data", str(data), "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()
    values = np.loadtxt(data, delimiter=",", skiprows=1)
    x, y = torch.from_numpy(values[:, :2]), torch.from_numpy(values[:, 2:])
    torch.nn.functional.mse_loss(model(x), y).backward()
    assert result["gradient"] == pytest.approx(model[0].weight.grad[1, 0].item(), rel=1e-9)
    assert result["index"] == [1, 0]


@pytest.mark.parametrize("loss", ["huber", "smooth_l1"])
def test_explain_a_pytorch_model_with_another_loss(tmp_path, capsys, loss):
    import torch

    model_file, data = write_model(tmp_path)
    code, out, err = cli(capsys, "explain", f"{model_file}:build", "--param", "2.bias", "--index", "0",
                         "--data", str(data), "--loss", loss, "--format", "json")
    assert code == 0, err
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()
    values = np.loadtxt(data, delimiter=",", skiprows=1)
    x, y = torch.from_numpy(values[:, :2]), torch.from_numpy(values[:, 2:])
    getattr(torch.nn.functional, f"{loss}_loss")(model(x), y).backward()
    assert json.loads(out)["gradient"] == pytest.approx(model[2].bias.grad[0].item(), rel=1e-9)


def test_users_file_mistakes_are_one_line(tmp_path, capsys):
    model_file, data = write_model(tmp_path)
    assert_clean_error(capsys, ["explain", f"{model_file}:broken", "--param", "0.weight", "--data", str(data)],
                       "running model.py:broken failed: ZeroDivisionError: division by zero (line 11 of model.py)")
    assert_clean_error(capsys, ["explain", f"{model_file}:missing", "--param", "0.weight", "--data", str(data)],
                       "model.py has no function 'missing'")
    assert_clean_error(capsys, ["explain", f"{model_file}:build", "--param", "0.weight"], "--data FILE.csv")
    assert_clean_error(capsys, ["explain", "statquest", "--param", "b3", "--data", str(data)],
                       "--data and --loss are for a PyTorch model")
    (tmp_path / "wide.csv").write_text("a,b,c,y\n1,2,3,4\n", encoding="utf-8")
    assert_clean_error(capsys, ["explain", f"{model_file}:build", "--param", "0.weight", "--data",
                                str(tmp_path / "wide.csv")], "takes 2 input features")


def test_explain_help_says_the_file_is_run(capsys):
    code, out, _ = cli(capsys, "explain", "--help")
    assert code == 0 and "this runs your file" in " ".join(out.split())


def test_export_torch_writes_a_state_dict_and_a_module(tmp_path, capsys):
    import torch

    code, out, err = cli(capsys, "export-torch", "moons", "-o", str(tmp_path / "moons.pt"))
    assert code == 0, err
    assert "moons.pt" in out and "moons.py" in out
    spec = importlib.util.spec_from_file_location("moons_export", tmp_path / "moons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Network()
    model.load_state_dict(torch.load(tmp_path / "moons.pt", weights_only=True))
    net, (x, _y) = get_preset("moons").build()
    np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), net(bl.Tensor(x)).data, rtol=1e-12,
                               atol=1e-12)


def _exported(path):
    import torch

    return {k: v.numpy() for k, v in torch.load(path, weights_only=True).items()}


def test_export_torch_trains_first_when_given_training_options(tmp_path, capsys):
    code, _, err = cli(capsys, "export-torch", "statquest", "-o", str(tmp_path / "start.pt"))
    assert code == 0, err
    code, _, err = cli(capsys, "export-torch", "statquest", "-o", str(tmp_path / "few.pt"), "--max-steps", "3")
    assert code == 0, err
    code, _, err = cli(capsys, "export-torch", "statquest", "-o", str(tmp_path / "many.pt"), "--max-steps", "30")
    assert code == 0, err
    net, (x, y) = get_preset("statquest").build()
    start, few, many = (_exported(tmp_path / f"{n}.pt") for n in ("start", "few", "many"))
    assert start["b3"] == pytest.approx(float(net.parameter("b3").data))  # no option: the example as it starts
    assert few["b3"] != start["b3"] and many["b3"] != few["b3"]  # trained, and for as many steps as asked
    code, _, err = cli(capsys, "export-torch", "statquest", "-o", str(tmp_path / "trained.pt"), "--train")
    assert code == 0, err
    assert _exported(tmp_path / "trained.pt")["b3"] != start["b3"]
    code, out, _ = cli(capsys, "export-torch", "--help")
    assert "--train" in out and "--max-steps" in out


def test_export_torch_errors(tmp_path, capsys, monkeypatch):
    assert_clean_error(capsys, ["export-torch", "statquest", "-o", str(tmp_path / "x.txt")], "a .pt file")
    monkeypatch.setitem(sys.modules, "torch", None)
    assert_clean_error(capsys, ["export-torch", "statquest", "-o", str(tmp_path / "x.pt")],
                       'pip install "backproplab[torch]"')
    assert not (tmp_path / "x.pt").exists()
    model_file, data = write_model(tmp_path)
    assert_clean_error(capsys, ["explain", f"{model_file}:build", "--param", "0.weight", "--data", str(data)],
                       'pip install "backproplab[torch]"')


def test_only_explain_runs_a_python_file(tmp_path, capsys):
    marker = tmp_path / "ran.txt"
    (tmp_path / "model.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n\ndef build():\n    return None\n",
                                       encoding="utf-8")
    source = f"{tmp_path / 'model.py'}:build"
    for command in (["run", source], ["forward", source], ["export-torch", source, "-o", str(tmp_path / "m.pt")]):
        code, _out, err = cli(capsys, *command)
        assert code == 2 and "Traceback" not in err
    assert not marker.exists()


TARGETS_MODEL = '''
import torch


class WithTargets(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)

    def forward(self, x, targets=None):
        out = self.fc(x)
        loss = None
        if targets is not None:
            loss = ((out - targets) ** 2).sum()
        return out, loss


def build():
    torch.manual_seed(0)
    return WithTargets().double()
'''


def test_explain_a_model_whose_forward_takes_optional_targets(tmp_path, capsys):
    import torch

    _, data = write_model(tmp_path)
    (tmp_path / "targets.py").write_text(TARGETS_MODEL, encoding="utf-8")
    code, out, err = cli(capsys, "explain", f"{tmp_path / 'targets.py'}:build", "--param", "fc.weight", "--index",
                         "0,1", "--data", str(data), "--format", "json")
    assert code == 0, err
    torch.manual_seed(0)
    fc = torch.nn.Linear(2, 1).double()
    values = np.loadtxt(data, delimiter=",", skiprows=1)
    x, y = torch.from_numpy(values[:, :2]), torch.from_numpy(values[:, 2:])
    torch.nn.functional.mse_loss(fc(x), y).backward()
    assert json.loads(out)["gradient"] == pytest.approx(fc.weight.grad[0, 1].item(), rel=1e-9)
