import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel.decomposition import gauss_legendre
from reference import load_flat, naive_jacobian, randn, relative_error


def regression_data(n=16, seed=0):
    x = randn(n, 2, seed=seed)
    return x, torch.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2


def naive_terms(path, xq, segment_nodes=None):
    """Independent per-step reference for MSE paths: (rhs, per_sample (m, n, c), path_kernel (m, n, c, c)).

    l'_i = (f(x_i) - y_i) / n written out; Jacobians by plain autograd loops; with
    segment_nodes the query Jacobian is averaged over the segment by the given quadrature.
    """
    model, x, n = path.model, path.x, path.x.shape[0]
    y = path.y.reshape(n, -1)
    rhs = load_flat(model, path.params[0])(xq).detach().reshape(xq.shape[0], -1).clone()
    per_sample = torch.zeros(xq.shape[0], n, y.shape[1], dtype=xq.dtype)
    kernel = torch.zeros(xq.shape[0], n, y.shape[1], y.shape[1], dtype=xq.dtype)
    for k in range(path.steps):
        theta, delta = path.params[k], path.params[k + 1] - path.params[k]
        clone = load_flat(model, theta)
        lprime = (clone(x).detach().reshape(n, -1) - y) / n
        J_train = naive_jacobian(clone, x)
        if segment_nodes is None:
            J_query = naive_jacobian(clone, xq)
        else:
            J_query = sum(w * naive_jacobian(load_flat(model, theta + s * delta), xq) for s, w in zip(*segment_nodes))
        K = torch.einsum("mcp,ndp->mncd", J_query, J_train)
        kernel += path.lrs[k] * K
        per_sample -= path.lrs[k] * torch.einsum("mncd,nd->mnc", K, lprime)
    return rhs + per_sample.sum(1), per_sample, kernel


@pytest.mark.parametrize("method", ["structured", "generic"])
@pytest.mark.parametrize("out_dim", [1, 3])
def test_theorem_2_and_3_against_a_per_step_reference(out_dim, method):
    x, y = regression_data()
    target = y if out_dim == 1 else torch.stack([y, -y, y**2], 1)
    model = pk.MLP(2, 12, 3, out_dim=out_dim, dtype=torch.float64)
    path = pk.train(model, x, target, lr=0.1, steps=8)
    xq = randn(5, 2, seed=9)
    dec = pk.domingos(path, xq, per_sample=True, method=method)
    rhs, per_sample, kernel = naive_terms(path, xq)
    if out_dim == 1:
        rhs, per_sample, kernel = rhs[:, 0], per_sample[..., 0], kernel[..., 0, 0]
    assert relative_error(dec.rhs, rhs) < 1e-10
    assert relative_error(dec.per_sample, per_sample) < 1e-10
    assert relative_error(dec.path_kernel, kernel) < 1e-10
    torch.testing.assert_close(dec.prediction, model(xq).detach().squeeze(-1) if out_dim == 1 else model(xq).detach())
    torch.testing.assert_close(dec.residual, dec.prediction - dec.rhs, rtol=0, atol=0)


