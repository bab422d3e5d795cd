"""PyTorch's "Quickstart": a small network classifies images, with a train() and a test() loop.

tests/test_torch_tutorials.py runs this text twice, as written and with its import lines changed back to
``import torch`` and ``from torch import nn`` (float64 by default). DATA (small random 1×6×6 "images"
in 10 classes, for FashionMNIST), START (the starting state_dict, as arrays) and EPOCHS come from the test,
and ``results`` holds the numbers it compares. Batches are slices of the data instead of a DataLoader.
"""

import backproplab as torch
from backproplab import nn

train_images, train_labels = torch.tensor(DATA["train_images"]), torch.tensor(DATA["train_labels"])  # noqa: F821 - from the test
test_images, test_labels = torch.tensor(DATA["test_images"]), torch.tensor(DATA["test_labels"])  # noqa: F821
batch_size = 16

X, y = test_images[:batch_size], test_labels[:batch_size]
print(f"Shape of X [N, C, H, W]: {X.shape}")
print(f"Shape of y: {y.shape} {y.dtype}")


# Define model
class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(36, 32),
            nn.ReLU(),
            nn.Linear(32, 32),
            nn.ReLU(),
            nn.Linear(32, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork()
model.load_state_dict({name: torch.tensor(value) for name, value in START.items()})  # noqa: F821 - from the test
print(model)

loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

results = {"train_losses": [], "test_losses": [], "accuracies": []}


def batches(X_all, y_all):
    for start in range(0, X_all.size(0), batch_size):
        yield X_all[start:start + batch_size], y_all[start:start + batch_size]


def train(X_all, y_all, model, loss_fn, optimizer):
    size = X_all.size(0)
    model.train()
    for batch, (X, y) in enumerate(batches(X_all, y_all)):
        # Compute prediction error
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        results["train_losses"].append(loss.item())
        if batch % 2 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(X_all, y_all, model, loss_fn):
    size = X_all.size(0)
    num_batches = (size + batch_size - 1) // batch_size
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in batches(X_all, y_all):
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    results["test_losses"].append(test_loss)
    results["accuracies"].append(correct)


epochs = EPOCHS  # noqa: F821 - EPOCHS comes from the test
for t in range(epochs):
    print(f"Epoch {t+1}\n-------------------------------")
    train(train_images, train_labels, model, loss_fn, optimizer)
    test(test_images, test_labels, model, loss_fn)
print("Done!")
results["final"] = {name: value.tolist() for name, value in model.state_dict().items()}
