"""PyTorch's recurrent layers (RNN, GRU, LSTM) run with the converted network's parameters.

The layer is unrolled over the time steps by ``backproplab.nn.recurrent``, so an explained entry of
``weight_hh_l0`` reads step by step. Options it does not run (two directions, an LSTM's projection, dropout
between layers while training, packed sequences) are refused before anything is computed, all in one line.
"""

from __future__ import annotations

from typing import Any

from backproplab.bridge._torch import TorchBridgeError
from backproplab.engine.tensor import Tensor
from backproplab.nn.recurrent import LayerWeights, recurrent


def _refused(module: Any, x: Any) -> list[str]:
    """The layer's settings and input that backproplab does not run, as PyTorch users write them."""
    problems = []
    if module.bidirectional:
        problems.append("bidirectional=True")
    if getattr(module, "proj_size", 0):
        problems.append(f"proj_size={module.proj_size}")
    if module.dropout and module.num_layers > 1 and module.training:
        problems.append(f"dropout={module.dropout} between layers while training")
    if not isinstance(x, Tensor):
        problems.append(f"an input of type {type(x).__name__} (packed sequences)")
    return problems


def recurrent_layer(module: Any, params: dict[str, Any], where: str, x: Any, hx: Any = None, label: str = "") -> Any:
    """RNN, GRU or LSTM with the converted network's ``weight_ih_l{k}``, ``weight_hh_l{k}`` and biases; ``label``
    goes after its states' names (h3_encoder) where the forward runs more than one recurrent layer."""
    problems = _refused(module, x)
    if problems:
        verb = "is" if len(problems) == 1 else "are"
        raise TorchBridgeError(f"{where}: {', '.join(problems)} {verb} not supported by backproplab; it runs one "
                               "direction over a padded tensor, without projection (call model.eval() to drop the "
                               "dropout between layers)")
    layers = [LayerWeights(*(params.get(f"{base}_l{k}") for base in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
              for k in range(module.num_layers)]
    kind = type(module).__name__
    return recurrent(kind, x, hx, layers, batch_first=module.batch_first,
                     nonlinearity=getattr(module, "nonlinearity", "tanh"), label=label, what=where)


def handlers(torch: Any) -> dict[type, Any]:
    """The recurrent layers by type."""
    nn = torch.nn
    return {nn.RNN: recurrent_layer, nn.GRU: recurrent_layer, nn.LSTM: recurrent_layer}
