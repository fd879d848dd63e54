"""The two routes to the kernel regime: the linearized model and output scaling.

* `Linearized(model)`: the first-order Taylor expansion of f at its initialization w0,

      f_lin(w, x) = f(w0, x) + <grad_w f(w0, x), w - w0>,

  a module whose one parameter is the flat vector w (same layout as the model's), so that
  `pk.train` trains it with the same loop as the network.
* `Scaled(model, alpha)`: the centred, scaled model of Chizat & Bach (2019),
  f_alpha(w, x) = alpha (f(w, x) - f(w0, x)); it outputs 0 at w0 and its tangent kernel is
  alpha^2 K_w.
* `gd_residuals`, `flow_residuals`, `flow_prediction`: the closed-form training dynamics of a
  model with a fixed tangent kernel K under `loss="mse"` (mean over the n points, so
  L'_i = u_i / n with u = f(w, X) - y): gradient descent gives
  u_k = (I - lr K / n)^k u_0, gradient flow u(t) = exp(-t K / n) u_0.
* `inverse_relative_scale`: Chizat & Bach's kappa, how far from linear a model is at w0.
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.linalg
import torch
from torch import nn
from torch.func import jvp

from pathkernel.functional import check_inputs, flat_function, flat_parameters
from pathkernel.kernels import tangent_features, tangent_kernel
from pathkernel.validation import integer


class Linearized(nn.Module):
    """f_lin(w, x) = f(w0, x) + <grad_w f(w0, x), w - w0>, linear in w.

    Args:
        model: the network, read at its current parameters w0 (it is not copied: its
            structure is evaluated at w0 with `torch.func.functional_call`, so training the
            model afterwards does not move w0).

    Attributes:
        weight: the flat parameter w (P,), initialized to w0; `parameters_to_vector` of this
            module is directly comparable with the model's.
        w0: buffer (P,).

    Input (n, ...) as the model; output (n, c). A forward is one `torch.func.jvp`, or, on the
    input given to `cache`, one product with the stored Jacobian.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self._model = [model]  # a list: not a submodule, its parameters are not ours
        self._f = flat_function(model)
        w0 = flat_parameters(model)
        self.register_buffer("w0", w0)
        self.weight = nn.Parameter(w0.clone())
        self._cached: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def cache(self, x: torch.Tensor) -> "Linearized":
        """Store f(w0, x) (n, c) and the Jacobian grad_w f(w0, x) (n, c, P) (`tangent_features`):
        later forwards on an input equal to x cost one matrix-vector product (training on a
        fixed set). Memory n c P numbers. Returns self."""
        check_inputs(self, x)
        features = tangent_features(self._model[0], x, params=self.w0)
        with torch.no_grad():
            initial = self._f(self.w0, x)
        self._cached = (x.detach().clone(), initial, features.reshape(x.shape[0], initial.shape[1], -1))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._cached is not None:
            cached_x, initial, jacobian = self._cached
            if x.shape == cached_x.shape and torch.equal(x, cached_x):
                return initial + jacobian @ (self.weight - self.w0)
        initial, change = jvp(lambda theta: self._f(theta, x), (self.w0,), (self.weight - self.w0,))
        return initial + change


