"""Training that records its path theta_0, ..., theta_T.

`train` runs the model's own parameters through a `torch.optim` optimizer, so a
recorded path equals torch's step for step (DESIGN §2):

* ``"gd"``: full-batch gradient descent, torch.optim.SGD without momentum;
* ``"sgd"``: the same on mini-batches of `batch_size` (each epoch a seeded random
  permutation, an incomplete last batch dropped);
* ``"momentum"``: torch.optim.SGD(momentum=m), heavy ball without dampening;
* ``"adam"``: torch.optim.Adam(betas, eps);
* ``"adamw"``: torch.optim.AdamW(betas, eps), weight decay decoupled from the gradient.

`weight_decay` (all optimizers) is torch's: added to the gradient (L2) for SGD and Adam,
a separate shrink theta <- (1 - lr wd) theta for AdamW. `optimizer_rule` reads the same
description (name, hyper-parameters) from any supported `torch.optim` optimizer, and
`adam_scales` the per-coordinate step scale of Adam's last step, so that paths recorded
from a user's own loop (`pathkernel.recording.Recorder`) carry what `train` records.

The loss of step k is the batch mean of `pathkernel.losses`. After `train` the model
holds theta_T. The steps run on one torch thread (`pathkernel.determinism.fixed_threads`),
so a path is bit-identical whatever the caller's thread count.

Frozen parameters (``requires_grad=False``) are left out of the optimizer: the path keeps
every coordinate (frozen ones constant) and `TrainingPath.trainable` marks the moving
ones, which are the coordinates of every kernel of the decomposition.

Modules: `path` (`TrainingPath`), `optimizers` (building and reading torch.optim
optimizers, Adam's step scales), `loop` (`train`).
"""

from pathkernel.training.loop import train
from pathkernel.training.optimizers import (
    ADAM_FAMILY,
    OPTIMIZERS,
    SUPPORTED_TORCH_OPTIMIZERS,
    adam_scales,
    make_optimizer,
    optimizer_rule,
)
from pathkernel.training.path import TrainingDivergedError, TrainingPath

__all__ = [
    "ADAM_FAMILY",
    "OPTIMIZERS",
    "SUPPORTED_TORCH_OPTIMIZERS",
    "TrainingDivergedError",
    "TrainingPath",
    "adam_scales",
    "make_optimizer",
    "optimizer_rule",
    "train",
]
