"""Chapter "The kernel regime", part 3: the infinite-width NTK and kernel regression with it.

* The empirical tangent kernel K_m of `MLP(..., parameterization="ntk")` at width m against its
  width -> infinity limit Theta (`pk.infinite_ntk`, ReLU and erf): relative Frobenius error
  ||K_m - Theta||_F / ||Theta||_F over seeds, and its fitted power law in m (theory: m^(-1/2)).
* Kernel regression with Theta on a 1D task: the fixed-kernel gradient flow of the mean squared
  error from f = 0 predicts f_t(x) = Theta(x, X) Theta^{-1} (I - exp(-t Theta / n)) y
  (`flow_prediction`), and at t = infinity the interpolating kernel regression
  (scikit-learn's KernelRidge on the precomputed kernel, a vanishing ridge). Beside it, centred
  networks (`Scaled(model, 1)`: f(w0, .) = 0) of growing width trained by gradient descent to
  the same time t = lr * steps; their RMS distance to the analytic prediction and its power law.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.kernel_ridge import KernelRidge

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.kernel_regime.common import power_law, regression_data, train_checkpoints
from pathkernel.functional import progress
from pathkernel.infinite import infinite_ntk
from pathkernel.kernels import tangent_kernel
from pathkernel.linearized import Scaled, flow_prediction
from pathkernel.models import MLP
from pathkernel.runs import checkpoint

ACTIVATIONS = ("relu", "erf")


@dataclass(frozen=True)
class Config(Presets):
    """Sizes (Arora et al. 2019 use CIFAR-10; ours is the chapter's 1D task).

    widths, seeds: kernel-convergence sweep (depth 3, `n_kernel` inputs evenly spaced in
    [-1, 1]); regression_widths, regression_seeds: trained centred networks; n: training points
    (y = sin(2.5 x)); steps, lr: gradient descent (time t = lr * steps); ridge: KernelRidge's
    alpha (a vanishing ridge: ridgeless regression up to round-off); grid: test inputs in
    [-extent, extent]. weight_var, bias_var: the NTK parameterization's variances.
    """

    scale: str
    widths: tuple[int, ...]
    seeds: int
    regression_widths: tuple[int, ...]
    regression_seeds: int
    steps: int
    n_kernel: int = 8
    n: int = 6
    lr: float = 0.4
    ridge: float = 1e-10
    grid: int = 121
    extent: float = 1.5
    weight_var: float = 2.0
    bias_var: float = 0.2

    sources: ClassVar[dict[str, str]] = {
        "widths": "ours: the NTK blog states the limit without a width sweep; a factor of two per width to the "
                  "largest whose kernel fits the time budget",
        "seeds": "ours: initializations per width for the mean error",
        "regression_widths": "ours: trained networks from narrow to wide",
        "regression_seeds": "ours: initializations per trained width",
        "steps": "ours: the time t = lr * steps of the comparison",
        "n_kernel": "ours: inputs of the kernel comparison",
        "n": "ours: a few more points than the lazy-training study's, for a curve between them",
        "lr": "ours: the lazy-training study's quick step",
        "ridge": "ours: a vanishing ridge, ridgeless regression up to round-off",
        "grid": "ours: test inputs of the predictions",
        "extent": "ours: the data lie in [-1, 1]; the grid reaches beyond them",
        "weight_var": "ours: the variances of the chapter's network (the lazy-training study)",
        "bias_var": "ours: the variances of the chapter's network (the lazy-training study)",
    }

    large_reason: ClassVar[str] = (
        "the paper preset's five trained networks of width 8192 take about 3 s per gradient step on a shared "
        "core, about 4 CPU hours for their 5,000 steps, while the rest of the preset ran in 11 minutes; the large "
        "preset trains networks to width 2048 and keeps the paper preset's kernel sweep to width 8192")

    def __post_init__(self) -> None:
        if len(self.widths) < 2 or len(self.regression_widths) < 2:
            raise ValueError(f"need >= 2 widths; got widths={self.widths}, regression_widths={self.regression_widths}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", widths=(16, 32, 64, 128, 256, 512, 1024), seeds=4,
                   regression_widths=(32, 128, 512), regression_seeds=2, steps=200)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", widths=(16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192), seeds=10,
                   regression_widths=(32, 128, 512, 2048, 8192), regression_seeds=5, steps=1000)

    @classmethod
    def large(cls) -> "Config":
        """The paper preset with trained networks to width 2048 (`large_reason`)."""
        return dataclasses.replace(cls.paper(), scale="large", regression_widths=(32, 128, 512, 2048))


@dataclass
class Result:
    """Kernel sweep (2 activations x W widths x S seeds) and regression (R widths x S' seeds).

    activations; kernel_error (2, W, S): relative Frobenius error; kernel_slope, kernel_intercept
    (2,): power law of the mean error in the width. x, y (n,): training data; grid (G,);
    time: lr * steps; analytic (G,): the analytic-NTK flow at that time; kernel_regression (G,):
    KernelRidge with Theta (t = infinity); networks (R, S', G): trained centred networks;
    network_error (R, S'): RMS over the grid of network minus analytic; regression_slope,
    regression_intercept: power law of the mean of network_error in the width.
    """

    config: Config
    activations: tuple[str, ...]
    kernel_error: np.ndarray
    kernel_slope: np.ndarray
    kernel_intercept: np.ndarray
    x: np.ndarray
    y: np.ndarray
    grid: np.ndarray
    time: float
    analytic: np.ndarray
    kernel_regression: np.ndarray
    networks: np.ndarray
    network_error: np.ndarray
    regression_slope: float
    regression_intercept: float


def _network(config: Config, width: int, activation: str, seed: int, device: torch.device) -> MLP:
    return MLP(1, width, 3, activation=activation, parameterization="ntk", weight_var=config.weight_var,
               bias_var=config.bias_var, seed=seed, dtype=torch.float64).to(device)


def _trained_network(config: Config, width: int, seed: int, x: torch.Tensor, y: torch.Tensor, grid: torch.Tensor,
                     device: torch.device) -> np.ndarray:
    """(grid,) predictions of the centred ReLU network of `width` trained from `seed` (one checkpointed item)."""
    model = Scaled(_network(config, width, "relu", seed, device), 1.0)
    train_checkpoints(model, x, y, lr=config.lr, steps=config.steps, every=config.steps)
    with torch.no_grad():
        return model(grid)[:, 0].cpu().numpy()


def kernel_errors(config: Config, activation: str, seed: int = 0, *,
                  device: str | torch.device = "cpu") -> np.ndarray:
    """(W, S) relative Frobenius errors ||K_m - Theta||_F / ||Theta||_F at the widths and seeds
    (inputs made on the CPU, kernels computed on `device`). Each width is one checkpointed item
    (`pathkernel.runs.checkpoint`): a store run interrupted at width 4096 resumes there."""
    device = check_device(device)
    x = torch.linspace(-1.0, 1.0, config.n_kernel, dtype=torch.float64)[:, None].to(device)
    limit = infinite_ntk(x, depth=3, activation=activation, weight_var=config.weight_var, bias_var=config.bias_var)

    def errors_at(width: int) -> np.ndarray:
        kernels = (tangent_kernel(_network(config, width, activation, seed + s, device), x) for s in range(config.seeds))
        return np.array([float(torch.linalg.matrix_norm(K - limit) / torch.linalg.matrix_norm(limit)) for K in kernels])

    return np.stack([checkpoint.item(f"kernel {activation} width={width} seed={seed}", lambda width=width: errors_at(width))
                     for width in config.widths])


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """The kernel-convergence sweep, then the analytic kernel regression against trained networks.

    Inputs made on the CPU; networks, empirical and analytic kernels computed on `device`; the
    eigendecomposition of the analytic flow and KernelRidge (numpy, scikit-learn) on the CPU."""
    device = check_device(device)
    widths = np.asarray(config.widths, dtype=float)
    kernel_error = np.stack([kernel_errors(config, activation, seed, device=device) for activation in ACTIVATIONS])
    fits = np.array([power_law(widths, errors.mean(1)) for errors in kernel_error])
    x, y = (t.to(device) for t in regression_data(config.n))
    grid = torch.linspace(-config.extent, config.extent, config.grid, dtype=torch.float64)[:, None].to(device)
    ntk = dict(depth=3, activation="relu", weight_var=config.weight_var, bias_var=config.bias_var)
    theta_train, theta_cross = infinite_ntk(x, **ntk).cpu().numpy(), infinite_ntk(grid, x, **ntk).cpu().numpy()
    time = config.lr * config.steps
    analytic = flow_prediction(theta_cross, theta_train, -y.cpu().numpy(), time)
    ridge = KernelRidge(alpha=config.ridge, kernel="precomputed").fit(theta_train, y.cpu().numpy())
    networks = np.empty((len(config.regression_widths), config.regression_seeds, config.grid))
    runs = [(i, width, s) for i, width in enumerate(config.regression_widths) for s in range(config.regression_seeds)]
    for i, width, s in progress(runs, total=len(runs), desc="networks", enabled=None):
        networks[i, s] = checkpoint.item(f"network width={width} seed={seed + s}",
                                         lambda: _trained_network(config, width, seed + s, x, y, grid, device))
    network_error = np.sqrt(((networks - analytic) ** 2).mean(2))
    slope, intercept = power_law(np.asarray(config.regression_widths, dtype=float), network_error.mean(1))
    return Result(config=config, activations=ACTIVATIONS, kernel_error=kernel_error, kernel_slope=fits[:, 0],
                  kernel_intercept=fits[:, 1], x=x[:, 0].cpu().numpy(), y=y.cpu().numpy(),
                  grid=grid[:, 0].cpu().numpy(), time=time,
                  analytic=analytic, kernel_regression=ridge.predict(theta_cross), networks=networks,
                  network_error=network_error, regression_slope=slope, regression_intercept=intercept)


def flow_to_ridge(result: Result) -> float:
    """max over the grid of |analytic-NTK flow at time t - kernel regression (t = infinity)|: how far
    the flow still is from its limit (the small eigenvalues of Theta(X, X) / n are slow)."""
    return float(np.abs(result.analytic - result.kernel_regression).max())


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers from this study, by glue name: per activation the fitted slope of the
    kernel error and its mean at the largest width; the widths and inputs of the kernel
    comparison, and for the regression the number of points, the fitted slope, the mean error at
    the largest width, the time t and `flow_to_ridge`."""
    config = result.config
    values = {}
    for a, activation in enumerate(result.activations):
        values[f"kernelregime-kernel-slope-{activation}"] = f"{result.kernel_slope[a]:.2f}"
        values[f"kernelregime-kernel-error-{activation}"] = f"{result.kernel_error[a, -1].mean():.1%}"
    return values | {
        "kernelregime-limit-widths": f"{config.widths[0]} to {config.widths[-1]}",
        "kernelregime-n-kernel": f"{config.n_kernel}",
        "kernelregime-regression-n": f"{config.n}",
        "kernelregime-regression-slope": f"{result.regression_slope:.2f}",
        "kernelregime-regression-error": f"{result.network_error[-1].mean():.3f}",
        "kernelregime-regression-width": f"{config.regression_widths[-1]}",
        "kernelregime-time": f"{result.time:g}",
        "kernelregime-flow-vs-ridge": f"{flow_to_ridge(result):.3f}",
    }
