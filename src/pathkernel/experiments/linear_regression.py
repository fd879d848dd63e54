"""Chapter "Linear regression, the exact case".

f(w, x) = <w, x> + b trained by full-batch gradient descent on the mean squared error.
Its tangent features (x, 1) do not depend on w, so

* the tangent kernel is the linear kernel <x, x'> + 1 and the normalized one the cosine
  similarity of the augmented inputs (x, 1);
* the path kernel is (sum_k lr_k) (<x, x'> + 1);
* the first-order Taylor step is exact, so the remainder of Theorem 2 is round-off for
  every learning rate, where a GELU MLP trained on the same data from the same time has a
  remainder of order lr;
* the weights a_i of Theorem 1 do not depend on x: a_i = sum_k lr_k l'_i(w_k) / sum_k lr_k,
  and the trained model is exactly the kernel machine f(w_0, x) - sum_i a_i K^path(x, x_i).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.metrics.pairwise import cosine_similarity

from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.validation import integer
from pathkernel.kernels import tangent_kernel
from pathkernel.models import MLP, LinearModel
from pathkernel.training import train


def regression_data(n: int, d: int, *, noise: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """x ~ N(0, I_d) (n, d) and y = <w*, x> + 1/2 + noise * N(0, 1) (n,), w* ~ N(0, I_d), float64."""
    integer("n", n)
    integer("d", d)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    w = torch.randn(d, generator=generator, dtype=torch.float64)
    return x, x @ w + 0.5 + noise * torch.randn(n, generator=generator, dtype=torch.float64)


@dataclass(frozen=True)
class Config(Presets):
    """Sizes (the paper states the linear case without an experiment: ours are here)."""

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: Courtois et al. §4.1 state the linear case without an experiment; 200 points",
        "d": "ours: a small input dimension, so that n points determine the regression well",
        "time": "ours: one training time t = lr x steps for every learning rate, so the remainders compare the same point of training",
        "lrs": "ours: halvings of the learning rate, to measure the order of the MLP's remainder in lr",
        "n_query": "ours: query points of the largest remainder and of the kernels",
        "width": "ours: the width of the comparison MLP (the width of Courtois et al. §5.1 is lost in our copy)",
        "kernel_lr": "ours: the path whose kernels are drawn, one of lrs",
        "fit_max_lr": "ours: the MLP's slope is fitted on the smaller learning rates only, where a first-order expansion is expected",
        "depth": "Courtois et al. §5.1: 'We used the 3-layers neural network' (here the comparison MLP)",
        "activation": "Courtois et al. §5.1: 'The GELU function ... is applied component-wise'",
        "query_scale": "ours: queries drawn from N(0, query_scale^2 I), wider than the training inputs N(0, I)",
    }

    scale: str
    n: int
    d: int
    time: float
    lrs: tuple[float, ...]
    n_query: int
    width: int
    kernel_lr: float = 0.1
    fit_max_lr: float = 0.1
    depth: int = 3
    activation: str = "gelu"
    query_scale: float = 1.5

    def __post_init__(self) -> None:
        if self.kernel_lr not in self.lrs:
            raise ValueError(f"kernel_lr={self.kernel_lr} must be one of lrs={self.lrs}")
        if sum(lr <= self.fit_max_lr for lr in self.lrs) < 2:
            raise ValueError(f"lrs={self.lrs} need two values <= fit_max_lr={self.fit_max_lr} to fit a slope")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=32, d=3, time=4.0, lrs=(0.8, 0.4, 0.2, 0.1, 0.05), n_query=40, width=32,
                   fit_max_lr=0.8)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=200, d=3, time=10.0, lrs=(0.4, 0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625),
                   n_query=200, width=128)


@dataclass
class Result:
    """Remainders against lr, and the kernels of the path trained at `config.kernel_lr`.

    Per learning rate: steps, residual_linear and residual_mlp (max |R| of Theorem 2 over
    the queries), loss_linear and loss_mlp (final training loss), prediction_max (max
    |f(w_T, x)| of the linear model). mlp_slope: least-squares slope of log residual_mlp
    against log lr over the lrs <= config.fit_max_lr. Kernels (n_query, n) on queries x training points:
    ntk and linear_kernel <x, x'> + 1; ntk_normalized and cosine (sklearn's
    cosine_similarity of (x, 1)); path_kernel (from pk.domingos) and path_kernel_closed
    ((sum lr) (<x, x'> + 1)); weights (pk.domingos's a_i(x)). weights_closed (n,):
    sum_k lr_k l'_i(w_k) / sum_k lr_k. prediction and kernel_machine (n_query,):
    f(w_T, x) and f(w_0, x) - sum_i a_i K^path(x, x_i).
    """

    config: Config
    lrs: np.ndarray
    steps: np.ndarray
    residual_linear: np.ndarray
    residual_mlp: np.ndarray
    loss_linear: np.ndarray
    loss_mlp: np.ndarray
    prediction_max: np.ndarray
    mlp_slope: float
    ntk: np.ndarray
    linear_kernel: np.ndarray
    ntk_normalized: np.ndarray
    cosine: np.ndarray
    path_kernel: np.ndarray
    path_kernel_closed: np.ndarray
    weights: np.ndarray
    weights_closed: np.ndarray
    prediction: np.ndarray
    kernel_machine: np.ndarray


def closed_form_weights(params: torch.Tensor, lrs: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """a_i = sum_k lr_k l'_i(w_k) / sum_k lr_k for the affine model with flat parameters
    (weight_1..weight_d, bias) and loss "mse" (l'_i = (f(w, x_i) - y_i) / n). Shape (n,)."""
    d = x.shape[1]
    params, lrs = params.to(x.device), lrs.to(x.device)
    outputs = params[:-1, :d] @ x.T + params[:-1, d:]
    return (lrs @ (outputs - y) / x.shape[0]) / lrs.sum()


def weight_spread(result: Result) -> float:
    """max over queries x and training points i of |a_i(x) - a_i| (`weights` against
    `weights_closed`), where the path kernel is defined numerically (|K^path| above 1e-3 of its
    largest value; a_i(x) is a ratio of path kernels)."""
    defined = np.abs(result.path_kernel) > 1e-3 * np.abs(result.path_kernel).max()
    return float(np.abs(result.weights - result.weights_closed)[defined].max())


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers, by glue name: the scale and the MLP's depth, the remainders (largest
    linear, smallest MLP), the fitted order and the largest lr it is fitted on, the most steps, the
    weights' spread, and the paper preset's sizes."""
    paper = Config.paper()
    return {
        "linear-scale": result.config.scale,
        "linear-depth": result.config.depth,
        "linear-fit-max-lr": f"{result.config.fit_max_lr:g}",
        "linear-max": f"{result.residual_linear.max():.1e}",
        "linear-mlp-min": f"{result.residual_mlp.min():.1e}",
        "linear-slope": f"{result.mlp_slope:.2f}",
        "linear-steps": int(result.steps.max()),
        "linear-weight-spread": f"{weight_spread(result):.1e}",
        "linear-weight-max": f"{np.abs(result.weights_closed).max():.1e}",
        "linear-paper-n": paper.n,
        "linear-paper-width": paper.width,
        "linear-paper-lrs": len(paper.lrs),
        "linear-paper-lr-min": f"{min(paper.lrs):g}",
        "linear-paper-lr-max": f"{max(paper.lrs):g}",
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train the linear model and the MLP at every lr to the same time; decompose both
    (data drawn on the CPU, computed on `device`)."""
    device = check_device(device)
    x, y = (t.to(device) for t in regression_data(config.n, config.d, seed=seed))
    generator = torch.Generator().manual_seed(seed + 1)
    xq = (config.query_scale * torch.randn(config.n_query, config.d, generator=generator,
                                           dtype=torch.float64)).to(device)
    rows: dict[str, list] = {k: [] for k in ("steps", "rl", "rm", "ll", "lm", "pmax")}
    for lr in config.lrs:
        steps = max(1, round(config.time / lr))
        linear = train(LinearModel(config.d, seed=seed, dtype=torch.float64).to(device), x, y, lr=lr, steps=steps)
        mlp = train(MLP(config.d, config.width, config.depth, activation=config.activation, seed=seed,
                        dtype=torch.float64).to(device), x, y, lr=lr, steps=steps)
        dec = domingos(linear, xq, per_sample=lr == config.kernel_lr)
        if lr == config.kernel_lr:
            kernel_path, kernel_dec = linear, dec
        for key, value in [("steps", steps), ("rl", dec.residual.abs().max().item()),
                           ("rm", domingos(mlp, xq).residual.abs().max().item()),
                           ("ll", linear.losses[-1].item()), ("lm", mlp.losses[-1].item()),
                           ("pmax", dec.prediction.abs().max().item())]:
            rows[key].append(value)
    model = kernel_path.model
    augmented = torch.cat([xq, xq.new_ones(config.n_query, 1)], 1), torch.cat([x, x.new_ones(config.n, 1)], 1)
    linear_kernel = xq @ x.T + 1
    weights_closed = closed_form_weights(kernel_path.params, kernel_path.lrs, x, y)
    path_kernel_closed = kernel_path.lrs.sum().to(device) * linear_kernel
    lrs, fitted = np.asarray(config.lrs), np.asarray(config.lrs) <= config.fit_max_lr
    slope = np.polyfit(np.log(lrs[fitted]), np.log(np.asarray(rows["rm"])[fitted]), 1)[0]
    return Result(
        config=config, lrs=lrs, steps=np.asarray(rows["steps"]), mlp_slope=float(slope),
        residual_linear=np.asarray(rows["rl"]), residual_mlp=np.asarray(rows["rm"]),
        loss_linear=np.asarray(rows["ll"]), loss_mlp=np.asarray(rows["lm"]), prediction_max=np.asarray(rows["pmax"]),
        ntk=tangent_kernel(model, xq, x).cpu().numpy(), linear_kernel=linear_kernel.cpu().numpy(),
        ntk_normalized=tangent_kernel(model, xq, x, normalized=True).cpu().numpy(),
        cosine=cosine_similarity(augmented[0].cpu().numpy(), augmented[1].cpu().numpy()),
        path_kernel=kernel_dec.path_kernel.cpu().numpy(), path_kernel_closed=path_kernel_closed.cpu().numpy(),
        weights=kernel_dec.weights.cpu().numpy(), weights_closed=weights_closed.cpu().numpy(),
        prediction=kernel_dec.prediction.cpu().numpy(),
        kernel_machine=(kernel_dec.initial - path_kernel_closed @ weights_closed).cpu().numpy(),
    )