@pytest.mark.parametrize("out_dim", [1, 3])
def test_per_sample_sums_and_weight_identity(out_dim):
    x, y = regression_data()
    target = y if out_dim == 1 else torch.stack([y, -y, 2 * y], 1)
    path = pk.train(pk.MLP(2, 12, 3, out_dim=out_dim, dtype=torch.float64), x, target, lr=0.1, steps=10)
    for exact in (False, True):
        dec = pk.domingos(path, randn(6, 2, seed=3), per_sample=True, exact=exact)
        torch.testing.assert_close(dec.per_sample.sum(1), dec.rhs - dec.initial, rtol=0, atol=1e-13)
        product = dec.weights * dec.path_kernel
        if out_dim > 1:
            product = product.sum(-1)
        torch.testing.assert_close(dec.per_sample, -product, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", ["structured", "generic"])
def test_exact_per_sample_against_the_segment_averaged_reference(method):
    x, y = regression_data(n=8)
    path = pk.train(pk.MLP(2, 8, 3, dtype=torch.float64), x, y, lr=0.3, steps=4)
    xq = randn(3, 2, seed=4)
    dec = pk.domingos(path, xq, exact=True, per_sample=True, nodes=4, method=method)
    _, per_sample, kernel = naive_terms(path, xq, segment_nodes=gauss_legendre(4, torch.float64, 0))
    assert relative_error(dec.per_sample, per_sample[..., 0]) < 1e-10
    assert relative_error(dec.path_kernel, kernel[..., 0, 0]) < 1e-10


def test_residual_is_first_order_in_lr_at_fixed_time():
    """Theorem 2: R = O(sum_k lr_k^2) = O(lr * t) at fixed t = lr * steps."""
    x, y = regression_data(n=20)
    xq = randn(10, 2, seed=7)
    lrs = np.array([0.2, 0.1, 0.05, 0.025])
    residuals = []
    for lr in lrs:
        path = pk.train(pk.MLP(2, 20, 3, dtype=torch.float64), x, y, lr=float(lr), steps=int(round(2.0 / lr)))
        residuals.append(pk.domingos(path, xq).residual.abs().max().item())
    slope = np.polyfit(np.log(lrs), np.log(residuals), 1)[0]
    assert 0.85 < slope < 1.15, (slope, residuals)
    assert residuals[-1] > 1e-9


@pytest.mark.parametrize("out_dim", [1, 3])
def test_exact_mode_closes_the_remainder(out_dim):
    x, y = regression_data(n=20)
    target = y if out_dim == 1 else torch.stack([y, -y, y**2], 1)
    path = pk.train(pk.MLP(2, 20, 3, out_dim=out_dim, dtype=torch.float64), x, target, lr=0.1, steps=40)
    xq = randn(10, 2, seed=7)
    plain, exact = pk.domingos(path, xq), pk.domingos(path, xq, exact=True)
    assert plain.residual.abs().max() > 1e-5
    assert exact.residual.abs().max() < 1e-10


def test_exact_mode_holds_for_any_optimizer():
    x, y = regression_data(n=20)
    for optimizer, kwargs in [("momentum", {}), ("adam", {}), ("sgd", {"batch_size": 5})]:
        path = pk.train(pk.MLP(2, 16, 3, dtype=torch.float64), x, y, lr=0.02, steps=30, optimizer=optimizer, **kwargs)
        assert pk.domingos(path, x, exact=True).residual.abs().max() < 1e-12


def test_exact_mode_refines_long_steps():
    """At lr = 0.4 the GELU MLP's steps reach norm ~7 (edge of stability): 3 nodes alone give ~0.2."""
    x, y = pk.data.ball_sphere(64)
    path = pk.train(pk.MLP(2, 64, 3, dtype=torch.float64), x, y, lr=0.4, steps=100)
    xq = randn(50, 2, seed=1)
    single = pk.domingos(path, xq, exact=True, nodes=3)
    assert single.quadrature_levels.max() > 0
    assert single.residual.abs().max() < 1e-10
    dec = pk.domingos(path, xq[:5], exact=True, per_sample=True)
    torch.testing.assert_close(dec.per_sample.sum(1), dec.rhs - dec.initial, rtol=0, atol=1e-12)
    assert dec.residual.abs().max() < 1e-10


def test_composite_rule_integrates_polynomials():
    for level in range(4):
        s, w = gauss_legendre(3, torch.float64, level)
        assert s.shape == (3 * 2**level,)
        for degree in range(6):
            torch.testing.assert_close((w * s**degree).sum(), torch.tensor(1 / (degree + 1), dtype=torch.float64))


def test_linear_model_is_exact_without_quadrature():
    x, y = regression_data(n=20)
    path = pk.train(pk.LinearModel(2, dtype=torch.float64), x, y, lr=0.3, steps=50)
    dec = pk.domingos(path, randn(10, 2, seed=8), per_sample=True)
    assert dec.residual.abs().max() < 1e-12
    xq = randn(10, 2, seed=8)
    linear_kernel = xq @ x.T + 1
    torch.testing.assert_close(dec.path_kernel, path.lrs.sum() * linear_kernel, rtol=1e-12, atol=1e-12)


def test_sgd_contributions_come_only_from_the_batch():
    x, y = regression_data(n=12)
    path = pk.train(pk.MLP(2, 8, 2, dtype=torch.float64), x, y, lr=0.1, steps=1, optimizer="sgd", batch_size=4)
    dec = pk.domingos(path, randn(3, 2, seed=1), per_sample=True, exact=True)
    outside = torch.ones(12, dtype=torch.bool)
    outside[path.batches[0]] = False
    assert torch.all(dec.per_sample[:, outside] == 0) and torch.all(dec.weights[:, outside] == 0)
    assert torch.all(dec.per_sample[:, ~outside] != 0)
    assert dec.residual.abs().max() < 1e-12


def test_cross_entropy_per_sample_against_softmax_formula():
    x, _ = regression_data(n=12)
    labels = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    path = pk.train(pk.MLP(2, 8, 2, out_dim=3, dtype=torch.float64), x, labels, lr=0.5, steps=3, loss="cross_entropy")
    xq = randn(4, 2, seed=2)
    dec = pk.domingos(path, xq, per_sample=True)
    expected = torch.zeros(4, 12, 3, dtype=torch.float64)
    for k in range(3):
        clone = load_flat(path.model, path.params[k])
        lprime = (torch.softmax(clone(x), 1) - torch.nn.functional.one_hot(labels, 3)).detach() / 12
        K = torch.einsum("mcp,ndp->mncd", naive_jacobian(clone, xq), naive_jacobian(clone, x))
        expected -= path.lrs[k] * torch.einsum("mncd,nd->mnc", K, lprime)
    assert relative_error(dec.per_sample, expected) < 1e-10


def test_float32_path_keeps_dtype():
    x, y = regression_data()
    path = pk.train(pk.MLP(2, 8, 2), x.float(), y.float(), lr=0.1, steps=5)
    dec = pk.domingos(path, x.float(), per_sample=True)
    assert dec.rhs.dtype == dec.per_sample.dtype == torch.float32


def test_relu_warns_that_the_theorem_needs_c1():
    x, y = regression_data()
    path = pk.train(pk.MLP(2, 8, 2, activation="relu", dtype=torch.float64), x, y, lr=0.1, steps=3)
    with pytest.warns(pk.NonSmoothActivationWarning, match="C\\^1"):
        pk.domingos(path, x)


def test_bad_inputs():
    x, y = regression_data()
    path = pk.train(pk.MLP(2, 8, 2, dtype=torch.float64), x, y, lr=0.1, steps=3)
    with pytest.raises(ValueError, match="shape"):
        pk.domingos(path, randn(4, 3, seed=0))
    with pytest.raises(TypeError, match="dtype"):
        pk.domingos(path, x.float())
    with pytest.raises(ValueError, match="nodes"):
        pk.domingos(path, x, exact=True, nodes=0)
    with pytest.raises(TypeError, match="TrainingPath"):
        pk.domingos(path.params, x)
    adam = pk.train(pk.MLP(2, 8, 2, dtype=torch.float64), x, y, lr=0.01, steps=3, optimizer="adam")
    with pytest.raises(ValueError, match="adam"):
        pk.domingos(adam, x, per_sample=True, stride=2)


def test_snapshot_stride_is_exact_for_a_constant_kernel():
    """A linear model's kernel never changes: holding it over blocks of steps loses nothing."""
    x, y = regression_data(n=12)
    path = pk.train(pk.LinearModel(2, dtype=torch.float64), x, y, lr=0.2, steps=30)
    xq = randn(5, 2, seed=3)
    full = pk.domingos(path, xq, per_sample=True)
    for stride in (7, 30, 100):
        snap = pk.domingos(path, xq, per_sample=True, stride=stride)
        torch.testing.assert_close(snap.per_sample, full.per_sample, rtol=1e-12, atol=1e-14)


def test_snapshot_stride_error_shrinks_with_the_stride():
    x, y = regression_data(n=16)
    path = pk.train(pk.MLP(2, 12, 3, dtype=torch.float64), x, y, lr=0.1, steps=60)
    xq = randn(6, 2, seed=3)
    full = pk.domingos(path, xq, per_sample=True)
    errors = [(pk.domingos(path, xq, per_sample=True, stride=s).per_sample - full.per_sample).abs().max().item()
              for s in (30, 10, 3)]
    assert errors[0] > errors[1] > errors[2] > 0
    with pytest.raises(ValueError, match="stride"):
        pk.domingos(path, xq, per_sample=True, exact=True, stride=2)
    with pytest.raises(ValueError, match="stride=0"):
        pk.domingos(path, xq, per_sample=True, stride=0)


def optimizer_reference(path, xq, betas=(0.9, 0.999), eps=1e-8, momentum=0.9):
    """(m, n) per-sample terms of a momentum or Adam MSE path from plain autograd.

    Per-example gradients of the batch-mean loss, 1/b * grad 1/2 (f(x_i) - y_i)^2, the
    optimizer's buffers rebuilt per example by the textbook update, and the query
    gradients by a naive Jacobian: no Jacobian-times-l' shortcut, no package code.
    """
    model, x, y = path.model, path.x, path.y
    n = x.shape[0]
    buffers = torch.zeros(n, path.params.shape[1], dtype=x.dtype)
    v = torch.zeros(path.params.shape[1], dtype=x.dtype)
    per_sample = torch.zeros(xq.shape[0], n, dtype=x.dtype)
    for k in range(path.steps):
        clone = load_flat(model, path.params[k])
        rows = torch.arange(n) if path.batches is None else path.batches[k]
        gradients = torch.zeros(n, path.params.shape[1], dtype=x.dtype)
        for i in rows.tolist():
            loss = 0.5 * (clone(x[i : i + 1])[0, 0] - y[i]) ** 2 / len(rows)
            gradients[i] = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(clone.parameters()))])
        if path.optimizer == "momentum":
            buffers = momentum * buffers + gradients
            step = path.lrs[k] * buffers
        else:
            buffers = betas[0] * buffers + (1 - betas[0]) * gradients
            v = betas[1] * v + (1 - betas[1]) * gradients.sum(0) ** 2
            denominator = (v / (1 - betas[1] ** (k + 1))).sqrt() + eps
            step = path.lrs[k] / (1 - betas[0] ** (k + 1)) * buffers / denominator
        per_sample -= naive_jacobian(clone, xq)[:, 0] @ step.T
    return per_sample


