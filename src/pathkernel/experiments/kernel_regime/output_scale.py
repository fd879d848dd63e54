"""Chapter "The kernel regime", part 2: the output scale alpha, on a 1-parameter toy and on two points.

* The blog's toy model with one weight (w0 = 0.4),
  f(x, w) = (w x + w^2 x + sin(exp(0.1 w))) (w - w0), zero at w0, scaled to alpha f, against its
  tangent line alpha f'(w0) (w - w0) at x = 1.5, and the normalized losses
  (alpha f(w) - ybar)^2 / (2 alpha^2) of one data point for both, with their minima.
* Two data points: the centred, scaled network alpha (f(w, x) - f(w0, x)) (`Scaled`) of width
  m, trained by gradient descent with step lr / alpha^2 (the time t = lr * step is then the
  time of its linearized dynamics for every alpha). Recorded: the outputs u_k = f(w_k, X) - y
  (2,) at every step, the 2 x 2 tangent kernel K_{w_k}(X, X) (normalized by alpha^2) along
  training, and the kernel-regime ODE u(t) = exp(-t K_{w0} / n) u(0) (scipy expm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.optimize
import torch

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.kernel_regime.common import power_law
from pathkernel.functional import flat_function
from pathkernel.kernels import tangent_kernel
from pathkernel.linearized import Scaled, flow_residuals, gd_residuals
from pathkernel.models import MLP
from pathkernel.training import train

TOY_W0 = 0.4


def toy(w: np.ndarray | float, x: float = 1.5) -> np.ndarray:
    """The blog's 1-parameter model f(x, w) = (w x + w^2 x + sin(exp(0.1 w))) (w - 0.4), zero at w0 = 0.4."""
    w = np.asarray(w, dtype=np.float64)
    return (w * x + w**2 * x + np.sin(np.exp(0.1 * w))) * (w - TOY_W0)


def toy_slope(x: float = 1.5) -> float:
    """f'(w0) = w0 x + w0^2 x + sin(exp(0.1 w0)): the other factor vanishes at w0."""
    return TOY_W0 * x + TOY_W0**2 * x + math.sin(math.exp(0.1 * TOY_W0))


@dataclass(frozen=True)
class Config(Presets):
    """Sizes (the blog's values of alpha, the data and the toy's target are lost; ours are chosen).

    toy_alphas, toy_target: output scales and target ybar of the toy at x = toy_x; toy_grid:
    points of w in [w0 - toy_halfwidth, w0 + toy_halfwidth]. alphas: output scales of the
    two-point network (width `width`, depth 3, ReLU, NTK parameterization), trained `steps`
    steps of lr / alpha^2 from the same initialization; kernels: number of checkpoints at which
    the 2 x 2 kernel is recorded. x, y: the two data points.
    """

    scale: str
    width: int
    steps: int
    alphas: tuple[float, ...]
    kernels: int = 6
    lr: float = 0.05
    x: tuple[float, float] = (-0.5, 0.7)
    y: tuple[float, float] = (0.6, -0.5)
    toy_alphas: tuple[float, ...] = (1.0, 2.0, 5.0, 20.0)
    toy_target: float = 1.0
    toy_x: float = 1.5
    toy_grid: int = 401
    toy_halfwidth: float = 1.5
    weight_var: float = 2.0
    bias_var: float = 0.2

    sources: ClassVar[dict[str, str]] = {
        "width": "NTK blog: 'I used a two hidden layer network with a width of 100 for these runs'",
        "steps": "ours: the NTK blog gives no number of steps",
        "alphas": "ours: the NTK blog's values of alpha are not in its text",
        "kernels": "ours: ellipses drawn per value of alpha",
        "lr": "ours: the NTK blog's text gives no learning rate",
        "x": "ours: the NTK blog uses two data points (its data set is 'of size 2'), whose inputs are not in its text",
        "y": "ours: the NTK blog's targets are not in its text",
        "toy_alphas": "ours: the NTK blog varies alpha without giving its values",
        "toy_target": "ours: the NTK blog's data point is not in its text",
        "toy_x": "NTK blog: 'at one specific value of x, say x=1.5'",
        "toy_grid": "ours: points of the curves",
        "toy_halfwidth": "ours: the range of w drawn around w0",
        "weight_var": "ours: the variances of the chapter's network (the lazy-training study)",
        "bias_var": "ours: the variances of the chapter's network (the lazy-training study)",
    }

    def __post_init__(self) -> None:
        if min(self.alphas) <= 0 or sum(a >= 1 for a in self.alphas) < 2 or min(self.toy_alphas) <= 0:
            raise ValueError(f"need positive alphas, >= 2 of them >= 1 (the fitted range); "
                             f"got alphas={self.alphas}, toy_alphas={self.toy_alphas}")
        if not 2 <= self.kernels <= self.steps + 1:
            raise ValueError(f"kernels={self.kernels} must lie in [2, steps + 1 = {self.steps + 1}]")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", width=100, steps=400, alphas=(0.1, 0.3, 1.0, 3.0, 10.0))

    @classmethod
    def paper(cls) -> "Config":
        """The blog's width 100, a smaller step and more values of alpha."""
        return cls(scale="paper", width=100, steps=4000, lr=0.005, alphas=(0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0))


