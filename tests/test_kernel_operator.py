"""The integral operator of a kernel on a sample: against kernels with known spectra, least squares,
and the linearized model trained by gradient descent."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel.kernels.operator import integral_operator, unreachable_energy
from pathkernel.linearized import Linearized

TOL = 1e-10


def circle(m: int) -> torch.Tensor:
    return torch.arange(m, dtype=torch.float64) * 2 * math.pi / m


def periodic_kernel(theta: torch.Tensor, c: list[float]) -> torch.Tensor:
    """K(t, t') = sum_k c_k cos(k (t - t')): on a uniform grid, T has eigenvalue c_0 (constants) and
    c_k / 2 twice (cos k t, sin k t), zero beyond the last frequency."""
    diff = theta[:, None] - theta[None, :]
    return sum(ck * torch.cos(k * diff) for k, ck in enumerate(c))


def test_periodic_kernel_spectrum_is_its_fourier_coefficients():
    m, c = 64, [2.0, 1.0, 0.5, 0.25]
    spectrum = integral_operator(periodic_kernel(circle(m), c))
    expected = sorted([c[0]] + [ck / 2 for ck in c[1:] for _ in range(2)], reverse=True) + [0.0] * (m - 7)
    torch.testing.assert_close(spectrum.eigenvalues, torch.tensor(expected, dtype=torch.float64), atol=TOL, rtol=0)
    assert spectrum.rank == 7
    gram = spectrum.eigenfunctions.T @ (spectrum.weights[:, None] * spectrum.eigenfunctions)
    torch.testing.assert_close(gram, torch.eye(m, dtype=torch.float64), atol=TOL, rtol=0)


def test_a_frequency_the_kernel_lacks_is_all_null_space_energy():
    theta = circle(64)
    spectrum = integral_operator(periodic_kernel(theta, [2.0, 1.0, 0.5, 0.25]))
    g = torch.cos(2 * theta) + torch.sin(5 * theta)  # ||.||^2 = 1/2 + 1/2; only sin 5t is unreachable
    energy = spectrum.energy_outside(g)
    assert energy[0] == pytest.approx(1.0, abs=TOL)
    assert spectrum.null_energy(g) == pytest.approx(0.5, abs=TOL)
    assert energy[-1] == pytest.approx(0.0, abs=TOL)
    assert (energy[1:] <= energy[:-1] + TOL).all()


def test_polynomial_kernel_null_energy_is_the_distance_to_low_degree_polynomials():
    """(1 + x x')^d has rank d + 1 and range the polynomials of degree <= d: the null-space energy of
    x^(d+1) is its least-squares distance to them, computed here from a Vandermonde matrix."""
    x = torch.linspace(-1, 1, 41, dtype=torch.float64)
    weights = torch.rand(41, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.5
    weights = weights / weights.sum()
    d = 3
    spectrum = integral_operator((1 + x[:, None] * x[None, :]) ** d, weights)
    g = x ** (d + 1)
    vandermonde = np.vander(x.numpy(), d + 1)
    root = np.sqrt(weights.numpy())
    coefficients, *_ = np.linalg.lstsq(root[:, None] * vandermonde, root * g.numpy(), rcond=None)
    distance = float(np.sum(weights.numpy() * (g.numpy() - vandermonde @ coefficients) ** 2))
    assert spectrum.rank == d + 1
    assert spectrum.null_energy(g) == pytest.approx(distance, rel=1e-8)
    assert unreachable_energy((1 + x[:, None] * x[None, :]) ** d, g, weights) == pytest.approx(distance, rel=1e-8)


def test_unreachable_energy_against_the_normal_equations():
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(30, 6, generator=generator, dtype=torch.float64)
    g = torch.randn(30, 2, generator=generator, dtype=torch.float64)
    projection = features @ torch.linalg.solve(features.T @ features, features.T @ g)
    expected = float(((g - projection) ** 2).sum() / 30)
    assert unreachable_energy(features, g) == pytest.approx(expected, rel=1e-10)
    assert unreachable_energy(features, features[:, 0] * 3 - features[:, 4]) == pytest.approx(0.0, abs=1e-24)


def linearized_run(train_every: int, steps: int, lr: float):
    """A linearized GELU MLP on a 1D sample, trained by GD (pk.train) on every `train_every`-th point."""
    sample = torch.linspace(-1, 1, 48, dtype=torch.float64)[:, None]
    target = torch.sign(torch.sin(3 * math.pi * sample[:, 0]))
    model = pk.MLP(in_dim=1, width=16, depth=3, out_dim=1, activation="gelu", seed=0, dtype=torch.float64)
    kernel = pk.tangent_kernel(model, sample)
    linear = Linearized(model)
    with torch.no_grad():
        initial = linear(sample)[:, 0]
    train = torch.arange(0, 48, train_every)
    path = pk.train(linear, sample[train], target[train, None], lr=lr, steps=steps)
    errors = []
    for params in path.params:
        torch.nn.utils.vector_to_parameters(params, linear.parameters())
        with torch.no_grad():
            errors.append(float(((linear(sample)[:, 0] - target) ** 2).mean()))
    return kernel, train, target - initial, torch.tensor(errors, dtype=torch.float64)


def test_theorem_the_error_never_goes_below_the_unreachable_energy():
    kernel, train, todo, errors = linearized_run(train_every=4, steps=60, lr=0.5)
    bound = unreachable_energy(kernel[:, train], todo)
    assert (errors >= bound - 1e-12).all()
    assert errors[-1] < errors[0]  # it learns, within the bound


def polynomial_run(train: torch.Tensor, steps: int, lr: float):
    """A linear model on the features sqrt(C(d, k)) x^k, k = 0..d, trained by GD (pk.train) on
    sample[train]: its tangent kernel is (1 + x x')^d, of rank d + 1, with an exact null space."""
    d = 3
    sample = torch.linspace(-1, 1, 41, dtype=torch.float64)
    features = torch.stack([math.sqrt(math.comb(d, k)) * sample**k for k in range(d + 1)], dim=1)
    target = torch.sin(3 * sample)
    model = pk.LinearModel(d + 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        initial = model(features)[:, 0]
    path = pk.train(model, features[train], target[train, None], lr=lr, steps=steps)
    errors = []
    for params in path.params:
        torch.nn.utils.vector_to_parameters(params, model.parameters())
        with torch.no_grad():
            errors.append(float(((model(features)[:, 0] - target) ** 2).mean()))
    kernel = (1 + sample[:, None] * sample[None, :]) ** d
    return kernel, target - initial, torch.tensor(errors, dtype=torch.float64)


def test_theorem_unreachable_energy_is_at_least_the_null_space_energy_and_the_limit_reaches_it():
    subset = torch.arange(0, 41, 5)
    kernel, todo, errors = polynomial_run(subset, steps=50, lr=0.5)
    spectrum = integral_operator(kernel)
    bound, null = unreachable_energy(kernel[:, subset], todo), spectrum.null_energy(todo)
    assert spectrum.rank == 4 and null > 1e-4
    assert (errors >= bound - 1e-12).all() and bound >= null - 1e-12
    kernel, todo, errors = polynomial_run(torch.arange(41), steps=800, lr=1.0)
    assert errors[-1] == pytest.approx(null, rel=1e-6)  # the slowest mode, lr * lambda_4 = 0.023, has died out: 0.977^1600 ~ 1e-16


def test_theorem_training_on_the_whole_sample_is_the_spectral_formula():
    """X = S: the residual is (I - lr T)^k (f_0 - y) in T's eigenbasis, so the error is
    sum_j (1 - lr lambda_j)^(2k) <y - f_0, phi_j>^2, decreasing to the null-space energy."""
    steps, lr = 40, 0.5
    kernel, _, todo, errors = linearized_run(train_every=1, steps=steps, lr=lr)
    spectrum = integral_operator(kernel)
    c2 = spectrum.coefficients(todo) ** 2
    k = torch.arange(steps + 1, dtype=torch.float64)[:, None]
    formula = ((1 - lr * spectrum.eigenvalues[None, :]) ** (2 * k) * c2[None, :]).sum(dim=1)
    torch.testing.assert_close(errors, formula, rtol=1e-9, atol=1e-12)
    assert errors[-1] >= spectrum.null_energy(todo) - 1e-12


def test_bad_input_is_refused():
    theta = circle(8)
    kernel = periodic_kernel(theta, [1.0, 0.5])
    with pytest.raises(ValueError, match="not symmetric"):
        integral_operator(kernel + torch.triu(torch.ones(8, 8, dtype=torch.float64), 1))
    with pytest.raises(ValueError, match=r"expected \(m, m\)"):
        integral_operator(kernel[:, :5])
    with pytest.raises(ValueError, match="sum to"):
        integral_operator(kernel, torch.full((8,), 0.2, dtype=torch.float64))
    with pytest.raises(ValueError, match="positive"):
        integral_operator(kernel, torch.tensor([1.0, -0.5, 0.5, 0, 0, 0, 0, 0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"expected \(8,\)"):
        integral_operator(kernel).energy_outside(torch.ones(7, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        unreachable_energy(kernel, torch.full((8,), float("nan"), dtype=torch.float64))
