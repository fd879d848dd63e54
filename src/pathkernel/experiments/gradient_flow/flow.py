"""The gradient flow dw/dt = -grad L(w) as the reference of the chapter "Domingos' theorem (gradient flow)":
solved by ``scipy.integrate.solve_ivp`` (DOP853, dense output) from a model's parameters (`gradient_flow`,
`Flow`), and Theorem 1's kernel part on it by Gauss-Legendre quadrature in time (`flow_kernel_machine`,
per training point `flow_per_sample`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.integrate import solve_ivp
from threadpoolctl import threadpool_limits
from torch.func import grad, jvp, vmap

from pathkernel.functional import check_inputs, flat_function, flat_parameters
from pathkernel.kernels import tangent_kernel
from pathkernel.losses import loss_derivative, loss_value, prepare_targets
from pathkernel.validation import integer


@dataclass
class Flow:
    """A gradient flow solved on the CPU: w0, w_end and ``params(s)`` = w(s), s in [0, time], on the model's device."""

    time: float
    w0: torch.Tensor
    w_end: torch.Tensor
    evaluations: int
    _solution: object

    def params(self, s: float | np.ndarray) -> torch.Tensor:
        """w(s): (P,) for one time, (len(s), P) for an array of times."""
        s = np.asarray(s, dtype=np.float64)
        if np.any(s < 0) or np.any(s > self.time * (1 + 1e-12)):
            raise ValueError(f"times must lie in [0, {self.time}]; got range [{s.min()}, {s.max()}]")
        values = self._solution(s)
        return torch.from_numpy(np.ascontiguousarray(values.T if values.ndim == 2 else values)).to(self.w0)


def predict(model: torch.nn.Module, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """f(params, x) for flat parameters (P,) without touching the model: (m,) or (m, c)."""
    check_inputs(model, x)
    with torch.no_grad():
        out = flat_function(model)(params, x)
    return out[:, 0] if out.shape[1] == 1 else out


def gradient_flow(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, time: float, *, loss: str = "mse",
                  rtol: float = 1e-10, atol: float = 1e-12) -> Flow:
    """Solve dw/dt = -grad L(w) from the model's parameters to `time` (the model is left untouched).

    L is the batch-mean loss of `pathkernel.train`, so gradient descent with step lr is Euler's method
    for this ODE. DOP853 with dense output, float64 only; the solver steps on the CPU, each velocity
    is computed on the model's device (x's)."""
    check_inputs(model, x)
    w0 = flat_parameters(model)
    if w0.dtype != torch.float64:
        raise TypeError(f"the reference flow is solved in float64; the model is {w0.dtype}")
    if not time > 0:
        raise ValueError(f"time={time} must be > 0")
    f = flat_function(model)
    target = prepare_targets(loss, y, x.shape[0], f(w0, x[:1]).shape[1], w0.dtype)

    def velocity(_, w: np.ndarray) -> np.ndarray:
        theta = torch.from_numpy(w).to(w0.device).requires_grad_()
        return -torch.autograd.grad(loss_value(loss, f(theta, x), target), theta)[0].cpu().numpy()

    # numpy's BLAS threads spin between solver steps and starve torch's: one BLAS thread
    with threadpool_limits(limits=1, user_api="blas"):
        solution = solve_ivp(velocity, (0.0, time), w0.cpu().numpy(), "DOP853", dense_output=True, rtol=rtol, atol=atol)
    if not solution.success:
        raise RuntimeError(f"the gradient-flow solver failed: {solution.message}")
    return Flow(time=time, w0=w0, w_end=torch.from_numpy(solution.y[:, -1].copy()).to(w0.device),
                evaluations=int(solution.nfev), _solution=solution.sol)


def time_rule(time: float, pieces: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre points and weights on [0, time] (`nodes` on each of `pieces`)."""
    integer("pieces", pieces)
    t, w = np.polynomial.legendre.leggauss(nodes)
    starts = np.arange(pieces)[:, None] * time / pieces
    points = (starts + (t[None, :] + 1) * time / (2 * pieces)).ravel()
    return points, np.tile(w * time / (2 * pieces), pieces)


def flow_kernel_machine(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, flow: Flow, xq: torch.Tensor, *,
                        pieces: int = 32, nodes: int = 5, loss: str = "mse") -> torch.Tensor:
    """The Theorem-1 kernel part -int_0^t sum_i l'_i K_{w(s)}(x, x_i) ds at queries xq, shape (m, c).

    The integrand, df(w(s), x)/ds = <grad f(w(s), x), -grad L(w(s))>, is one Jacobian-vector
    product per quadrature time; f(w(0), x) plus this equals f(w(t), x) by Theorem 1."""
    f = flat_function(model)
    target = prepare_targets(loss, y, x.shape[0], f(flow.w0, x[:1]).shape[1], flow.w0.dtype)
    gradient = grad(lambda theta: loss_value(loss, f(theta, x), target))
    points, weights = time_rule(flow.time, pieces, nodes)

    def rate(theta: torch.Tensor) -> torch.Tensor:
        return jvp(lambda t: f(t, xq), (theta,), (-gradient(theta),))[1]
    rates = torch.cat([vmap(rate)(chunk) for chunk in flow.params(points).split(16)])
    return torch.einsum("q,qmc->mc", torch.from_numpy(weights).to(device=rates.device, dtype=rates.dtype), rates)


def flow_per_sample(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, flow: Flow, xq: torch.Tensor, *,
                    pieces: int = 32, nodes: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Theorem 1 on the flow (scalar output, mse), per training point: (path_kernel, weighted), (m, n).

    path_kernel = int_0^t K_{w(s)}(x, x_i) ds and weighted = int_0^t l'_i(s) K_{w(s)}(x, x_i) ds,
    so a_i(x) = weighted / path_kernel and the contribution of x_i is -weighted."""
    f, n = flat_function(model), x.shape[0]
    target = prepare_targets("mse", y, n, 1, flow.w0.dtype)
    path_kernel, weighted = xq.new_zeros(xq.shape[0], n), xq.new_zeros(xq.shape[0], n)
    for s, weight in zip(*time_rule(flow.time, pieces, nodes)):
        theta = flow.params(s)
        K = tangent_kernel(model, xq, x, params=theta)
        path_kernel += weight * K
        weighted += weight * K * loss_derivative("mse", f(theta, x), target)[:, 0]
    return path_kernel, weighted
