import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.integrate import solve_ivp
from sklearn.kernel_ridge import KernelRidge
from torch.func import functional_call

import pathkernel as pk
from pathkernel.linearized import (Linearized, Scaled, flow_prediction, flow_residuals, gd_residuals,
                                   hessian_norms, inverse_relative_scale)
from reference import naive_jacobian, naive_kernel, randn


def tiny(parameterization="ntk", activation="gelu", width=5, seed=0):
    return pk.MLP(2, width, 3, activation=activation, parameterization=parameterization, bias_var=0.3, seed=seed,
                  dtype=torch.float64)


@pytest.mark.parametrize("parameterization", ["standard", "ntk"])
def test_linearized_is_the_first_order_taylor_expansion(parameterization):
    model = tiny(parameterization)
    x = randn(6, 2, seed=1)
    J = naive_jacobian(model, x)[:, 0, :]  # plain autograd at w0
    f0 = model(x).detach()
    linear = Linearized(model)
    torch.testing.assert_close(linear(x), f0, rtol=0, atol=1e-14)  # at w0 it is the network
    d = 0.3 * randn(J.shape[1], seed=2)
    with torch.no_grad():
        linear.weight.add_(d)
    torch.testing.assert_close(linear(x)[:, 0], f0[:, 0] + J @ d)
    linear(x).sum().backward()  # gradient in w: the Jacobian at w0, wherever w is
    torch.testing.assert_close(linear.weight.grad, J.sum(0))
    assert [n for n, _ in linear.named_parameters()] == ["weight"]


def test_cached_jacobian_route_equals_the_jvp_route():
    model = tiny(width=7)
    x, other = randn(5, 2, seed=3), randn(4, 2, seed=4)
    plain, cached = Linearized(model), Linearized(model).cache(x)
    d = randn(plain.weight.numel(), seed=5)
    with torch.no_grad():
        plain.weight.add_(d)
        cached.weight.add_(d)
    for inputs in (x, other):  # the cache serves x; other inputs fall back to jvp
        torch.testing.assert_close(cached(inputs), plain(inputs))
    (cached(x) ** 2).sum().backward()
    (plain(x) ** 2).sum().backward()
    torch.testing.assert_close(cached.weight.grad, plain.weight.grad)


def test_training_the_linearized_model_follows_the_fixed_kernel_recursion():
    model = tiny(width=6)
    x, y = randn(5, 2, seed=6), randn(5, seed=7)
    linear = Linearized(model)
    path = pk.train(linear, x, y, lr=0.3, steps=25)
    K = naive_kernel(model, x, x)[:, :, 0, 0].numpy()
    u0 = (model(x)[:, 0] - y).detach().numpy()
    step = np.eye(5) - 0.3 * K / 5
    expected = np.stack([np.linalg.matrix_power(step, k) @ u0 for k in range(26)])
    J = naive_jacobian(model, x)[:, 0, :]
    residuals = model(x).detach()[:, 0] - y + (path.params - path.params[0]) @ J.T
    np.testing.assert_allclose(residuals.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gd_residuals(K, u0, lr=0.3, steps=25), expected, rtol=1e-12, atol=1e-14)


def test_flow_residuals_solve_the_kernel_ode():
    K = naive_kernel(tiny(width=4), randn(4, 2, seed=8), randn(4, 2, seed=8))[:, :, 0, 0].numpy()
    u0 = np.array([0.5, -1.0, 0.2, 0.7])
    times = np.array([0.0, 0.5, 2.0, 7.0])
    reference = solve_ivp(lambda t, u: -K @ u / 4, (0, 7), u0, t_eval=times, rtol=1e-11, atol=1e-13).y.T
    np.testing.assert_allclose(flow_residuals(K, u0, times), reference, atol=1e-9)


def test_gradient_descent_on_the_linearized_model_approaches_the_flow_at_rate_lr():
    model = tiny(width=4)
    x, y = randn(4, 2, seed=9), randn(4, seed=10)
    K = naive_kernel(model, x, x)[:, :, 0, 0].numpy()
    u0 = (model(x)[:, 0] - y).detach().numpy()
    flow = flow_residuals(K, u0, [2.0])[0]
    gaps = []
    for lr in (0.1, 0.05):
        linear = Linearized(model)
        pk.train(linear, x, y, lr=lr, steps=round(2.0 / lr))
        gaps.append(np.abs((linear(x)[:, 0] - y).detach().numpy() - flow).max())
    assert 1.8 < gaps[0] / gaps[1] < 2.2  # O(lr): halving the step halves the gap


