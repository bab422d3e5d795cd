"""LeNet with batch normalization from Dive into Deep Learning
(https://github.com/d2l-ai/d2l-en/blob/master/chapter_convolutional-modern/batch-norm.md, the PyTorch
"concise implementation", as d2l 0.17 writes it with explicit sizes), in training mode: each BatchNorm
normalizes with the statistics of the batch."""

from __future__ import annotations

import torch
from torch import nn

from .zoo import Case, ZooModel, floats, tokens

D2L = "https://github.com/d2l-ai/d2l-en/blob/master/chapter_convolutional-modern/batch-norm.md"


def lenet_batch_norm(seed: int = 0, batch: int = 4) -> Case:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, 10))
    net = net.double().train()
    return net, nn.CrossEntropyLoss(), floats(seed, batch, 1, 28, 28), tokens(seed, 10, batch), "5.weight[7]"


MODELS = [
    ZooModel("d2l LeNet with BatchNorm (training)", D2L, "Sequential: Conv2d, BatchNorm2d, Sigmoid, AvgPool2d, "
             "Flatten, Linear, BatchNorm1d (batch statistics); CrossEntropyLoss", lenet_batch_norm),
]
