"""A small PyTorch training script, ported to backproplab by changing ``torch`` to ``backproplab``.

An MLP learns the two moons with AdamW and a cosine learning-rate schedule, in the usual
manual loop (zero_grad, forward, loss, backward, step), and reports its accuracy with
``argmax`` and ``==``. Lines that differ from the PyTorch original say so in a comment;
tests/test_examples.py runs the same loop in PyTorch float64 from the same starting weights
and checks that every loss and every final weight agree to 1e-9.

Run it with ``python examples/pytorch_style_moons.py``.
"""

from __future__ import annotations

import backproplab as bl
import backproplab.nn.functional as F

STEPS = 150
LR = 0.05
WEIGHT_DECAY = 1e-2


def make_model(seed: int = 0) -> bl.Module:
    # PyTorch: nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2))
    return bl.MLP([2, 16, 16, 2], activations="tanh", seed=seed)


def train(model: bl.Module, X, y, steps: int = STEPS) -> tuple[list[float], float]:
    """The training loop, exactly as in PyTorch; returns the loss at every step and the final accuracy."""
    X = bl.tensor(X)
    y = bl.tensor(y)
    optimizer = bl.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    scheduler = bl.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        logits = model(X)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    with bl.no_grad():
        accuracy = (model(X).argmax(dim=1) == y).float().mean().item()
    return losses, accuracy


def main() -> None:
    X, y = bl.datasets.moons(n=200, noise=0.1, seed=0)  # PyTorch users often take sklearn's make_moons
    model = make_model()
    losses, accuracy = train(model, X, y)
    for step in (0, 1, 2, len(losses) // 2, len(losses) - 1):
        print(f"step {step + 1:4d}  loss {losses[step]:.6f}")
    print(f"accuracy {accuracy:.1%} after {len(losses)} steps")


if __name__ == "__main__":
    main()
