import math

import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel.infinite import _erf_expectations, _relu_expectations, infinite_ntk
from reference import randn


@pytest.mark.parametrize("activation, expectations, derivative", [
    ("relu", _relu_expectations, lambda u: (u > 0).double()),
    ("erf", _erf_expectations, lambda u: 2 / math.sqrt(math.pi) * torch.exp(-u * u)),
])
def test_gaussian_expectations_against_monte_carlo(activation, expectations, derivative):
    sigma = torch.tensor([[1.3, -0.4], [-0.4, 0.7]], dtype=torch.float64)
    samples = randn(2_000_000, 2, seed=0) @ torch.linalg.cholesky(sigma).T
    u, v = samples[:, 0], samples[:, 1]
    act = torch.relu if activation == "relu" else torch.erf
    value, slope = expectations(sigma[0, 0], sigma[0, 1], sigma[1, 1])
    for exact, draws in ((value, act(u) * act(v)), (slope, derivative(u) * derivative(v))):
        standard_error = draws.std() / math.sqrt(draws.numel())
        assert abs(draws.mean() - exact) < 5 * standard_error


def test_depth_one_is_the_linear_kernel():
    x1, x2 = randn(4, 3, seed=1), randn(5, 3, seed=2)
    expected = 2.0 * x1 @ x2.T / 3 + 0.5
    torch.testing.assert_close(infinite_ntk(x1, x2, depth=1, weight_var=2.0, bias_var=0.5), expected)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_wide_networks_converge_to_the_analytic_kernel(activation):
    x = randn(6, 3, seed=0)
    limit = infinite_ntk(x, depth=3, activation=activation, weight_var=2.0, bias_var=0.1)
    errors = {}
    for width in (64, 4096):
        errors[width] = np.mean([
            float((pk.tangent_kernel(pk.MLP(3, width, 3, activation=activation, parameterization="ntk",
                                            weight_var=2.0, bias_var=0.1, seed=seed, dtype=torch.float64), x)
                   - limit).abs().max() / limit.abs().max())
            for seed in range(4)
        ])
    assert errors[4096] < 0.1
    assert errors[4096] < 0.4 * errors[64]


def test_symmetric_and_positive_semidefinite():
    x = randn(8, 2, seed=3)
    K = infinite_ntk(x, depth=4, activation="relu", bias_var=0.2)
    torch.testing.assert_close(K, K.T)
    assert torch.linalg.eigvalsh(K).min() > -1e-10


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 0}, "depth=0"), ({"depth": 2, "activation": "gelu"}, "gelu"),
    ({"depth": 2, "weight_var": 0.0}, "weight_var"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        infinite_ntk(randn(3, 2, seed=0), **kwargs)
    with pytest.raises(ValueError, match="x1"):
        infinite_ntk(torch.zeros(3), depth=2)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_depth_two_kernel_is_the_mean_of_empirical_kernels(activation):
    # with one hidden layer the empirical NTK is an average over i.i.d. units whose expectation is
    # Theta^(2) at any width: a Monte Carlo estimate over 40 networks x 1000 units, within 5 standard errors
    x = randn(5, 2, seed=4)
    limit = infinite_ntk(x, depth=2, activation=activation, weight_var=1.5, bias_var=0.3)
    samples = torch.stack([
        pk.tangent_kernel(pk.MLP(2, 1000, 2, activation=activation, parameterization="ntk", weight_var=1.5,
                                 bias_var=0.3, seed=seed, dtype=torch.float64), x)
        for seed in range(40)
    ])
    standard_error = samples.std(0) / math.sqrt(samples.shape[0])
    assert torch.all((samples.mean(0) - limit).abs() < 5 * standard_error + 1e-12)
