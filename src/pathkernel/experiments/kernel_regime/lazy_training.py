"""Chapter "The kernel regime", part 1: lazy training as the width or the output scale grows.

A 2-hidden-layer ReLU MLP (depth 3, NTK parameterization) on a 1D regression task is trained
by full-batch gradient descent on the mean squared error, and beside it its linearization
f_lin(w, x) = f(w0, x) + <grad f(w0, x), w - w0> (`pathkernel.linearized.Linearized`) with the
same loop, step size and steps. Recorded along training, at checkpoints:

* the relative weight change ||w_k - w_0|| / ||w_0|| (Chizat & Bach's "lazy" measure);
* the distance between the network and its linearization as functions, the RMS over a grid
  of inputs of f(w_k, x) - f_lin(w_k^lin, x);

first against the width m (fitted power laws m^slope), then at one width against the output
scale alpha of the centred model alpha (f(w, x) - f(w0, x)) (`Scaled`), trained with step
lr / alpha^2 so that its linearized dynamics do not depend on alpha. Chizat & Bach's inverse
relative scale kappa is measured for each width and each alpha. Random networks (many
initializations) are drawn as functions of the input. The chapter's data, checkpointed
training and power-law fit come from `kernel_regime.common` (and still read from here).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.kernel_regime.common import power_law, regression_data, train_checkpoints
from pathkernel.functional import progress
from pathkernel.linearized import Linearized, Scaled, inverse_relative_scale
from pathkernel.models import MLP


def _rms_distance(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((a(x) - b(x)).pow(2).mean().sqrt())


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the experiment (the blog's 2-hidden-layer ReLU network and 1D data).

    widths: hidden widths m of the width sweep; seeds: initializations per width; n: training
    points; steps, every: gradient-descent steps and checkpoint spacing; lr: step size (fixed
    across widths: the NTK parameterization keeps the kernel O(1)). alphas: output scales at
    width alpha_width. n_functions: random networks drawn per width in function_widths. grid:
    test inputs in [-extent, extent]. weight_var, bias_var: the NTK parameterization's
    variances (weight_var = 2 keeps ReLU activations O(1); bias_var > 0 breaks the positive
    homogeneity a bias-free ReLU network has in 1D). power_iterations: Hessian-vector power
    iterations of kappa (20 give kappa to a few per cent). The blog's own sizes are lost; ours
    are chosen.
    """

    scale: str
    widths: tuple[int, ...]
    seeds: int
    steps: int
    every: int
    alphas: tuple[float, ...]
    alpha_width: int
    n_functions: int
    function_widths: tuple[int, ...]
    n: int = 4
    lr: float = 0.4
    grid: int = 101
    extent: float = 1.5
    weight_var: float = 2.0
    bias_var: float = 0.2
    power_iterations: int = 20

    sources: ClassVar[dict[str, str]] = {
        "widths": "ours: the NTK blog names width 10 and width 100 ('some changes only for width 10, but greater "
                  "widths look completely static'); the rest of the sweep is ours, up to where the "
                  "linearization still fits in memory",
        "seeds": "ours: the NTK blog trains '100 ReLU nets' but does not say how many per width",
        "steps": "ours: the NTK blog gives no number of steps",
        "every": "ours: checkpoint spacing of the curves",
        "alphas": "ours: the NTK blog's values of alpha are not in its text",
        "alpha_width": "NTK blog: 'I used a two hidden layer network with a width of 100 for these runs' (the "
                       "alpha runs)",
        "n_functions": "NTK blog: '100 randomly initialized 2-hidden layer, width-100 relu networks'",
        "function_widths": "ours: the NTK blog draws width 100; widths a decade either side show the trend",
        "n": "ours: the NTK blog trains on two points ('of size 2 in this simple case'); four give a curve to fit",
        "lr": "ours: the NTK blog's text gives no learning rate",
        "grid": "ours: test inputs of the curves and of the RMS distance",
        "extent": "ours: the data lie in [-1, 1]; the grid reaches beyond them",
        "weight_var": "ours: 2 keeps ReLU activations of order one (the blog's initialization is not in its text)",
        "bias_var": "ours: positive, so that a 1D ReLU network is not positively homogeneous (the blog's is not "
                    "in its text)",
        "power_iterations": "ours: enough Hessian-vector power iterations for kappa to a few per cent",
    }

    large_reason: ClassVar[str] = (
        "the paper preset's width 10^4 (10^8 parameters) does not fit a 24 GB machine in float64: its run here "
        "was killed by the out-of-memory killer at 19 GB resident, in the Hessian power iteration of κ at that "
        "width, after 45 minutes; the large preset keeps every other setting of the paper preset and stops at "
        "width 3000")

    def __post_init__(self) -> None:
        if self.steps % self.every:
            raise ValueError(f"steps={self.steps} must be a multiple of every={self.every}")
        if not set(self.function_widths) <= set(self.widths):
            raise ValueError(f"function_widths={self.function_widths} must be among widths={self.widths}")
        if len(self.widths) < 2 or min(self.alphas) <= 0 or sum(a >= 1 for a in self.alphas) < 2:
            raise ValueError(f"need >= 2 widths and positive alphas, >= 2 of them >= 1 (the fitted range); "
                             f"got widths={self.widths}, alphas={self.alphas}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", widths=(10, 20, 40, 80, 160, 320), seeds=2, steps=100, every=20,
                   alphas=(0.3, 1.0, 3.0, 10.0, 30.0, 100.0), alpha_width=40, n_functions=30,
                   function_widths=(10, 40, 320))

    @classmethod
    def paper(cls) -> "Config":
        """Widths to 10^4 (P = 10^8 at the largest: about 20 GB of memory in float64 at that width)."""
        return cls(scale="paper", widths=(10, 30, 100, 300, 1000, 3000, 10000), seeds=5, steps=300, every=10,
                   alphas=(0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0), alpha_width=100, n_functions=100,
                   function_widths=(10, 100, 1000), lr=0.2, power_iterations=100)

    @classmethod
    def large(cls) -> "Config":
        """The paper preset without its width 10^4 (`large_reason`)."""
        return dataclasses.replace(cls.paper(), scale="large", widths=(10, 30, 100, 300, 1000, 3000))