@dataclass
class Result:
    """Toy (T alphas, G grid points) and two-point (A alphas, steps + 1 times, C kernel checkpoints).

    toy_w (G,); toy_f, toy_linear (T, G): alpha f and alpha f'(w0)(w - w0);
    toy_loss, toy_loss_linear (T, G): normalized losses; toy_minimum, toy_minimum_linear (T,):
    the nearest minimizer of the loss from w0 and of the linearized loss.
    x, y (2,); times (steps+1,): lr * step; outputs (A, steps+1, 2): f_alpha(w_k, X);
    kernel_steps (C,); kernels (A, C, 2, 2): K_{w_k}(X, X) (the scaled model's kernel / alpha^2);
    ode (steps+1, 2): u(t) = exp(-t K_{w0} / n) u(0) with u(0) = -y; gd_linear (steps+1, 2): the
    same fixed kernel under the gradient-descent recursion; ode_gap (A,): max_t ||u_k - u_ode(t_k)||;
    linear_gap (A,): max_k ||u_k - u_k^{GD, fixed kernel}||; discretization_gap: max_k of the
    recursion minus the ODE (the part of ode_gap due to the step size); kernel_change (A,):
    ||K_T - K_0||_F / ||K_0||_F; gap_slope, gap_intercept: power law of linear_gap in alpha on alpha >= 1.
    """

    config: Config
    toy_w: np.ndarray
    toy_f: np.ndarray
    toy_linear: np.ndarray
    toy_loss: np.ndarray
    toy_loss_linear: np.ndarray
    toy_minimum: np.ndarray
    toy_minimum_linear: np.ndarray
    x: np.ndarray
    y: np.ndarray
    times: np.ndarray
    outputs: np.ndarray
    kernel_steps: np.ndarray
    kernels: np.ndarray
    ode: np.ndarray
    gd_linear: np.ndarray
    ode_gap: np.ndarray
    linear_gap: np.ndarray
    discretization_gap: float
    kernel_change: np.ndarray
    gap_slope: float
    gap_intercept: float


