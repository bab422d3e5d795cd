"""Losses: values, shape checks and stability (gradients are in test_ops and test_parity_torch)."""

from __future__ import annotations

import numpy as np
import pytest

from backproplab import Tensor, losses


def test_ssr_is_the_sum_of_squared_residuals():
    yhat = Tensor([-2.6, -1.6, -2.61], requires_grad=True)
    loss = losses.ssr(yhat, [0.0, 1.0, 0.0])
    assert loss.item() == pytest.approx(2.6**2 + 2.6**2 + 2.61**2)
    loss.backward()
    np.testing.assert_allclose(yhat.grad, [-2 * 2.6, -2 * 2.6, -2 * 2.61])
    assert loss.name == "SSR"


def test_column_and_row_targets_never_broadcast_to_a_square():
    yhat = Tensor(np.ones((3, 1)), requires_grad=True)
    assert losses.mse(yhat, [1.0, 2.0, 3.0]).item() == pytest.approx((0 + 1 + 4) / 3)
    with pytest.raises(ValueError, match="one target value per prediction"):
        losses.ssr(yhat, [1.0, 2.0])


@pytest.mark.parametrize("z", [-1000.0, 1000.0])
def test_bce_and_cross_entropy_are_stable_for_huge_logits(z):
    logits = Tensor([z, -z], requires_grad=True)
    loss = losses.bce_with_logits(logits, [1.0, 0.0])
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad))
    big = Tensor([[z, 0.0, -z]], requires_grad=True)
    ce = losses.cross_entropy(big, [0])
    ce.backward()
    assert np.isfinite(ce.item()) and np.all(np.isfinite(big.grad))
    assert ce.item() == pytest.approx(0.0 if z > 0 else 2000.0)


def test_cross_entropy_labels_and_probabilities_agree():
    z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    a = losses.cross_entropy(Tensor(z), [1, 2]).item()
    b = losses.cross_entropy(Tensor(z), np.eye(3)[[1, 2]]).item()
    assert a == pytest.approx(b)


def test_bad_targets_are_clear_errors():
    with pytest.raises(ValueError, match="between 0 and 1"):
        losses.bce_with_logits(Tensor([0.0]), [2.0])
    with pytest.raises(ValueError, match="whole numbers from 0 to 2"):
        losses.cross_entropy(Tensor(np.zeros((2, 3))), [0, 3])
    with pytest.raises(ValueError, match=r"shape \(samples, classes\)"):
        losses.cross_entropy(Tensor(np.zeros(3)), [0])
    with pytest.raises(ValueError, match="unknown loss 'sse'; did you mean 'ssr'"):
        losses.get_loss("sse")