@dataclass
class Result:
    """Arrays of the width sweep (W widths, S seeds, C = steps/every + 1 checkpoints) and the
    alpha sweep (A alphas).

    x (n,), y (n,): training data; grid (G,): test inputs; times (C,): lr * step at checkpoints.
    weight_change (W, S, C): ||w_k - w_0|| / ||w_0||; distance (W, S, C): RMS over the grid of
    network minus linearization; loss, loss_linear (W, S, C): training losses.
    kappa (W,): inverse relative scale at seed 0; weight_slope, distance_slope (and intercepts):
    least-squares fit of log(final value, mean over seeds) against log(width).
    functions (F, n_functions, G): random networks at function_widths; trained, trained_linear
    (F, S, G): the network and its linearization after training.
    alpha_distance, alpha_weight_change (A, C): the same measures for Scaled(model, alpha) at
    alpha_width (seed 0); alpha_kappa (A,); alpha_slope: fitted slope of the final distance
    against alpha on the alphas >= 1.
    """

    config: Config
    x: np.ndarray
    y: np.ndarray
    grid: np.ndarray
    times: np.ndarray
    weight_change: np.ndarray
    distance: np.ndarray
    loss: np.ndarray
    loss_linear: np.ndarray
    kappa: np.ndarray
    weight_slope: float
    weight_intercept: float
    distance_slope: float
    distance_intercept: float
    functions: np.ndarray
    trained: np.ndarray
    trained_linear: np.ndarray
    alpha_distance: np.ndarray
    alpha_weight_change: np.ndarray
    alpha_kappa: np.ndarray
    alpha_slope: float
    alpha_intercept: float


def _network(config: Config, width: int, seed: int, device: torch.device) -> MLP:
    return MLP(1, width, 3, activation="relu", parameterization="ntk", weight_var=config.weight_var,
               bias_var=config.bias_var, seed=seed, dtype=torch.float64).to(device)


def _mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(0.5 * (model(x)[:, 0] - y).pow(2).mean())


@dataclass
class SideBySide:
    """A network and its linearization trained side by side, per checkpoint (C,): weight_change
    ||w_k - w_0|| / ||w_0||, distance (RMS over the grid), loss and loss_linear; linear: the
    trained `Linearized` module."""

    weight_change: np.ndarray
    distance: np.ndarray
    loss: np.ndarray
    loss_linear: np.ndarray
    linear: Linearized