@pytest.mark.parametrize("optimizer, kwargs", [("momentum", {}), ("adam", {}), ("momentum", {"batch_size": 4}),
                                               ("adam", {"batch_size": 4})])
def test_momentum_and_adam_per_sample_against_autograd(optimizer, kwargs):
    x, y = regression_data(n=8)
    path = pk.train(pk.MLP(2, 6, 3, dtype=torch.float64), x, y, lr=0.02, steps=6, optimizer=optimizer, **kwargs)
    xq = randn(3, 2, seed=5)
    dec = pk.domingos(path, xq, per_sample=True)
    assert relative_error(dec.per_sample, optimizer_reference(path, xq)) < 1e-10
    torch.testing.assert_close(dec.per_sample.sum(1), dec.rhs - dec.initial, rtol=0, atol=1e-13)
    torch.testing.assert_close(dec.per_sample, -dec.weights * dec.path_kernel, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_momentum_and_adam_exact_per_sample(optimizer):
    x, y = regression_data(n=12)
    target = torch.stack([y, -y], 1)
    path = pk.train(pk.MLP(2, 10, 3, out_dim=2, dtype=torch.float64), x, target, lr=0.05, steps=20, optimizer=optimizer)
    dec = pk.domingos(path, randn(5, 2, seed=6), per_sample=True, exact=True)
    assert dec.residual.abs().max() < 1e-12
    torch.testing.assert_close(dec.per_sample.sum(1), dec.prediction - dec.initial, rtol=0, atol=1e-12)


def test_zero_momentum_recovers_gradient_descent():
    x, y = regression_data(n=10)
    xq = randn(4, 2, seed=7)
    gd = pk.domingos(pk.train(pk.MLP(2, 8, 3, dtype=torch.float64), x, y, lr=0.1, steps=10), xq, per_sample=True)
    heavy = pk.train(pk.MLP(2, 8, 3, dtype=torch.float64), x, y, lr=0.1, steps=10, optimizer="momentum", momentum=0.0)
    dec = pk.domingos(heavy, xq, per_sample=True)
    torch.testing.assert_close(dec.per_sample, gd.per_sample, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(dec.path_kernel, gd.path_kernel, rtol=1e-12, atol=1e-14)
