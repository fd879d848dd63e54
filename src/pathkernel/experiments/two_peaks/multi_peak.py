"""The multi-peak study of the chapter "The two-peak task and its tangent kernel"
(Courtois, Morel & Arias §6.3, last paragraph): gradient descent against Adam at one size and
seed, with the exact decomposition of both paths.

Inputs: all of Omega_{n', k'} (`data.planar1d.omega_all`), the sequences of length
n' = multi_n with k' = multi_k > 2 ones; label: the central pixel after filling
(`data.planar1d.centre_label`), used as the target -1/+1. The MLP of §5.1 (3 layers, GELU) is
trained on a random part of the inputs by full-batch gradient descent and by full-batch Adam under
the budget rule of `budget.fit` (the learning rate of a common grid that reaches the training loss
target_loss in the fewest steps, capped at max_steps; the path is then recorded by
`pathkernel.train` with that learning rate and number of steps); accuracy on the training set and on
the unseen inputs along training, and the exact Domingos decomposition of both paths at unseen
queries (`pathkernel.domingos(exact=True, per_sample=True)`: for Adam, the optimizer-aware one)
beside the first-order form of Theorem 2. The sweep over sizes and seeds is the study `sizes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data.planar1d import centre_label, omega_all
from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.two_peaks.budget import OPTIMIZERS, check_rule, fit
from pathkernel.functional import flat_function
from pathkernel.models import MLP
from pathkernel.training import train
from pathkernel.validation import integer

__all__ = ["Config", "Result", "OPTIMIZERS", "run", "numbers"]


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the study (the paper gives none; see `sources`).

    width, depth, activation: the MLP of §5.1; multi_n, multi_k (ones per input), multi_train
    (training inputs, the rest of Omega_{multi_n, multi_k} is unseen); lrs, target_loss, max_steps:
    the budget rule (`budget.fit`), the same for both optimizers: the learning rate of lrs that
    reaches the training loss target_loss in the fewest steps, at most max_steps (see `sizes.Config`
    for why); checkpoints: accuracy evaluations along training; decomposition_queries: unseen inputs
    whose predictions are decomposed.
    """

    scale: str
    width: int
    multi_train: int
    depth: int = 3
    activation: str = "gelu"
    multi_n: int = 12
    multi_k: int = 4
    lrs: tuple[float, ...] = (1.0, 0.1, 0.01, 0.001)
    target_loss: float = 0.01
    max_steps: int = 2000
    checkpoints: int = 26
    decomposition_queries: int = 20

    sources: ClassVar[dict[str, str]] = {
        "width": "ours: the width of §5.1 was lost; 64 as in the two-peak study",
        "multi_train": "ours: the paper gives no training-set size; one of the sizes of the sweep (study sizes)",
        "depth": "Courtois et al. §5.1: the 3-layer network",
        "activation": "Courtois et al. §5.1: GELU",
        "multi_n": "ours: the paper gives no length for the multi-peak inputs; the sweep's (study sizes)",
        "multi_k": "ours: Courtois et al. §6.3 says 'more than two peaks' only; 4 peaks",
        "lrs": "ours: the paper gives no learning rate; the sweep's grid, common to both optimizers",
        "target_loss": "ours: the paper reports 100% training accuracy and no loss; the sweep's target",
        "max_steps": "ours: the paper gives no iteration count; the sweep's common cap",
        "checkpoints": "ours: accuracy evaluations along training, for the figure",
        "decomposition_queries": "ours: unseen inputs decomposed; the exact decomposition's cost grows with them",
    }

    def __post_init__(self) -> None:
        integer("multi_k", self.multi_k, 3, self.multi_n)
        n_multi = math.comb(self.multi_n, self.multi_k)
        integer("multi_train", self.multi_train, 2, n_multi - 1)
        integer("decomposition_queries", self.decomposition_queries, 1, n_multi - self.multi_train)
        integer("width", self.width, 1)
        integer("checkpoints", self.checkpoints, 2)
        if not isinstance(self.lrs, tuple):
            raise ValueError(f"lrs={self.lrs!r} must be a tuple of learning rates")
        check_rule(self.lrs, self.target_loss, self.max_steps)

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", width=64, multi_train=100, decomposition_queries=8)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", width=64, multi_n=20, multi_train=800,
                   lrs=(3.16, 1.0, 0.316, 0.1, 0.0316, 0.01, 0.00316, 0.001), max_steps=5000, checkpoints=41,
                   decomposition_queries=100)