def lazy_run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, grid: torch.Tensor, *, lr: float, steps: int,
             every: int) -> SideBySide:
    """Train `model` (which ends trained) and its linearization at its current parameters with
    the same steps, and measure them at every checkpoint."""
    linear = Linearized(model).cache(x)
    path = train_checkpoints(model, x, y, lr=lr, steps=steps, every=every)
    path_linear = train_checkpoints(linear, x, y, lr=lr, steps=steps, every=every)
    w0 = path[0]
    records: dict[str, list[float]] = {"weight_change": [], "distance": [], "loss": [], "loss_linear": []}
    for theta, theta_linear in zip(path, path_linear):
        nn.utils.vector_to_parameters(theta, model.parameters())
        with torch.no_grad():
            linear.weight.copy_(theta_linear)
        records["weight_change"].append(float(torch.linalg.vector_norm(theta - w0) / torch.linalg.vector_norm(w0)))
        records["distance"].append(_rms_distance(model, linear, grid))
        records["loss"].append(_mse(model, x, y))
        records["loss_linear"].append(_mse(linear, x, y))
    return SideBySide(**{key: np.asarray(value) for key, value in records.items()}, linear=linear)


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """The width sweep, the random functions and the alpha sweep (seeds seed, seed+1, ...).

    Data and grid made on the CPU, networks initialized on the CPU; both moved to `device`,
    where everything is trained and measured."""
    device = check_device(device)
    x, y = (t.to(device) for t in regression_data(config.n))
    grid = torch.linspace(-config.extent, config.extent, config.grid, dtype=torch.float64)[:, None].to(device)
    W, S, C = len(config.widths), config.seeds, config.steps // config.every + 1
    sweep = {key: np.empty((W, S, C)) for key in ("weight_change", "distance", "loss", "loss_linear")}
    kappa = np.empty(W)
    trained, trained_linear = [], []
    for i, width in enumerate(progress(config.widths, total=W, desc="widths", enabled=None)):
        curves, curves_linear = [], []
        for s in range(S):
            model = _network(config, width, seed + s, device)
            if s == 0:
                kappa[i] = inverse_relative_scale(model, x, y, iterations=config.power_iterations)
            record = lazy_run(model, x, y, grid, lr=config.lr, steps=config.steps, every=config.every)
            for key in sweep:
                sweep[key][i, s] = getattr(record, key)
            with torch.no_grad():
                curves.append(model(grid)[:, 0].cpu().numpy())
                curves_linear.append(record.linear(grid)[:, 0].cpu().numpy())
        if width in config.function_widths:
            trained.append(curves)
            trained_linear.append(curves_linear)
    widths = np.asarray(config.widths, dtype=float)
    weight_slope, weight_intercept = power_law(widths, sweep["weight_change"][:, :, -1].mean(1))
    distance_slope, distance_intercept = power_law(widths, sweep["distance"][:, :, -1].mean(1))
    functions = []
    for width in config.function_widths:
        with torch.no_grad():
            functions.append([_network(config, width, seed + 1000 + j, device)(grid)[:, 0].cpu().numpy()
                              for j in range(config.n_functions)])
    alpha_distance, alpha_change, alpha_kappa = [], [], []
    for alpha in config.alphas:
        model = Scaled(_network(config, config.alpha_width, seed, device), alpha)  # on the device before wrapping
        alpha_kappa.append(inverse_relative_scale(model, x, y, iterations=config.power_iterations))
        record = lazy_run(model, x, y, grid, lr=config.lr / alpha**2, steps=config.steps, every=config.every)
        alpha_distance.append(record.distance)
        alpha_change.append(record.weight_change)
    alpha_distance = np.stack(alpha_distance)
    alphas = np.asarray(config.alphas)
    large = alphas >= 1
    alpha_slope, alpha_intercept = power_law(alphas[large], alpha_distance[large, -1])
    return Result(config=config, x=x[:, 0].cpu().numpy(), y=y.cpu().numpy(), grid=grid[:, 0].cpu().numpy(),
                  times=config.lr * config.every * np.arange(C), **{k: v for k, v in sweep.items()}, kappa=kappa,
                  weight_slope=weight_slope, weight_intercept=weight_intercept, distance_slope=distance_slope,
                  distance_intercept=distance_intercept, functions=np.asarray(functions),
                  trained=np.asarray(trained), trained_linear=np.asarray(trained_linear),
                  alpha_distance=alpha_distance, alpha_weight_change=np.stack(alpha_change),
                  alpha_kappa=np.asarray(alpha_kappa), alpha_slope=alpha_slope, alpha_intercept=alpha_intercept)


def kappa_alpha_spread(result: Result) -> float:
    """Relative spread max / min - 1 of alpha * kappa_alpha over the alphas: 0 up to round-off,
    since kappa of the centred model scaled by alpha is kappa_1 / alpha."""
    scaled = result.alpha_kappa * np.asarray(result.config.alphas)
    return float(scaled.max() / scaled.min() - 1)


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers from this study, by glue name: the scale, the widths, the final weight
    change and distance to the linearization (mean over seeds) at the narrowest and widest width,
    kappa there, the fitted slopes, and the spread of alpha * kappa_alpha; the sizes n, seeds,
    bias variance and grid extent."""
    config = result.config
    return {
        "kernelregime-scale": config.scale,
        "kernelregime-n": f"{config.n}",
        "kernelregime-seeds": f"{config.seeds}",
        "kernelregime-bias-var": f"{config.bias_var:g}",
        "kernelregime-extent": f"{config.extent:g}",
        "kernelregime-n-functions": f"{config.n_functions}",
        "kernelregime-widths": f"{config.widths[0]} to {config.widths[-1]}",
        "kernelregime-width-narrow": f"{config.widths[0]}",
        "kernelregime-weight-slope": f"{result.weight_slope:.2f}",
        "kernelregime-change-narrow": f"{result.weight_change[0, :, -1].mean():.1%}",
        "kernelregime-change-wide": f"{result.weight_change[-1, :, -1].mean():.2%}",
        "kernelregime-distance-slope": f"{result.distance_slope:.2f}",
        "kernelregime-distance-narrow": f"{result.distance[0, :, -1].mean():.2f}",
        "kernelregime-distance-wide": f"{result.distance[-1, :, -1].mean():.3f}",
        "kernelregime-kappa-narrow": f"{result.kappa[0]:.2f}",
        "kernelregime-kappa-wide": f"{result.kappa[-1]:.3f}",
        "kernelregime-alpha-slope": f"{result.alpha_slope:.2f}",
        "kernelregime-alpha-width": f"{config.alpha_width}",
        "kernelregime-kappa-alpha-spread": f"{kappa_alpha_spread(result):.0e}",
    }
