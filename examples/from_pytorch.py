"""A PyTorch model's gradients, worked out by the chain rule; and a backproplab network handed to PyTorch.

Run it with:  python examples/from_pytorch.py [OUTPUT_FOLDER]   (needs: pip install "backproplab[torch]")
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import backproplab as bl
from backproplab.bridge import save

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out")
out.mkdir(parents=True, exist_ok=True)

# A small PyTorch model and some data, in float64 so the numbers match a hand calculation.
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()
x, y = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)

# The same network in backproplab: same parameters, same names, PyTorch's (out, in) layout.
net = bl.from_torch(model)
loss = bl.losses.mse(net(bl.Tensor(x.numpy(), name="x")), bl.Tensor(y.numpy(), name="y"))
print(bl.explain(loss, wrt=net["0.weight"], index=(1, 0)))

# The same in one call, checked against PyTorch's own loss.backward() before it is shown.
print(bl.explain_torch(model, F.mse_loss, x, y, wrt="0.weight[1,0]"))


# The dosage network, written the PyTorch way: dSSR/db3 at the start is −15.66, as in the worked example.
class Dosage(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        start = {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 0.0}
        for name, value in start.items():
            setattr(self, name, torch.nn.Parameter(torch.tensor(value, dtype=torch.float64)))

    def forward(self, dose):
        h1 = F.softplus(self.w1 * dose + self.b1)
        h2 = F.softplus(self.w2 * dose + self.b2)
        return self.w3 * h1 + self.w4 * h2 + self.b3


doses = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
observed = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
print(bl.explain_torch(Dosage(), torch.nn.MSELoss(reduction="sum"), doses, observed, wrt="b3"))

# And back: a backproplab network as a PyTorch module, and as files (a state_dict and the module's source).
dosage, (dx, _dy) = bl.presets.statquest()
module = bl.to_torch(dosage)
same = np.allclose(module(torch.from_numpy(dx)).detach().numpy(), dosage(bl.Tensor(dx)).data, rtol=1e-12, atol=0)
pt, py = save(dosage, out / "dosage.pt")
print(f"to_torch gives the same predictions: {same}; wrote {pt} and {py}")