def _toy(config: Config) -> dict[str, np.ndarray]:
    """The toy on its grid of w: w (G,); f, linear, loss, loss_linear (T, G); minimum, minimum_linear (T,)."""
    w = np.linspace(TOY_W0 - config.toy_halfwidth, TOY_W0 + config.toy_halfwidth, config.toy_grid)
    slope, target = toy_slope(config.toy_x), config.toy_target
    out: dict[str, list] = {k: [] for k in ("f", "linear", "loss", "loss_linear", "minimum", "minimum_linear")}
    for alpha in config.toy_alphas:
        out["f"].append(alpha * toy(w, config.toy_x))
        out["linear"].append(alpha * slope * (w - TOY_W0))
        out["loss"].append((toy(w, config.toy_x) - target / alpha) ** 2 / 2)
        out["loss_linear"].append((slope * (w - TOY_W0) - target / alpha) ** 2 / 2)
        # the zero of the normalized loss the gradient flow from w0 reaches: the root of f = ybar / alpha
        # between w0 and the first point beyond the linear minimizer where f passes ybar / alpha
        linear_minimum = TOY_W0 + target / (alpha * slope)
        out["minimum_linear"].append(linear_minimum)
        root = scipy.optimize.brentq(lambda v: toy(v, config.toy_x) - target / alpha, TOY_W0,
                                     TOY_W0 + 4 * (linear_minimum - TOY_W0))
        out["minimum"].append(root)
    return {"w": w, **{k: np.asarray(v) for k, v in out.items()}}


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """The toy's curves and losses, then the two-point network for each alpha (same initialization).

    The toy is numpy; the networks are initialized on the CPU and trained on `device`, and the
    kernel-regime ODE (scipy) is solved on the CPU."""
    device = check_device(device)
    toy_result = _toy(config)
    x = torch.tensor(config.x, dtype=torch.float64, device=device)[:, None]
    y = torch.tensor(config.y, dtype=torch.float64, device=device)
    checkpoints = np.unique(np.linspace(0, config.steps, config.kernels).round().astype(int))
    outputs, kernels = [], []
    for alpha in config.alphas:
        network = MLP(1, config.width, 3, activation="relu", parameterization="ntk", weight_var=config.weight_var,
                      bias_var=config.bias_var, seed=seed, dtype=torch.float64).to(device)
        model = Scaled(network, alpha)  # on the device before wrapping: Scaled's copy of w0 too
        path = train(model, x, y, lr=config.lr / alpha**2, steps=config.steps, progress_bar=False)
        f = flat_function(model)
        params = path.params.to(device)
        with torch.no_grad():
            outputs.append(torch.stack([f(theta, x)[:, 0] for theta in params]).cpu().numpy())
        kernels.append(np.stack([tangent_kernel(network, x, params=params[k]).cpu().numpy() for k in checkpoints]))
    outputs, kernels = np.stack(outputs), np.stack(kernels)
    K0 = kernels[0, 0]  # the same initialization for every alpha
    times = config.lr * np.arange(config.steps + 1)
    u0 = -y.cpu().numpy()
    ode = flow_residuals(K0, u0, times)
    gd_linear = gd_residuals(K0, u0, lr=config.lr, steps=config.steps)
    residuals = outputs - y.cpu().numpy()
    ode_gap = np.linalg.norm(residuals - ode, axis=2).max(1)
    linear_gap = np.linalg.norm(residuals - gd_linear, axis=2).max(1)
    alphas = np.asarray(config.alphas)
    large = alphas >= 1
    gap_slope, gap_intercept = power_law(alphas[large], linear_gap[large])
    change = np.linalg.norm(kernels[:, -1] - kernels[:, 0], axis=(1, 2)) / np.linalg.norm(kernels[:, 0], axis=(1, 2))
    return Result(config=config, toy_w=toy_result["w"], toy_f=toy_result["f"], toy_linear=toy_result["linear"], toy_loss=toy_result["loss"],
                  toy_loss_linear=toy_result["loss_linear"], toy_minimum=toy_result["minimum"],
                  toy_minimum_linear=toy_result["minimum_linear"], x=x[:, 0].cpu().numpy(), y=y.cpu().numpy(),
                  times=times,
                  outputs=outputs, kernel_steps=checkpoints, kernels=kernels, ode=ode, gd_linear=gd_linear,
                  ode_gap=ode_gap, linear_gap=linear_gap,
                  discretization_gap=float(np.linalg.norm(gd_linear - ode, axis=1).max()),
                  kernel_change=change, gap_slope=gap_slope, gap_intercept=gap_intercept)


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers from this study, by glue name: for the toy's first and last alpha, the
    distance from w0 of the model's and the linearized minimizer; for the two-point network's
    smallest and largest alpha, the kernel's relative change and the gap to the fixed-kernel
    recursion; the gap to the ODE at the largest alpha; the fitted slope of the gap to the
    recursion, the discretization gap and the step; the toy's x and target and the network's width."""
    config = result.config
    values = {"kernelregime-toy-x": f"{config.toy_x:g}", "kernelregime-toy-target": f"{config.toy_target:g}",
              "kernelregime-pair-width": f"{config.width}"}
    for key, a in (("first", 0), ("last", -1)):
        values[f"kernelregime-toy-alpha-{key}"] = f"{config.toy_alphas[a]:g}"
        values[f"kernelregime-toy-move-{key}"] = f"{result.toy_minimum[a] - TOY_W0:.3f}"
        values[f"kernelregime-toy-move-linear-{key}"] = f"{result.toy_minimum_linear[a] - TOY_W0:.3f}"
    for key, a in (("small", 0), ("large", -1)):
        values[f"kernelregime-alpha-{key}"] = f"{config.alphas[a]:g}"
        change = result.kernel_change[a]  # two digits below 10%: a nearly constant kernel reads 0.018%, not 0.0%
        values[f"kernelregime-kernel-change-{key}"] = (f"{np.format_float_positional(100 * change, 2, False, False)}%"
                                                       if change < 0.1 else f"{change:.0%}")
        values[f"kernelregime-linear-gap-{key}"] = f"{result.linear_gap[a]:.1e}"
    values["kernelregime-ode-gap-large"] = f"{result.ode_gap[-1]:.3f}"
    values["kernelregime-gap-slope"] = f"{result.gap_slope:.2f}"
    values["kernelregime-discretization"] = f"{result.discretization_gap:.3f}"
    values["kernelregime-ode-lr"] = f"{config.lr:g}"
    return values
