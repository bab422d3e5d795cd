"""PyTorch's "Learning PyTorch with Examples", autograd version: fit sin(x) with a + b x + c x² + d x³.

tests/test_torch_tutorials.py runs this text twice, as written and with its import line changed back to
``import torch``; START (the starting a, b, c, d) and STEPS come from the test, and ``results`` holds
the numbers it compares. The other changes from the tutorial: START instead of ``torch.randn``, float64
instead of float32, no ``device``, and fewer steps.
"""

import math

import backproplab as torch

dtype = torch.float64

# Create Tensors to hold input and outputs.
x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype)
y = torch.sin(x)

# Tensors for the weights y = a + b x + c x^2 + d x^3, with requires_grad=True
# so that the backward pass computes gradients with respect to them.
a = torch.tensor(START["a"], dtype=dtype, requires_grad=True)  # noqa: F821 - START comes from the test
b = torch.tensor(START["b"], dtype=dtype, requires_grad=True)  # noqa: F821
c = torch.tensor(START["c"], dtype=dtype, requires_grad=True)  # noqa: F821
d = torch.tensor(START["d"], dtype=dtype, requires_grad=True)  # noqa: F821

results = {"losses": []}
learning_rate = 1e-6
for t in range(STEPS):  # noqa: F821 - STEPS comes from the test
    # Forward pass: compute predicted y using operations on Tensors.
    y_pred = a + b * x + c * x ** 2 + d * x ** 3

    # Compute and print loss using operations on Tensors.
    loss = (y_pred - y).pow(2).sum()
    if t % 100 == 99:
        print(t, loss.item())
        results["losses"].append(loss.item())

    # Backward pass: a.grad, b.grad, c.grad and d.grad now hold the gradient of the loss.
    loss.backward()

    # Update the weights by gradient descent, without recording these operations.
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad

        # Manually zero the gradients after updating weights
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None

print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
results["final"] = [a.item(), b.item(), c.item(), d.item()]
