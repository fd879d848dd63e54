"""What the three studies of the chapter "Stochastic Domingos theorems" share.

The ball/sphere data set and a GELU MLP, trained from one theta_0 by four optimizers:
full-batch gradient descent ("gd") and, on mini-batches of `batch_size` drawn by epoch
permutations, "sgd", "momentum" (torch's heavy ball) and "adam". Each optimizer's learning
rate is a fixed multiple of a base rate (1, 1, 1 - momentum, `adam_scale`), so one base rate
gives comparable paths. `Network` and `Optimizers` are the settings the studies' configs share
(keyword-only dataclasses, so a study's config lists its own fields after them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data import ball_sphere
from pathkernel.experiments import Presets, check_device
from pathkernel.models import MLP
from pathkernel.training import TrainingPath, train
from pathkernel.validation import integer

OPTIMIZERS = ("gd", "sgd", "momentum", "adam")
#: where the paper() values of the query fields, shared by the studies, come from (`Presets.sources`)
QUERY_SOURCES = {
    "n_query": "ours: query points spread over the disk of query_radius",
    "query_radius": "ours: a disk holding the data (radius 1) and points outside it",
    "queries": "ours: the centre of the ball, a point of the sphere and a point outside the data",
}


@dataclass(frozen=True, kw_only=True)
class Network(Presets):
    """The task and the network: n training points (mini-batches of batch_size), a GELU MLP of
    `width` and `depth`; nodes: Gauss-Legendre nodes of the exact decompositions."""

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: Guo et al. give no sizes for these checks (our copy holds their abstract and captions)",
        "width": "ours: Guo et al. give no width for these checks; that of Courtois et al. §5.1 is lost in our copy",
        "batch_size": "ours: ten mini-batches per epoch at the paper preset's n",
        "depth": "Courtois et al. §5.1: 'We used the 3-layers neural network'",
        "activation": "Courtois et al. §5.1: 'The GELU function ... is applied component-wise'",
        "nodes": "ours: Gauss-Legendre nodes per piece of the exact form's quadrature (refined where a step needs it)",
    }

    scale: str
    n: int
    width: int
    batch_size: int
    depth: int = 3
    activation: str = "gelu"
    nodes: int = 3

    def __post_init__(self) -> None:
        integer("n", self.n, 2)
        integer("batch_size", self.batch_size, 1, self.n - 1)


@dataclass(frozen=True, kw_only=True)
class Optimizers(Network):
    """The optimizers' settings: heavy-ball `momentum`, Adam's `betas` and `eps`; the learning rate of
    "momentum" is (1 - momentum) x base lr (its effective step lr / (1 - momentum) is the base), that
    of "adam" adam_scale x base lr."""

    sources: ClassVar[dict[str, str]] = {
        **Network.sources,
        "momentum": "ours: the usual heavy-ball value (Guo et al.'s SGDM theorem gives none in our copy)",
        "betas": "ours: torch.optim.Adam's defaults",
        "eps": "ours: torch.optim.Adam's default",
        "adam_scale": "ours: Adam moves every coordinate by about lr per step, so its rate is a fraction of the base rate",
    }

    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    adam_scale: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.momentum < 1:
            raise ValueError(f"momentum={self.momentum} must lie in (0, 1)")
        if self.adam_scale <= 0:
            raise ValueError(f"adam_scale={self.adam_scale} must be > 0")

    @property
    def momentum_scale(self) -> float:
        return 1 - self.momentum


def learning_rate(config: Optimizers, optimizer: str, base_lr: float) -> float:
    """The optimizer's learning rate for a base rate: base x (1, 1, 1 - momentum, adam_scale)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r}; expected one of {OPTIMIZERS}")
    scale = {"momentum": config.momentum_scale, "adam": config.adam_scale}.get(optimizer, 1.0)
    return scale * base_lr


def train_path(
    config: Network,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: str,
    lr: float,
    steps: int,
    *,
    init_seed: int,
    batch_seed: int,
    momentum: float | None = None,
    batch_size: int | None = None,
) -> TrainingPath:
    """Train a fresh MLP (initialized by `init_seed` on the CPU, trained on x's device) with
    `optimizer` at learning rate `lr`.

    "gd" is full batch; the others use `batch_size` (default config.batch_size) with the
    mini-batch order of `batch_seed`; `momentum` overrides config.momentum ("momentum" and "adam"
    need an `Optimizers` config).
    """
    model = MLP(x.shape[1], config.width, config.depth, activation=config.activation, seed=init_seed,
                dtype=x.dtype).to(x.device)
    kwargs: dict[str, object] = {}
    if optimizer != "gd":
        kwargs["batch_size"] = config.batch_size if batch_size is None else batch_size
    if optimizer == "momentum":
        kwargs["momentum"] = config.momentum if momentum is None else momentum
    if optimizer == "adam":
        kwargs.update(betas=config.betas, eps=config.eps)
    return train(model, x, y, lr=lr, steps=steps, optimizer=optimizer, seed=batch_seed, **kwargs)


def fit_order(lrs: np.ndarray, residual: np.ndarray, max_lr: float) -> tuple[float, float]:
    """Least-squares slope and intercept of log residual = slope log lr + intercept on lrs <= max_lr."""
    fitted = lrs <= max_lr
    slope, intercept = np.polyfit(np.log(lrs[fitted]), np.log(residual[fitted]), 1)
    return float(slope), float(intercept)


def task(config: Network, seed: int, device: str | torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The ball/sphere training set of `seed` (drawn on the CPU), on `device` (checked first)."""
    device = check_device(device)
    x, y = (t.to(device) for t in ball_sphere(config.n, seed=seed))
    return x, y
