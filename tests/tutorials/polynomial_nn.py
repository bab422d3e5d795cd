"""PyTorch's "Learning PyTorch with Examples", nn version: fit sin(x) with a Linear(3, 1) layer.

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

# The output y is a linear function of (x, x^2, x^3): prepare the tensor (x, x^2, x^3).
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)

# A Linear layer, then Flatten so that the output is 1D, to match the shape of y.
model = torch.nn.Sequential(
    torch.nn.Linear(3, 1),
    torch.nn.Flatten(0, 1)
)
model.load_state_dict({name: torch.tensor(value) for name, value in START.items()})  # noqa: F821 - from the test

loss_fn = torch.nn.MSELoss(reduction='sum')

results = {"losses": []}
learning_rate = 1e-6
for t in range(STEPS):  # noqa: F821 - STEPS comes from the test
    # Forward pass: compute predicted y by passing x to the model.
    y_pred = model(xx)

    # Compute and print loss.
    loss = loss_fn(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())
        results["losses"].append(loss.item())

    # Zero the gradients before running the backward pass.
    model.zero_grad()

    # Backward pass: compute gradient of the loss with respect to all the learnable parameters of the model.
    loss.backward()

    # Update the weights using gradient descent.
    with torch.no_grad():
        for param in model.parameters():
            param -= learning_rate * param.grad

# You can access the first layer of `model` like accessing the first item of a list
linear_layer = model[0]

# For linear layer, its parameters are stored as `weight` and `bias`.
print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + '
      f'{linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
results["final"] = [linear_layer.bias.item(), linear_layer.weight[:, 0].item(), linear_layer.weight[:, 1].item(),
                    linear_layer.weight[:, 2].item()]
