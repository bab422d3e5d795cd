"""PyTorch's "Automatic Differentiation with torch.autograd": gradients of a one-layer network, switching
gradient tracking off, and gradients that add up until ``x.grad.zero_()``.

tests/test_torch_tutorials.py runs this text twice, as written and with its import line changed back to
``import torch`` (float64 by default); START (w and b, for ``torch.randn``) comes from the test, and
``results`` holds the numbers it compares.
"""

import backproplab as torch

x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
w = torch.tensor(START["w"], requires_grad=True)  # noqa: F821 - START comes from the test
b = torch.tensor(START["b"], requires_grad=True)  # noqa: F821
z = torch.matmul(x, w)+b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)

# Computing gradients
loss.backward()
print(w.grad)
print(b.grad)
results = {"loss": loss.item(), "w.grad": w.grad.tolist(), "b.grad": b.grad.tolist()}

# Disabling gradient tracking
z = torch.matmul(x, w)+b
print(z.requires_grad)
results["tracked"] = z.requires_grad

with torch.no_grad():
    z = torch.matmul(x, w)+b
print(z.requires_grad)
results["under no_grad"] = z.requires_grad

z = torch.matmul(x, w)+b
z_det = z.detach()
print(z_det.requires_grad)
results["detached"] = z_det.requires_grad

# Tensor gradients and Jacobian products
inp = torch.eye(4, 5, requires_grad=True)
out = (inp+1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"First call\n{inp.grad}")
results["first call"] = inp.grad.tolist()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nSecond call\n{inp.grad}")
results["second call"] = inp.grad.tolist()
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nCall after zeroing gradients\n{inp.grad}")
results["after zeroing"] = inp.grad.tolist()
