"""Loss modules, as ``torch.nn.MSELoss`` and its kin: the settings are given once, when the module is made.

Each ``forward`` calls the loss function of ``backproplab.nn.losses`` with those settings, so a module
and its function give the same tensor, named and explained the same way.
"""

from __future__ import annotations

from typing import Any

from backproplab.engine.tensor import Tensor
from backproplab.nn import losses
from backproplab.nn.module import Module


class _Loss(Module):
    """A loss with its reduction ("mean", "sum" or "none"), checked when the module is made."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in losses.REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        """The settings that differ from PyTorch's defaults, for ``repr``."""
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class MSELoss(_Loss):
    """Mean squared error, as ``torch.nn.MSELoss``: ``F.mse_loss(input, target, reduction=...)``."""

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 - PyTorch's names
        return losses.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error, as ``torch.nn.L1Loss``."""

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return losses.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Huber loss, as ``torch.nn.HuberLoss``: squared within ``delta`` of the target, linear beyond."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        losses.huber_loss(0.0, 0.0, delta=delta)  # a bad delta is an error now, not at the first forward
        self.delta = float(delta)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return losses.huber_loss(input, target, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return ", ".join(s for s in (super().extra_repr(), "" if self.delta == 1.0 else f"delta={self.delta:g}") if s)


class SmoothL1Loss(_Loss):
    """Smooth L1 loss, as ``torch.nn.SmoothL1Loss``: squared (over ``beta``) within ``beta`` of the target, linear
    beyond."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        losses.smooth_l1_loss(0.0, 0.0, beta=beta)  # a bad beta is an error now, not at the first forward
        self.beta = float(beta)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return losses.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return ", ".join(s for s in (super().extra_repr(), "" if self.beta == 1.0 else f"beta={self.beta:g}") if s)


class KLDivLoss(_Loss):
    """KL divergence of log-probabilities from a target, as ``torch.nn.KLDivLoss`` (``reduction="batchmean"``
    gives the divergence per sample)."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        if reduction not in losses.KL_REDUCTIONS:
            raise ValueError(f"KLDivLoss: reduction must be 'batchmean', 'mean', 'sum' or 'none', got {reduction!r}")
        super().__init__("mean")
        self.reduction = reduction
        self.log_target = bool(log_target)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return losses.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self) -> str:
        return ", ".join(s for s in (super().extra_repr(), "log_target=True" if self.log_target else "") if s)


class _Weighted(_Loss):
    """A loss that weighs its entries or classes by ``weight`` (None: all count the same)."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight


class BCELoss(_Weighted):
    """Binary cross-entropy on probabilities, as ``torch.nn.BCELoss``; ``weight`` weighs each entry."""

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return losses.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Weighted):
    """Binary cross-entropy on logits, as ``torch.nn.BCEWithLogitsLoss`` (without ``pos_weight``)."""

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return losses.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction)


class NLLLoss(_Weighted):
    """Negative log-likelihood of log-probabilities, as ``torch.nn.NLLLoss``."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return losses.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(_Weighted):
    """Softmax cross-entropy on logits, as ``torch.nn.CrossEntropyLoss``: class indices or class probabilities
    as the target, ``weight`` per class, ``ignore_index`` and ``label_smoothing``."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, reduction)
        if not (isinstance(label_smoothing, (int, float)) and 0.0 <= label_smoothing <= 1.0):
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be between 0 and 1, got {label_smoothing!r}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return losses.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                                    reduction=self.reduction, label_smoothing=self.label_smoothing)


LOSS_MODULES = (MSELoss, L1Loss, HuberLoss, SmoothL1Loss, KLDivLoss, BCELoss, BCEWithLogitsLoss, NLLLoss,
                CrossEntropyLoss)
