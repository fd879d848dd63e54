"""A recorded training path: theta_0..theta_T and what produced them (`TrainingPath`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or parameter."""


@dataclass
class TrainingPath:
    """A recorded training run.

    Attributes:
        model: the trained module (holds theta_T); its structure evaluates any theta.
        x, y: training inputs (n, ...) and targets as given to `train`.
        params: (T+1, P) flat parameters theta_0..theta_T.
        lrs: (T,) learning rate of each step.
        losses: (T,) training loss of the batch at step k, evaluated at theta_k.
        loss: loss name ("mse", "bce", "cross_entropy").
        optimizer: optimizer name (one of `OPTIMIZERS`).
        batches: (T, b) training-set indices of each step's batch (or a list of T
            index tensors when batch sizes vary); None when every step used the full batch.
        hyper: optimizer hyper-parameters as used: momentum (and dampening, nesterov) for
            SGD, betas and eps for Adam/AdamW, weight_decay; "recorded": True for paths
            recorded from a user's loop.
        scales: (T, P) for "adam"/"adamw": the step scale S_k = 1 / ((1 - beta1^(k+1))
            (sqrt(v_k / (1 - beta2^(k+1))) + eps)) with which step k multiplied the first
            moment (Delta_k = -lr_k S_k m_k [- lr_k wd theta_k for AdamW]); 0 on coordinates
            the optimizer did not move; None otherwise.
        trainable: (P,) bool, the coordinates the optimizer could move (parameters with
            requires_grad=True when training began); the others stay constant along the
            path and are left out of every kernel. None means all.
    """

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    params: torch.Tensor
    lrs: torch.Tensor
    losses: torch.Tensor
    loss: str
    optimizer: str
    batches: torch.Tensor | list[torch.Tensor] | None = None
    hyper: dict[str, object] = field(default_factory=dict)
    scales: torch.Tensor | None = None
    trainable: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        """Number of recorded steps T."""
        return self.params.shape[0] - 1

    def batch(self, k: int) -> torch.Tensor | slice:
        """Training-set indices of step k's batch (a slice of everything for full batch)."""
        return slice(None) if self.batches is None else self.batches[k]
