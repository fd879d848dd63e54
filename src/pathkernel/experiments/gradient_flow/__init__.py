"""Chapter "Domingos' theorem (gradient flow)": gradient descent approaching gradient flow.

The reference is the gradient flow itself, dw/dt = -grad L(w), solved by ``scipy.integrate.solve_ivp``
(DOP853, tight tolerances) from the same w_0 as gradient descent. The experiment measures

* the distance max_x |f(w_T^GD, x) - f(w(t), x)| at a fixed time t = lr * T, for several
  learning rates: gradient descent is Euler's method for the flow, so it is O(lr);
* Theorem 1 on the flow: f(w(t), x) - f(w(0), x) = -int_0^t sum_i l'_i K_{w(s)}(x, x_i) ds,
  the integral computed by Gauss-Legendre quadrature in time on the solver's dense output;
* the path kernel and the weights a_i of Theorem 1 for a few query points, on the flow and
  (``pk.domingos(..., exact=True, per_sample=True)``) on one gradient-descent path.

The flow solver and Theorem 1's quadrature on it are in `flow` (re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import numpy as np
import torch
from torch.func import vmap

from pathkernel.data import ball_sphere
from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.discrete_exact.theorem import query_points
from pathkernel.experiments.gradient_flow.flow import (Flow, flow_kernel_machine, flow_per_sample, gradient_flow,
                                                        predict, time_rule)
from pathkernel.functional import flat_function
from pathkernel.kernels import tangent_kernel
from pathkernel.losses import loss_derivative, loss_value, prepare_targets
from pathkernel.models import MLP
from pathkernel.training import train

__all__ = ["Config", "Flow", "Result", "flow_kernel_machine", "flow_per_sample", "gradient_flow", "numbers", "predict",
           "run", "time_rule"]


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the experiment (the papers give none for this check: ours are stated here).

    lrs: learning rates of the gradient-descent paths, each run for round(time / lr) steps.
    contribution_lr, queries: the path (one of `lrs`) whose per-sample contributions are shown, and where.
    rtol, atol: tolerances of the reference flow solver.
    time_pieces, time_nodes: composite Gauss-Legendre rule for the time integrals of Theorem 1.
    n_times: number of times 0..t at which the distance to the flow is recorded.
    rate_step: time h of the forward difference (f(w(h), x) - f(w_0, x)) / h checked against the rate at t = 0."""

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: the number of points of Courtois et al. §5.1 is lost in our copy",
        "width": "ours: the width of Courtois et al. §5.1 is lost in our copy",
        "time": "ours: one training time t = lr x steps for every lr, long enough to move the network",
        "lrs": "ours: halvings from 0.1, to measure the order of the distance to the flow in lr",
        "n_query": "ours: query points spread over the disk of query_radius",
        "contribution_lr": "ours: one of the smaller lrs, whose contributions are close to the flow's",
        "depth": "Courtois et al. §5.1: 'We used the 3-layers neural network'",
        "activation": "Courtois et al. §5.1: 'The GELU function ... is applied component-wise'",
        "query_radius": "ours: a disk holding the data (radius 1) and points outside it",
        "queries": "ours: the centre of the ball, a point of the sphere and a point outside the data",
        **dict.fromkeys(("rtol", "atol"), "ours: the reference solver's tolerances, far below the distance to GD"),
        **dict.fromkeys(("time_pieces", "time_nodes"), "ours: the composite Gauss-Legendre rule in time"),
        "n_times": "ours: times at which the distance to the flow is drawn",
        "rate_step": "ours: the step of the forward difference checking the rate at t = 0",
    }

    scale: str
    n: int
    width: int
    time: float
    lrs: tuple[float, ...]
    n_query: int
    contribution_lr: float
    depth: int = 3
    activation: str = "gelu"
    query_radius: float = 1.5
    queries: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.6, 0.8), (-1.2, 0.5))
    rtol: float = 1e-10
    atol: float = 1e-12
    time_pieces: int = 32
    time_nodes: int = 5
    n_times: int = 81
    rate_step: float = 1e-5

    def __post_init__(self) -> None:
        if len(self.lrs) < 2 or any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"lrs={self.lrs} needs at least two positive learning rates to fit a slope")
        if self.contribution_lr not in self.lrs:
            raise ValueError(f"contribution_lr={self.contribution_lr} must be one of lrs={self.lrs}")
        if self.time <= 0:
            raise ValueError(f"time={self.time} must be > 0")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=64, width=32, time=30.0, lrs=(0.2, 0.1, 0.05, 0.025, 0.0125), n_query=200,
                   contribution_lr=0.05)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=200, width=100, time=30.0, lrs=(0.1, 0.05, 0.025, 0.0125, 0.00625),
                   n_query=1000, contribution_lr=0.0125, rtol=1e-12, atol=1e-14, time_pieces=128)