def test_flow_prediction_against_expm_and_kernel_ridge():
    x = randn(5, 2, seed=11)
    xq = randn(3, 2, seed=12)
    K = pk.infinite_ntk(x, depth=3, bias_var=0.2).numpy()
    cross = pk.infinite_ntk(xq, x, depth=3, bias_var=0.2).numpy()
    u0 = np.array([0.3, -0.2, 0.9, -0.5, 0.1])
    on_train = flow_prediction(K, K, u0, 3.0)  # at the training points: u(t) - u0
    np.testing.assert_allclose(on_train, scipy.linalg.expm(-3.0 * K / 5) @ u0 - u0, atol=1e-10)
    ridge = KernelRidge(alpha=1e-12, kernel="precomputed").fit(K, -u0)
    np.testing.assert_allclose(flow_prediction(cross, K, u0), ridge.predict(cross), atol=1e-7)
    with pytest.raises(ValueError, match="positive definite"):
        flow_prediction(cross[:, :2], np.ones((2, 2)), u0[:2])
    with pytest.raises(ValueError, match="kernel_cross"):
        flow_prediction(cross[:, :4], K, u0)


def test_scaled_model_is_centred_and_scales_the_kernel():
    model = tiny(width=5)
    x = randn(4, 2, seed=13)
    K = naive_kernel(model, x, x)[:, :, 0, 0]
    scaled = Scaled(model, 3.0)
    torch.testing.assert_close(scaled(x), torch.zeros(4, 1, dtype=torch.float64), rtol=0, atol=1e-15)
    torch.testing.assert_close(pk.tangent_kernel(scaled, x), 9.0 * K)
    assert torch.equal(pk.flat_parameters(scaled), pk.flat_parameters(model))
    d = 0.1 * randn(pk.flat_parameters(model).numel(), seed=14)
    before = model(x).detach()
    torch.nn.utils.vector_to_parameters(pk.flat_parameters(model) + d, model.parameters())
    torch.testing.assert_close(scaled(x), 3.0 * (model(x).detach() - before))
    for alpha in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="alpha"):
            Scaled(model, alpha)


def _full_hessians(model, x):
    """(n, P, P) by torch.autograd.functional.hessian, one point at a time."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    theta = pk.flat_parameters(model)

    def f(t, xi):
        params = {n: c.view(s) for n, c, s in zip(names, t.split(sizes), shapes)}
        return functional_call(model, params, (xi[None],)).sum()

    return torch.stack([torch.autograd.functional.hessian(lambda t: f(t, xi), theta) for xi in x])


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_hessian_norms_against_full_hessians(activation):
    model = tiny(activation=activation, width=4, seed=1)
    x = randn(3, 2, seed=15)
    exact = torch.linalg.eigvalsh(_full_hessians(model, x)).abs().max(1).values
    torch.testing.assert_close(hessian_norms(model, x, iterations=300), exact, rtol=1e-6, atol=1e-12)


def test_inverse_relative_scale_against_its_definition_and_the_alpha_law():
    model = tiny(width=4, seed=2)
    x, y = randn(3, 2, seed=16), randn(3, seed=17)
    hessian = torch.linalg.eigvalsh(_full_hessians(model, x)).abs().max(1).values.norm()
    J = naive_jacobian(model, x)[:, 0, :]
    residual = (model(x)[:, 0] - y).detach().norm()
    expected = residual * hessian / torch.linalg.matrix_norm(J, ord=2) ** 2
    assert inverse_relative_scale(model, x, y, iterations=300) == pytest.approx(float(expected), rel=1e-6)
    kappas = [alpha * inverse_relative_scale(Scaled(model, alpha), x, y) for alpha in (0.5, 1.0, 20.0)]
    np.testing.assert_allclose(kappas, kappas[1], rtol=1e-9)


def test_bad_arguments():
    model = tiny()
    with pytest.raises(ValueError, match="kernel must be"):
        gd_residuals(np.eye(3), np.ones(2), lr=0.1, steps=3)
    with pytest.raises(ValueError, match="lr=0"):
        gd_residuals(np.eye(2), np.ones(2), lr=0, steps=3)
    with pytest.raises(ValueError, match="steps=0"):
        gd_residuals(np.eye(2), np.ones(2), lr=0.1, steps=0)
    with pytest.raises(ValueError, match="scalar-output"):
        inverse_relative_scale(model, randn(3, 2, seed=0), randn(2, seed=0))
    with pytest.raises(TypeError, match="dtype"):
        Linearized(model).cache(torch.zeros(2, 2))
