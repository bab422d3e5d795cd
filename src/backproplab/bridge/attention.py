"""PyTorch's ``F.scaled_dot_product_attention``, written out as the steps it stands for.

softmax(q kᵀ · scale + mask) v: a matmul, a scale, a mask, a softmax and a matmul, each an op of
the table, so an explained gradient through attention reads the same derivative statements as the
manual attention of nanoGPT (``att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))``).
Dropout inside the function (``dropout_p > 0``) draws at every call, in eval mode too, so it is
refused; nanoGPT passes ``dropout_p=0`` when not training.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from backproplab.bridge._torch import TorchBridgeError
from backproplab.engine.functions import matmul, softmax
from backproplab.engine.tensor import Tensor

NAME = "scaled_dot_product_attention"


def _checked(query: Any, key: Any, value: Any) -> tuple[Tensor, Tensor, Tensor]:
    """query (…, L, E), key (…, S, E) and value (…, S, Ev) as tensors, or one line naming the shapes that do not fit."""
    q, k, v = (x if isinstance(x, Tensor) else Tensor(x) for x in (query, key, value))
    if min(q.ndim, k.ndim, v.ndim) < 2 or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise TorchBridgeError(f"{NAME} takes query (…, L, E), key (…, S, E) and value (…, S, Ev), got shapes "
                               f"{tuple(q.shape)}, {tuple(k.shape)} and {tuple(v.shape)}")
    return q, k, v


def _masked(scores: Tensor, attn_mask: Any) -> Tensor:
    """A boolean mask keeps the scores where it is True (the others become −inf); a float mask is added."""
    mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor(np.asarray(attn_mask))
    try:
        np.broadcast_shapes(tuple(mask.shape), tuple(scores.shape))
    except ValueError:
        raise TorchBridgeError(f"{NAME}: attn_mask of shape {tuple(mask.shape)} does not broadcast to the scores' "
                               f"shape {tuple(scores.shape)} (…, L, S)") from None
    if mask.dtype == np.bool_:
        return scores.masked_fill(~mask, float("-inf"))
    if mask.dtype.kind == "f":
        return scores + mask
    raise TorchBridgeError(f"{NAME}: attn_mask must be boolean (True where a query may attend) or floating (added to "
                           f"the scores), got {mask.dtype}; use mask.bool() or a float mask of 0 and -inf")


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, *, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q kᵀ · scale + mask) v, as ``torch.nn.functional.scaled_dot_product_attention``; ``scale`` is
    1/√E by default, ``is_causal`` lets query i attend to keys 0…i only."""
    if dropout_p != 0:
        raise TorchBridgeError(f"{NAME} with dropout_p={dropout_p} drops attention weights at random at every call "
                               "(in eval mode too), which backproplab cannot share with PyTorch's check; pass "
                               "dropout_p=0 when not training (dropout_p=self.dropout if self.training else 0) and "
                               "call model.eval()")
    if is_causal and attn_mask is not None:
        raise TorchBridgeError(f"{NAME}: give attn_mask or is_causal=True, not both (PyTorch's documentation rules "
                               "out the pair); put the causal mask into attn_mask instead")
    q, k, v = _checked(query, key, value)
    if enable_gqa and q.ndim > 2 and q.shape[-3] != k.shape[-3]:
        raise TorchBridgeError(f"{NAME}: enable_gqa=True with {q.shape[-3]} query heads and {k.shape[-3]} key heads "
                               "is not supported by backproplab; repeat the keys and values per head instead")
    factor = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = matmul(q, k.transpose(-2, -1)) * factor
    if is_causal:
        length, keys = q.shape[-2], k.shape[-2]
        future = Tensor(~np.tril(np.ones((length, keys), dtype=bool)), name="future")
        scores = scores.masked_fill(future, float("-inf"))
    elif attn_mask is not None:
        scores = _masked(scores, attn_mask)
    return matmul(softmax(scores, -1), v)
