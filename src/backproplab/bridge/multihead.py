"""PyTorch's ``nn.MultiheadAttention``, written out as the steps of ``F.multi_head_attention_forward``.

Each of query, key and value is projected (x·Wᵀ + b, with W one third of ``in_proj_weight``, or its own
``q_proj_weight`` when the key and value sizes differ), split into heads, attended (softmax(q·scale kᵀ + mask) v,
with the query scaled first, as PyTorch's path that returns the weights does), joined and projected by
``out_proj``. Every step is an op of the table, so an explained entry of ``in_proj_weight`` reads as any
attention written by hand. The options PyTorch's layer has that backproplab does not run (``add_bias_kv``,
``add_zero_attn``, dropout while training) are refused in one line before anything is computed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from backproplab.bridge._torch import TorchBridgeError
from backproplab.engine.functions import matmul, softmax
from backproplab.engine.tensor import Tensor
from backproplab.nn.functional import linear


def _refused(module: Any) -> list[str]:
    problems = []
    if module.bias_k is not None:
        problems.append("add_bias_kv=True")
    if module.add_zero_attn:
        problems.append("add_zero_attn=True")
    if module.dropout and module.training:
        problems.append(f"dropout={module.dropout} while training")
    return problems


def _projections(params: dict[str, Any], size: int) -> list[tuple[Tensor, Tensor | None]]:
    """(W, b) for query, key and value: thirds of in_proj_weight and in_proj_bias, or the separate weights."""
    bias = params.get("in_proj_bias")
    biases = [None] * 3 if bias is None else [bias[k * size:(k + 1) * size] for k in range(3)]
    if params.get("in_proj_weight") is not None:
        weight = params["in_proj_weight"]
        return [(weight[k * size:(k + 1) * size], biases[k]) for k in range(3)]
    return [(params[f"{x}_proj_weight"], biases[k]) for k, x in enumerate("qkv")]


def _heads(x: Tensor, heads: int) -> Tensor:
    """(L, N, E) → (N·heads, L, E/heads), as PyTorch lays the heads out."""
    length, batch, size = x.shape
    return x.reshape(length, batch * heads, size // heads).transpose(0, 1)


def _mask(attn_mask: Any, key_padding_mask: Any, batch: int, heads: int, length: int, keys: int,
          dtype: np.dtype) -> tuple[Tensor | None, Tensor | None]:
    """attn_mask and key_padding_mask (True or −inf: may not attend; a float: added) as what is added to the
    scores (N·heads, L, S) and where they become −inf, each None when there is none. The −inf entries are
    filled rather than added, so the explanation reads them as a mask, not as an overflow; the sums are
    PyTorch's, entry for entry."""
    total = None
    for mask, shape in ((attn_mask, None), (key_padding_mask, (batch, 1, 1, keys))):
        if mask is None:
            continue
        values = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        values = np.where(values, -np.inf, 0.0).astype(dtype) if values.dtype == np.bool_ else values.astype(dtype)
        if shape is not None:  # the padded keys of each sample, for every head and query
            values = np.broadcast_to(values.reshape(shape), (batch, heads, length, keys)).reshape(-1, length, keys)
        total = values if total is None else total + values
    if total is None:
        return None, None
    blocked = np.isneginf(total)
    added = np.where(blocked, 0.0, total)
    return (Tensor(added, name="attn_mask") if np.any(added) else None,
            Tensor(blocked, name="blocked") if np.any(blocked) else None)


def multihead_attention(module: Any, params: dict[str, Any], where: str, query: Any, key: Any, value: Any,
                        key_padding_mask: Any = None, need_weights: bool = True, attn_mask: Any = None,
                        average_attn_weights: bool = True, is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
    """nn.MultiheadAttention's forward: (attn_output, attn_weights), the weights averaged over the heads unless
    ``average_attn_weights=False``, None when ``need_weights=False``."""
    problems = _refused(module)
    if problems:
        raise TorchBridgeError(f"{where}: {', '.join(problems)} {'is' if len(problems) == 1 else 'are'} not "
                               "supported by backproplab (call model.eval() to drop the dropout)")
    if is_causal and attn_mask is None:
        raise TorchBridgeError(f"{where}: is_causal=True is a hint about attn_mask; give the causal mask as attn_mask "
                               "too, as PyTorch asks")
    q, k, v = (x if isinstance(x, Tensor) else Tensor(x) for x in (query, key, value))
    unbatched = q.ndim == 2
    if unbatched:
        q, k, v = (x.unsqueeze(1) for x in (q, k, v))
    elif module.batch_first:  # PyTorch's (L, N, E) inside, named as the forward's arguments are
        q, k, v = (x.transpose(0, 1).named(name) for x, name in ((q, "query"), (k, "key"), (v, "value")))
    length, batch, size = q.shape
    heads = module.num_heads
    (wq, bq), (wk, bk), (wv, bv) = _projections(params, size)
    q, k, v = (_heads(linear(x, w, b), heads).named(name)
               for x, (w, b), name in ((q, (wq, bq), "q"), (k, (wk, bk), "k"), (v, (wv, bv), "v")))
    scores = matmul(q * math.sqrt(1.0 / (size // heads)), k.transpose(-2, -1)).named("scores")
    added, blocked = _mask(attn_mask, key_padding_mask if not unbatched else _unbatched(key_padding_mask),
                           batch, heads, length, k.shape[1], scores.dtype)
    scores = scores if added is None else scores + added
    scores = scores if blocked is None else scores.masked_fill(blocked, float("-inf"))
    weights = softmax(scores, -1).named("attn")
    joined = matmul(weights, v).transpose(0, 1).reshape(length * batch, size).named("heads")
    out = linear(joined, params["out_proj.weight"], params.get("out_proj.bias")).reshape(length, batch, size)
    out = out.squeeze(1) if unbatched else out.transpose(0, 1) if module.batch_first else out
    if not need_weights:
        return out, None
    weights = weights.reshape(batch, heads, length, k.shape[1])
    weights = weights.mean(dim=1) if average_attn_weights else weights
    return out, (weights.squeeze(0) if unbatched else weights)


def _unbatched(mask: Any) -> Any:
    """An unbatched input's key_padding_mask (S,) as a batch of one."""
    return None if mask is None else np.asarray(mask.data if isinstance(mask, Tensor) else mask)[None]


def handlers(torch: Any) -> dict[type, Any]:
    return {torch.nn.MultiheadAttention: multihead_attention}