@dataclass
class Result:
    """Per optimizer (OPTIMIZERS = gd, adam): lr (2,) the learning rate the budget rule kept, steps
    (2,) its number of steps T, reached (2,) whether the training loss reached the target, losses
    (2, max_steps + 1) the rule's training losses L(theta_0) .. L(theta_T) (NaN after T), final_loss
    (2,) the training loss of the recorded path's theta_T; multi_steps (2, checkpoints) step numbers;
    multi_train_accuracy, multi_unseen_accuracy (2, checkpoints); residual (2,) max |residual| of
    the exact decomposition, residual_first_order (2,) of Theorem 2's form; per_sample_gap (2,)
    max |sum_i per_sample - (rhs - initial)|; prediction (2, q) at the decomposed queries.
    majority: the share of the majority class among all the inputs (the accuracy of a constant answer).
    """

    config: Config
    lr: np.ndarray
    steps: np.ndarray
    reached: np.ndarray
    losses: np.ndarray
    final_loss: np.ndarray
    multi_steps: np.ndarray
    multi_train_accuracy: np.ndarray
    multi_unseen_accuracy: np.ndarray
    residual: np.ndarray
    residual_first_order: np.ndarray
    per_sample_gap: np.ndarray
    prediction: np.ndarray
    majority: float


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers for the decomposed runs, by glue name: the sizes, the majority class, per
    optimizer the learning rate and steps the budget rule gave, the final accuracies and the
    decomposition's residuals and gap."""
    config = result.config
    values = {
        "twopeaks-multi-n": f"{config.multi_n}",
        "twopeaks-multi-k": f"{config.multi_k}",
        "twopeaks-multi-N": f"{math.comb(config.multi_n, config.multi_k)}",
        "twopeaks-multi-train": f"{config.multi_train}",
        "twopeaks-queries": f"{config.decomposition_queries}",
        "twopeaks-multi-majority": f"{result.majority:.1%}",
    }
    for j, name in enumerate(OPTIMIZERS):
        values[f"twopeaks-{name}-lr"] = f"{result.lr[j]:g}"
        values[f"twopeaks-{name}-steps"] = f"{result.steps[j]}"
        values[f"twopeaks-{name}-train"] = f"{result.multi_train_accuracy[j, -1]:.1%}"
        values[f"twopeaks-{name}-unseen"] = f"{result.multi_unseen_accuracy[j, -1]:.1%}"
        values[f"twopeaks-{name}-residual"] = f"{result.residual[j]:.0e}"
        values[f"twopeaks-{name}-first-order"] = f"{result.residual_first_order[j]:.0e}"
        values[f"twopeaks-{name}-gap"] = f"{result.per_sample_gap[j]:.0e}"
    return values


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train by full-batch GD and by Adam under the budget rule on part of Omega_{multi_n, multi_k};
    score and decompose.

    Inputs, labels and the split drawn on the CPU; training, accuracies and decompositions on `device`.
    Raises ValueError when an optimizer meets the target at the initialization (no step to decompose)."""
    device = check_device(device)
    x = omega_all(config.multi_n, config.multi_k)
    labels = centre_label(x)
    target = 2 * labels - 1
    share = labels.mean().item()
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
    x, target, order = x.to(device), target.to(device), order.to(device)
    train_index, unseen = order[: config.multi_train], order[config.multi_train:]
    queries = x[unseen[: config.decomposition_queries]]
    rows: dict[str, list] = {k: [] for k in ("lr", "T", "reached", "losses", "final", "steps", "train", "unseen",
                                             "residual", "first", "gap", "prediction")}
    for name in OPTIMIZERS:
        model = MLP(config.multi_n, config.width, config.depth, activation=config.activation, seed=seed,
                    dtype=x.dtype).to(device)
        theta0 = torch.nn.utils.parameters_to_vector(model.parameters()).detach()[None]
        rule = fit(model, theta0, x[train_index][None], target[train_index][None], optimizer=name, lrs=config.lrs,
                   target=config.target_loss, max_steps=config.max_steps)
        steps, lr = int(rule.steps[0]), float(rule.lr[0])
        if steps == 0:
            raise ValueError(f"{name}: the initial network already has a training loss <= target_loss="
                             f"{config.target_loss}; lower it to have a path to decompose")
        path = train(model, x[train_index], target[train_index], lr=lr, steps=steps, optimizer=name)
        f = flat_function(model)
        checkpoints = np.linspace(0, steps, config.checkpoints).round().astype(int)
        with torch.no_grad():
            signs = [torch.sign(f(path.params[k].to(device), x)[:, 0]) == target for k in checkpoints]
            final = 0.5 * (model(x[train_index])[:, 0] - target[train_index]).pow(2).mean().item()
        for key, value in (("lr", lr), ("T", steps), ("reached", rule.reached[0]), ("losses", rule.losses[0]),
                           ("final", final), ("steps", checkpoints)):
            rows[key].append(value)
        rows["train"].append([s[train_index].double().mean().item() for s in signs])
        rows["unseen"].append([s[unseen].double().mean().item() for s in signs])
        exact = domingos(path, queries, exact=True, per_sample=True)
        first_order = domingos(path, queries)
        rows["residual"].append(exact.residual.abs().max().item())
        rows["first"].append(first_order.residual.abs().max().item())
        rows["gap"].append((exact.per_sample.sum(1) - (exact.rhs - exact.initial)).abs().max().item())
        rows["prediction"].append(exact.prediction.cpu().numpy())
    return Result(config=config, lr=np.array(rows["lr"]), steps=np.array(rows["T"]), reached=np.array(rows["reached"]),
                  losses=np.stack(rows["losses"]), final_loss=np.array(rows["final"]),
                  multi_steps=np.array(rows["steps"]), multi_train_accuracy=np.array(rows["train"]),
                  multi_unseen_accuracy=np.array(rows["unseen"]), residual=np.array(rows["residual"]),
                  residual_first_order=np.array(rows["first"]), per_sample_gap=np.array(rows["gap"]),
                  prediction=np.stack(rows["prediction"]), majority=max(share, 1 - share))
