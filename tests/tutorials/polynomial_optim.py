"""PyTorch's "Learning PyTorch with Examples", optim version: fit sin(x) with a Linear(3, 1) layer and RMSprop.

tests/test_torch_tutorials.py runs this text twice, as written and with its import line changed back to
``import torch`` (float64 by default); START (the layer's starting state_dict, as arrays) and STEPS come
from the test, and ``results`` holds the numbers it compares. Changed from the tutorial: the
load_state_dict line and fewer steps.
"""

import math

import backproplab as torch

# Create Tensors to hold input and outputs.
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

# Prepare the input tensor (x, x^2, x^3).
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)

# Use the nn package to define our model and loss function.
model = torch.nn.Sequential(
    torch.nn.Linear(3, 1),
    torch.nn.Flatten(0, 1)
)
model.load_state_dict({name: torch.tensor(value) for name, value in START.items()})  # noqa: F821 - from the test
loss_fn = torch.nn.MSELoss(reduction='sum')

# Use the optim package to define an Optimizer that will update the weights of the model for us.
learning_rate = 1e-3
optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)

results = {"losses": []}
for t in range(STEPS):  # noqa: F821 - STEPS comes from the test
    # Forward pass: compute predicted y by passing x to the model.
    y_pred = model(xx)

    # Compute and print loss.
    loss = loss_fn(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())
        results["losses"].append(loss.item())

    # Zero the gradients, compute them, and let the optimizer update the parameters.
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

linear_layer = model[0]
print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + '
      f'{linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
results["final"] = [linear_layer.bias.item(), linear_layer.weight[:, 0].item(), linear_layer.weight[:, 1].item(),
                    linear_layer.weight[:, 2].item()]
