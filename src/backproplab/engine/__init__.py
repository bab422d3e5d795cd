"""The autograd engine: tensors, the op table, reverse-mode autodiff, compiled replay and gradient checks."""
