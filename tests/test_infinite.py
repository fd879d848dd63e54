import math

import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel.infinite import _erf_expectations, _relu_expectations, infinite_ntk
from pathkernel.data.waves import waves
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
    ({"depth": 2, "weight_var": float("nan")}, "weight_var=nan"),   # `nan <= 0` is False: used to pass
    ({"depth": 2, "weight_var": float("inf")}, "weight_var=inf"),
    ({"depth": 2, "bias_var": float("nan")}, "bias_var=nan"),
    ({"depth": 2, "bias_var": -0.1}, "bias_var=-0.1"),
    ({"depth": 2, "bias_var": True}, "bias_var=True"),
    ({"depth": True}, "depth=True"),
    ({"depth": 2.0}, "depth=2.0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        infinite_ntk(randn(3, 2, seed=0), **kwargs)
    with pytest.raises(ValueError, match="x1"):
        infinite_ntk(torch.zeros(3), depth=2)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("side", ["x1", "x2"])
def test_non_finite_inputs_are_named(bad, side):
    x = randn(4, 2, seed=0)
    x[1, 0] = bad
    clean = randn(3, 2, seed=1)
    args = (x, clean) if side == "x1" else (clean, x)
    with pytest.raises(ValueError, match=f"{side} holds a non-finite value \\({bad}\\)"):
        infinite_ntk(*args, depth=2)


def test_overflow_is_an_error_not_a_nan():
    with pytest.raises(ValueError, match="x1 is too large"):
        infinite_ntk(torch.full((2, 2), 1e200, dtype=torch.float64), depth=2)
    with pytest.raises(ValueError, match="overflows torch.float32.*depth=200"):
        infinite_ntk(randn(3, 2, seed=0).float(), depth=200, weight_var=4.0)
    with pytest.raises(ValueError, match=r"d >= 1"):
        infinite_ntk(torch.zeros(3, 0), depth=2)


def test_degenerate_gaussian_expectations():
    # a zero variance: that unit is identically 0, relu(0) = 0 and relu'(0) = 0 (torch's convention)
    zero, one = torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    for s11, s22 in ((zero, one), (one, zero), (zero, zero)):
        value, slope = _relu_expectations(s11, zero, s22)
        assert value.item() == 0.0 and slope.item() == 0.0
        value, slope = _erf_expectations(s11, zero, s22)
        assert value.item() == 0.0 and math.isfinite(slope.item())
    # tiny but non-zero variances are not degenerate: s11 * s22 underflows, the product of roots does not
    tiny = torch.tensor(1e-170, dtype=torch.float64)
    value, slope = _relu_expectations(tiny, tiny, tiny)
    assert slope.item() == pytest.approx(0.5) and value.item() == pytest.approx(0.5e-170)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_origin_matches_the_finite_width_kernel(activation):
    # an odd waves grid holds x = 0 exactly; with bias_var = 0 every pre-activation of the origin
    # vanishes, so the finite-width tangent kernel's origin row and column are exactly 0 at any width
    x, _ = waves("sine", 9)
    origin = 4
    assert x[origin, 0].item() == 0.0
    limit = infinite_ntk(x, depth=3, activation=activation, weight_var=2.0)
    assert torch.isfinite(limit).all()
    assert torch.all(limit[origin] == 0) and torch.all(limit[:, origin] == 0)
    kernels = torch.stack([
        pk.tangent_kernel(pk.MLP(1, 2048, 3, activation=activation, parameterization="ntk", weight_var=2.0,
                                 bias_var=0.0, seed=seed, dtype=torch.float64), x)
        for seed in range(3)
    ])
    assert torch.all(kernels[:, origin] == 0) and torch.all(kernels[:, :, origin] == 0)
    error = (kernels.mean(0) - limit).abs().max() / limit.abs().max()
    assert error < 0.1
    # the exact origin of a 2D input, against other points and itself, also x1 != x2
    points = torch.cat([torch.zeros(1, 2, dtype=torch.float64), randn(4, 2, seed=5)])
    cross = infinite_ntk(points[:1], points, depth=4, activation=activation)
    assert torch.equal(cross, torch.zeros(1, 5, dtype=torch.float64))
    with_bias = infinite_ntk(points, depth=4, activation=activation, bias_var=0.3)
    assert torch.isfinite(with_bias).all() and with_bias[0, 0] > 0


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