@dataclass
class Result:
    """Distances to the flow per learning rate, Theorem 1 on the flow, and the contributions.

    gap: (len(lrs),) max_x |f(w_T^GD, x) - f(w(t), x)| over the query points; gap_over_time: (len(lrs),
    n_times) the same at the step nearest to each of `times` (against the flow at that step's time k * lr);
    slope, intercept: least-squares fit of log gap = slope * log lr + intercept. flow_residual:
    max_x |f(w(t), x) - f(w(0), x) - kernel part of Theorem 1| on the flow; prediction_max: max_x |f(w(t), x)|.

    Contributions at `queries` (m, 2), exact mode, on the gradient-descent path of lr = config.contribution_lr:
    per_sample, path_kernel, weights (m, n); prediction, initial (m,); sum_error: max |sum_i per_sample -
    (prediction - initial)|. On the flow: per_sample_flow, path_kernel_flow, weights_flow (m, n), prediction_flow
    (m,), flow_final_loss (its training loss at t) and flow_evaluations (the solver's gradient evaluations).
    At `queries` and t = 0 (the rate of Theorem 1): rate_difference (m,) the forward difference
    (f(w(h), x) - f(w_0, x)) / h on the flow solved to h = rate_step, rate_kernel (m,) -sum_i l'_i K_{w_0}(x, x_i)."""

    config: Config
    lrs: np.ndarray
    steps: np.ndarray
    final_loss: np.ndarray
    train_accuracy: np.ndarray
    gap: np.ndarray
    times: np.ndarray
    gap_over_time: np.ndarray
    slope: float
    intercept: float
    flow_final_loss: float
    flow_evaluations: int
    flow_residual: float
    prediction_max: float
    x: np.ndarray
    y: np.ndarray
    queries: np.ndarray
    per_sample: np.ndarray
    path_kernel: np.ndarray
    weights: np.ndarray
    prediction: np.ndarray
    initial: np.ndarray
    sum_error: float
    per_sample_flow: np.ndarray
    path_kernel_flow: np.ndarray
    weights_flow: np.ndarray
    prediction_flow: np.ndarray
    rate_difference: np.ndarray
    rate_kernel: np.ndarray


def weight_spread(result: Result) -> float:
    """How much a_i(x) depends on the query: max_i (max_x a_i(x) - min_x a_i(x)) / max_{x, i} |a_i(x)|."""
    return float(np.ptp(result.weights, axis=0).max() / np.abs(result.weights).max())


def per_sample_gap(result: Result) -> float:
    """max_{x, i} |c_i(x) of gradient descent - c_i(x) of the flow| / max_{x, i} |c_i(x) of the flow|."""
    return float(np.abs(result.per_sample - result.per_sample_flow).max() / np.abs(result.per_sample_flow).max())


def cancellation(result: Result) -> float:
    """min_x sum_i |c_i(x)| / |sum_i c_i(x)|: large when a change is a small difference of large terms."""
    return float((np.abs(result.per_sample).sum(1) / np.abs(result.per_sample.sum(1))).min())