class Scaled(nn.Module):
    """The centred, scaled model f_alpha(w, x) = alpha (f(w, x) - f(w0, x)) (Chizat & Bach 2019).

    Its parameters are the model's own (trained in place); w0 is the model's parameters when
    wrapped, kept in a frozen copy of the model that is not a submodule. At w0 the output is 0
    for every x; the tangent kernel is alpha^2 K_w and the Hessian alpha times the model's, so
    the inverse relative scale kappa is divided by alpha. Input (n, ...) as the model; output (n, c).
    """

    def __init__(self, model: nn.Module, alpha: float) -> None:
        super().__init__()
        if not (isinstance(alpha, (int, float)) and np.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha={alpha!r} must be a finite number > 0")
        self.model = model
        self.alpha = float(alpha)
        initial = copy.deepcopy(model).requires_grad_(False)
        self._initial = [initial]  # a list: not a submodule, its parameters are not ours

    def _apply(self, fn, *args, **kwargs):
        """Move or cast the copy of w0 with the model (`.to(device)`, `.double()`)."""
        super()._apply(fn, *args, **kwargs)
        self._initial[0]._apply(fn, *args, **kwargs)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        current = self.model(x).reshape(x.shape[0], -1)
        return self.alpha * (current - self._initial[0](x).reshape(x.shape[0], -1))


def _kernel_and_residual(kernel, u0) -> tuple[np.ndarray, np.ndarray]:
    K = np.asarray(kernel, dtype=np.float64)
    u = np.asarray(u0, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or u.shape != (K.shape[0],):
        raise ValueError(f"kernel must be (n, n) and u0 (n,); got {K.shape} and {u.shape}")
    return K, u


def gd_residuals(kernel, u0, *, lr: float, steps: int) -> np.ndarray:
    """u_k = (I - lr K / n)^k u0 for k = 0..steps, shape (steps+1, n).

    The residuals f(w_k, X) - y of gradient descent on the mean squared error for a model whose
    tangent kernel on the training set is the fixed K (n, n): the linearized model, exactly.
    """
    K, u = _kernel_and_residual(kernel, u0)
    integer("steps", steps)
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r} must be a finite number > 0")
    step = np.eye(len(u)) - lr * K / len(u)
    out = np.empty((steps + 1, len(u)))
    out[0] = u
    for k in range(steps):
        out[k + 1] = step @ out[k]
    return out


def flow_residuals(kernel, u0, times) -> np.ndarray:
    """u(t) = exp(-t K / n) u0 at each time (scipy.linalg.expm), shape (len(times), n).

    The gradient flow of the mean squared error for a fixed tangent kernel K (n, n), the
    kernel-regime ODE du/dt = -(K / n) u; time t corresponds to lr * steps of gradient descent.
    """
    K, u = _kernel_and_residual(kernel, u0)
    return np.stack([scipy.linalg.expm(-float(t) * K / len(u)) @ u for t in np.asarray(times, dtype=float)])


def flow_prediction(kernel_cross, kernel, u0, time: float = np.inf) -> np.ndarray:
    """f(w(t), x) - f(w0, x) = -K(x, X) K^{-1} (I - exp(-t K / n)) u0 under the fixed-kernel flow, (m,).

    kernel_cross: K(x, X) (m, n); kernel: K(X, X) (n, n), positive definite; u0 = f(w0, X) - y.
    time=inf is kernel (ridgeless) regression of -u0: the change that interpolates the targets.
    """
    K, u = _kernel_and_residual(kernel, u0)
    cross = np.asarray(kernel_cross, dtype=np.float64)
    if cross.ndim != 2 or cross.shape[1] != len(u):
        raise ValueError(f"kernel_cross must be (m, {len(u)}); got {cross.shape}")
    values, vectors = np.linalg.eigh(K)
    if values.min() <= 1e-12 * values.max():
        raise ValueError(f"kernel is not positive definite (eigenvalues {values.min():.3g} .. {values.max():.3g})")
    gain = (1 - np.exp(-time * values / len(u))) / values
    return -cross @ (vectors @ (gain * (vectors.T @ u)))


def hessian_norms(model: nn.Module, x: torch.Tensor, *, iterations: int = 50, seed: int = 0) -> torch.Tensor:
    """Largest absolute eigenvalue of the Hessian of f(w, x_i) in w at the model's parameters, for each x_i, (n,).

    Power iteration with Hessian-vector products (double backward through the gradient,
    `torch.autograd.grad(..., create_graph=True)`), reporting ``||H v||`` for the unit iterate v: the
    Rayleigh quotient of H^2, which converges to the largest absolute eigenvalue also when +lambda and
    -lambda are both eigenvalues (as for the bilinear couplings of consecutive layers).
    Scalar-output models.
    """
    check_inputs(model, x)
    integer("iterations", iterations)
    params = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(seed)
    norms = []
    for i in range(x.shape[0]):
        gradient = torch.autograd.grad(model(x[i:i + 1]).sum(), params, create_graph=True)
        flat = torch.cat([g.reshape(-1) for g in gradient])
        v = torch.randn(flat.numel(), generator=generator, dtype=flat.dtype).to(flat.device)  # seeded on the CPU
        v = v / torch.linalg.vector_norm(v)
        for _ in range(iterations):
            hv = torch.autograd.grad(flat, params, grad_outputs=v, retain_graph=True, allow_unused=True)
            hv = torch.cat([(h if h is not None else torch.zeros_like(p)).reshape(-1) for h, p in zip(hv, params)])
            norm = torch.linalg.vector_norm(hv)
            v = hv / norm.clamp_min(torch.finfo(hv.dtype).tiny)
        norms.append(norm.detach())
    return torch.stack(norms)


def inverse_relative_scale(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, iterations: int = 50) -> float:
    """Chizat & Bach's inverse relative scale kappa at the model's parameters w0.

    ``kappa(w0) = ||f(w0, X) - y|| ||D^2 f(w0, X)|| / ||D f(w0, X)||^2``, where ``||D f||`` is
    the spectral norm of the Jacobian (n, P), sqrt of the largest eigenvalue of the tangent
    kernel K(X, X), and ``||D^2 f||`` is taken as ``sqrt(sum_i ||Hess_w f(w0, x_i)||_op^2)``
    (`hessian_norms`), which lies between the operator norm of the stacked Hessian and sqrt(n)
    times it. kappa << 1: the model stays close to its linearization while it fits y.
    Scalar-output models; x (n, ...), y (n,).
    """
    check_inputs(model, x)
    with torch.no_grad():
        out = model(x).reshape(x.shape[0], -1)
    if out.shape[1] != 1 or y.shape != (x.shape[0],):
        raise ValueError(f"expected a scalar-output model and y of shape ({x.shape[0]},); "
                         f"got {out.shape[1]} outputs and y {tuple(y.shape)}")
    residual = torch.linalg.vector_norm(out[:, 0] - y)
    jacobian_norm_sq = torch.linalg.eigvalsh(tangent_kernel(model, x)).max()
    hessian = torch.linalg.vector_norm(hessian_norms(model, x, iterations=iterations))
    return float(residual * hessian / jacobian_norm_sq)
