"""Training losses and their derivatives with respect to the model's outputs.

All losses are means over the batch (DESIGN §2):

* ``"mse"``: L = mean_i 1/2 ||f(x_i) - y_i||^2, so l'_i = (f(x_i) - y_i) / n;
* ``"bce"``: binary cross-entropy on one logit per example, targets in {0, 1};
* ``"cross_entropy"``: integer class targets on c logits, l'_i = (softmax f(x_i) - e_{y_i}) / n.

Outputs are (n, c) as returned by `pathkernel.functional.flat_function`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import grad

from pathkernel.functional import is_meta

LOSSES = ("mse", "bce", "cross_entropy")


def prepare_targets(loss: str, y: torch.Tensor, n: int, c: int, dtype: torch.dtype) -> torch.Tensor:
    """Check targets y for `loss` on n examples with c outputs; return them as the loss expects.

    mse: (n,) or (n, c) floats -> (n, c). bce: (n,) or (n, 1) in {0, 1}, c == 1 -> (n, 1).
    cross_entropy: (n,) integers in [0, c) with c >= 2 -> (n,) int64.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not supported; expected one of {LOSSES}")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} rows but x has {n}")
    if loss == "cross_entropy":
        if c < 2:
            raise ValueError(f"loss='cross_entropy' needs c >= 2 logits; the model has {c} output")
        if y.dim() != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
            raise TypeError(f"cross_entropy targets must be integer class labels of shape (n,); got {y.dtype} {tuple(y.shape)}")
        if not is_meta(y) and (int(y.min()) < 0 or int(y.max()) >= c):  # meta: shapes only
            raise ValueError(f"class labels must lie in [0, {c}); got range [{int(y.min())}, {int(y.max())}]")
        return y.long()
    if not y.dtype.is_floating_point:
        y = y.to(dtype)
    if y.dtype != dtype:
        raise TypeError(f"y has dtype {y.dtype} but the model's parameters are {dtype}")
    target = y.reshape(n, -1)
    if target.shape[1] != c:
        raise ValueError(f"y has shape {tuple(y.shape)} but the model has {c} output(s) per example")
    if loss == "bce":
        if c != 1:
            raise ValueError(f"loss='bce' needs one logit per example; the model has {c}")
        if not is_meta(target) and not torch.all((target == 0) | (target == 1)):
            raise ValueError("loss='bce' needs targets in {0, 1}")
    return target


def loss_value(loss: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The batch-mean loss of outputs `out` (n, c) against prepared targets."""
    if loss == "mse":
        return 0.5 * (out - target).pow(2).sum(dim=1).mean()
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(out, target)
    return F.cross_entropy(out, target)


def loss_derivative(loss: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """l' = dL/df, shape (n, c): the derivative of the batch-mean loss w.r.t. each output."""
    return grad(lambda o: loss_value(loss, o, target))(out)