def rate_gap(result: Result) -> float:
    """max_x |forward difference - kernel rate| / max_x |kernel rate| at t = 0 over `queries`."""
    return float(np.abs(result.rate_difference - result.rate_kernel).max() / np.abs(result.rate_kernel).max())


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers by glue name: the depth, the rate check at t = 0, the distances to the flow,
    Theorem 1 on it, the contributions."""
    return {"gradientflow-scale": result.config.scale,
            "gradientflow-depth": f"{result.config.depth}",
            "gradientflow-rate-gap": f"{rate_gap(result):.0e}",
            "gradientflow-slope": f"{result.slope:.2f}",
            "gradientflow-gap-min": f"{result.gap.min():.1e}",
            "gradientflow-flow-residual": f"{result.flow_residual:.0e}",
            "gradientflow-evaluations": f"{result.flow_evaluations}",
            "gradientflow-contribution-lr": f"{result.config.contribution_lr:g}",
            "gradientflow-sum-error": f"{result.sum_error:.0e}",
            "gradientflow-per-sample-gap": f"{per_sample_gap(result):.1%}",
            "gradientflow-weight-spread": f"{weight_spread(result):.0%}",
            "gradientflow-cancellation": f"{cancellation(result):.0f}"}


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Solve the flow, train once per lr to `config.time`, decompose (data drawn on the CPU, computed on `device`)."""
    device = check_device(device)
    x, y = (t.to(device) for t in ball_sphere(config.n, seed=seed))
    xq = query_points(config.n_query, config.query_radius, seed + 1).to(device)
    network = partial(MLP, 2, config.width, config.depth, activation=config.activation, seed=seed, dtype=torch.float64)
    model = network().to(device)  # theta_0 of the flow and of every gradient-descent path
    f = flat_function(model)
    flow = gradient_flow(model, x, y, config.time, rtol=config.rtol, atol=config.atol)
    coarsest = max(config.lrs)  # record at multiples of the largest step: a step of every path in a halving sequence
    times = coarsest * np.unique(np.round(np.linspace(0.0, config.time / coarsest, config.n_times)))
    kernel_part = flow_kernel_machine(model, x, y, flow, xq, pieces=config.time_pieces, nodes=config.time_nodes)
    end = f(flow.w_end, xq)
    flow_residual = (end - f(flow.w0, xq) - kernel_part).abs().max().item()
    steps, losses, accuracy, gap, gap_over_time, contribution = [], [], [], [], [], None
    for lr in config.lrs:
        gd = network().to(device)
        path = train(gd, x, y, lr=lr, steps=max(1, round(config.time / lr)))
        steps.append(path.steps)
        losses.append(path.losses[-1].item())
        with torch.no_grad():
            accuracy.append((torch.sign(gd(x)[:, 0]) == y).double().mean().item())
            index = np.minimum(np.round(times / lr).astype(int), path.steps)
            on_path = vmap(lambda theta: f(theta, xq))(path.params[index].to(device))[..., 0]
            on_flow = vmap(lambda theta: f(theta, xq))(flow.params(np.minimum(index * lr, config.time)))[..., 0]
        gap_over_time.append((on_path - on_flow).abs().amax(dim=1).cpu().numpy())
        gap.append((f(path.params[-1].to(device), xq) - end).abs().max().item())
        contribution = path if lr == config.contribution_lr else contribution
    slope, intercept = np.polyfit(np.log(config.lrs), np.log(gap), 1)
    queries = torch.tensor(config.queries, dtype=torch.float64, device=device)
    lprime = loss_derivative("mse", f(flow.w0, x), prepare_targets("mse", y, config.n, 1, torch.float64))[:, 0]
    rate_kernel = -(tangent_kernel(model, queries, x) * lprime).sum(1)
    start = gradient_flow(model, x, y, config.rate_step)
    rate_difference = (f(start.w_end, queries) - f(flow.w0, queries))[:, 0] / config.rate_step
    dec = domingos(contribution, queries, exact=True, per_sample=True)
    path_kernel_flow, weighted_flow = flow_per_sample(model, x, y, flow, queries, pieces=config.time_pieces,
                                                      nodes=config.time_nodes)
    weights_flow = torch.where(path_kernel_flow != 0, weighted_flow / path_kernel_flow, 0.0)
    return Result(
        config=config, lrs=np.asarray(config.lrs), steps=np.asarray(steps), final_loss=np.asarray(losses),
        train_accuracy=np.asarray(accuracy), gap=np.asarray(gap), times=times, flow_residual=flow_residual,
        gap_over_time=np.stack(gap_over_time), slope=float(slope), intercept=float(intercept),
        flow_final_loss=loss_value("mse", f(flow.w_end, x), y[:, None]).item(), flow_evaluations=flow.evaluations,
        prediction_max=end.abs().max().item(), x=x.cpu().numpy(), y=y.cpu().numpy(), queries=queries.cpu().numpy(),
        per_sample=dec.per_sample.cpu().numpy(), path_kernel=dec.path_kernel.cpu().numpy(),
        weights=dec.weights.cpu().numpy(), prediction=dec.prediction.cpu().numpy(), initial=dec.initial.cpu().numpy(),
        sum_error=(dec.per_sample.sum(1) - (dec.prediction - dec.initial)).abs().max().item(),
        per_sample_flow=(-weighted_flow).cpu().numpy(), path_kernel_flow=path_kernel_flow.cpu().numpy(),
        weights_flow=weights_flow.cpu().numpy(), prediction_flow=f(flow.w_end, queries)[:, 0].detach().cpu().numpy(),
        rate_difference=rate_difference.detach().cpu().numpy(), rate_kernel=rate_kernel.detach().cpu().numpy(),
    )
