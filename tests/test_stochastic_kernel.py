"""pathkernel.sgd_diffusion: Sigma_B against a naive autograd loop and against every batch, the
Euler-Maruyama, underdamped and SGD steps against hand computations, the closed-form moments against brute-force
enumeration and ensembles, the weak order, the Ito rates against explicit Hessians."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel.experiments.stochastic_kernel import ito_term, weak_order
from pathkernel.experiments.stochastic_kernel._common import slope_fit
from pathkernel.functional import flat_function, flat_parameters
from pathkernel.sgd_diffusion import (batch_covariance, em_step, euler_maruyama, flow_moments, kernel_and_ito_rates,
                                      mixed_curvature, noise_factor, per_example_gradients, sde_moments, sgd_ensemble,
                                      sgd_moments, sgd_step, underdamped_step)
from pathkernel.sgd_diffusion.linear_moments import expected_loss

F64 = torch.float64


def linear(w, x):
    return x @ w


def mlp_task(n=6, width=5):
    model = pk.MLP(1, width, 2, activation="gelu", seed=3, dtype=F64)
    f = flat_function(model)
    x = torch.linspace(-1, 1, n, dtype=F64)[:, None]
    return model, (lambda w, inputs: f(w, inputs)[:, 0]), flat_parameters(model), x, torch.sin(3 * x[:, 0])


def regression(n=5, p=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, generator=g, dtype=F64)
    return x, x.sum(1) + 0.5 * torch.randn(n, generator=g, dtype=F64)


def test_per_example_gradients_match_a_naive_autograd_loop():
    model, f, w, x, y = mlp_task()
    expected = []
    for i in range(len(x)):
        model.zero_grad()
        (0.5 * (model(x[i:i + 1])[0, 0] - y[i]) ** 2).backward()
        expected.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    gradients = per_example_gradients(f, w, x, y)
    torch.testing.assert_close(gradients, torch.stack(expected), rtol=1e-12, atol=1e-14)
    walkers = per_example_gradients(f, torch.stack([w, w]), x, y)  # a batch of parameter vectors
    torch.testing.assert_close(walkers, torch.stack([gradients, gradients]))


@pytest.mark.parametrize("batch_size", [1, 2, 3, 6])
def test_sigma_b_is_the_covariance_of_the_batch_mean_over_every_batch(batch_size):
    _, f, w, x, y = mlp_task(n=6)
    gradients = per_example_gradients(f, w, x, y)
    means = torch.stack([gradients[list(s)].mean(0) for s in itertools.combinations(range(6), batch_size)])
    centred = means - means.mean(0)
    torch.testing.assert_close(means.mean(0), gradients.mean(0))  # unbiased
    empirical = centred.T @ centred / len(means)  # each batch equally likely: the exact covariance
    torch.testing.assert_close(batch_covariance(gradients, batch_size), empirical, rtol=1e-10, atol=1e-15)
    factor = noise_factor(gradients, batch_size)
    torch.testing.assert_close(factor @ factor.T, empirical, rtol=1e-10, atol=1e-15)


def test_em_step_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=F64)
    y = torch.tensor([1.0, 0.0, -1.0], dtype=F64)
    w = torch.tensor([[0.5, -0.5]], dtype=F64)
    lr, dt, b = 0.2, 0.1, 1
    # g_i = (x_i . w - y_i) x_i: residuals (-0.5, -1, 1) -> g = (-0.5, 0), (0, -2), (1, 1)
    g = torch.tensor([[-0.5, 0.0], [0.0, -2.0], [1.0, 1.0]], dtype=F64)
    mean = g.mean(0)
    xi = torch.randn(1, 3, 1, generator=torch.Generator().manual_seed(7), dtype=F64)[0, :, 0]
    scale = math.sqrt((3 - b) / ((3 - 1) * b * 3))  # sqrt((n - B)/((n - 1) B n))
    expected = w[0] - dt * mean + math.sqrt(lr * dt) * scale * ((g - mean).T @ xi)
    step = em_step(linear, w, x, y, lr=lr, batch_size=b, dt=dt, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(step[0], expected, rtol=1e-14, atol=1e-15)


def test_sgd_step_uses_one_batch_of_distinct_examples_per_walker():
    x, y = regression(n=5)
    w = torch.zeros(50, 2, dtype=F64)
    stepped = sgd_step(linear, w, x, y, lr=0.3, batch_size=2, generator=torch.Generator().manual_seed(1))
    g = x * (-y)[:, None]  # g_i at w = 0
    candidates = torch.stack([-0.3 * g[list(s)].mean(0) for s in itertools.combinations(range(5), 2)])
    distance = (stepped[:, None, :] - candidates[None]).abs().amax(-1).amin(-1)
    assert distance.max() < 1e-14
    assert len({tuple(np.round(row, 12)) for row in stepped.numpy()}) > 5  # the walkers draw different batches


def test_sgd_moments_match_every_batch_sequence():
    x, y = regression(n=5)
    w0 = torch.tensor([0.3, -0.2], dtype=F64)
    finals = []
    for s0, s1 in itertools.product(itertools.combinations(range(5), 2), repeat=2):
        w = w0.clone()
        for batch in (s0, s1):
            xb, yb = x[list(batch)], y[list(batch)]
            w = w - 0.4 * xb.T @ (xb @ w - yb) / 2
        finals.append(w)
    finals = torch.stack(finals)
    mean, second = sgd_moments(x, y, w0, lr=0.4, batch_size=2, steps=2)
    torch.testing.assert_close(mean, finals.mean(0), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(second, finals.T @ finals / len(finals), rtol=1e-12, atol=1e-14)


def test_flow_moments_are_the_closed_form_of_gradient_flow():
    x, y = regression()
    h, b = x.T @ x / 5, x.T @ y / 5
    w0 = torch.tensor([1.0, 2.0], dtype=F64)
    star = torch.linalg.solve(h, b)
    values, vectors = torch.linalg.eigh(h)
    expected = star + vectors @ (torch.exp(-0.7 * values) * (vectors.T @ (w0 - star)))
    mean, second = flow_moments(x, y, w0, time=0.7)
    torch.testing.assert_close(mean, expected, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(second, torch.outer(expected, expected), rtol=1e-12, atol=1e-13)


def test_euler_maruyama_ensemble_matches_the_exact_sde_moments():
    x, y = regression()
    w0 = torch.zeros(2, dtype=F64)
    walkers = euler_maruyama(linear, w0, x, y, lr=0.2, batch_size=1, time=0.5, steps=100, walkers=4000,
                             generator=torch.Generator().manual_seed(0))
    mean, second = sde_moments(x, y, w0, lr=0.2, batch_size=1, time=0.5)
    se = walkers.std(0) / math.sqrt(4000)
    assert ((walkers.mean(0) - mean).abs() < 4 * se + 0.01).all()  # MC error, plus the O(dt) bias of the scheme
    outer = walkers[:, :, None] * walkers[:, None, :]
    assert ((outer.mean(0) - second).abs() < 4 * outer.std(0) / math.sqrt(4000) + 0.01).all()


def test_the_sde_is_a_first_order_weak_approximation_of_sgd():
    """Closed forms, no Monte Carlo: |E L(SGD) - E L(SDE)| halves with the learning rate."""
    x, y = regression(n=6)
    w0 = torch.zeros(2, dtype=F64)
    gaps = []
    for lr in (0.01, 0.005, 0.0025):
        steps = round(1 / lr)
        sgd = expected_loss(x, y, *sgd_moments(x, y, w0, lr=lr, batch_size=2, steps=steps))
        sde = expected_loss(x, y, *sde_moments(x, y, w0, lr=lr, batch_size=2, time=steps * lr))
        gaps.append(float(sgd - sde))
    assert gaps[0] / gaps[1] == pytest.approx(2, rel=0.03) and gaps[1] / gaps[2] == pytest.approx(2, rel=0.02)


def test_kernel_and_ito_rates_match_tangent_kernels_and_explicit_hessians():
    model, f, w, x, y = mlp_task(n=5, width=4)
    queries = torch.tensor([[-0.3], [0.8]], dtype=F64)
    kernel, ito = kernel_and_ito_rates(f, w[None], x, y, queries, lr=0.3, batch_size=2)
    with torch.no_grad():
        l_prime = (model(x)[:, 0] - y) / len(x)
    expected_kernel = pk.tangent_kernel(model, queries, x) @ l_prime
    torch.testing.assert_close(kernel[0], expected_kernel, rtol=1e-11, atol=1e-14)
    sigma = batch_covariance(per_example_gradients(f, w, x, y), 2)
    for q in range(2):
        hessian = torch.autograd.functional.hessian(lambda v: f(v, queries[q:q + 1])[0], w)
        torch.testing.assert_close(ito[0, q], 0.15 * torch.trace(sigma @ hessian), rtol=1e-10, atol=1e-15)


def test_bad_input_is_refused_with_the_value():
    x, y = regression()
    w = torch.zeros(3, 2, dtype=F64)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="batch_size=0"):
        sgd_step(linear, w, x, y, lr=0.1, batch_size=0, generator=g)
    with pytest.raises(ValueError, match="batch_size=6"):
        batch_covariance(torch.zeros(5, 2), 6)
    with pytest.raises(ValueError, match="lr=-0.1"):
        em_step(linear, w, x, y, lr=-0.1, batch_size=1, dt=0.1, generator=g)
    with pytest.raises(ValueError, match="dt=nan"):
        em_step(linear, w, x, y, lr=0.1, batch_size=1, dt=float("nan"), generator=g)
    with pytest.raises(ValueError, match="generator=3"):
        em_step(linear, w, x, y, lr=0.1, batch_size=1, dt=0.1, generator=3)
    with pytest.raises(ValueError, match=r"shape \(2,\); expected \(walkers, P\)"):
        sgd_step(linear, w[0], x, y, lr=0.1, batch_size=1, generator=g)
    with pytest.raises(ValueError, match="walkers=0"):
        sgd_ensemble(linear, w[0], x, y, lr=0.1, batch_size=1, steps=2, walkers=0, generator=g)
    with pytest.raises(ValueError, match=r"y \(4,\)"):
        per_example_gradients(linear, w[0], x, y[:4])
    with pytest.raises(ValueError, match="batches"):
        sgd_moments(torch.zeros(40, 2, dtype=F64), torch.zeros(40, dtype=F64), w[0], lr=0.1, batch_size=20, steps=1)
    with pytest.raises(ValueError, match="lrs=.*must divide time"):
        weak_order.Config(scale="quick", model="linear", walkers=10, lrs=(2.0,))
    with pytest.raises(ValueError, match="lrs=.*must divide time"):
        weak_order.Config(scale="quick", model="linear", walkers=10, lrs=(0.4,))  # 2.5 steps to time 1
    with pytest.raises(ValueError, match="batch_sizes=9"):
        ito_term.Config(scale="quick", walkers=10, batch_sizes=(9,))


def test_seeded_ensembles_are_deterministic():
    x, y = regression()
    w0 = torch.zeros(2, dtype=F64)

    def runs(seed):
        g = torch.Generator().manual_seed(seed)
        return (sgd_ensemble(linear, w0, x, y, lr=0.1, batch_size=2, steps=5, walkers=30, generator=g),
                euler_maruyama(linear, w0, x, y, lr=0.1, batch_size=2, time=0.5, steps=5, walkers=30, generator=g))

    for a, b in zip(runs(4), runs(4)):
        assert torch.equal(a, b)
    assert not torch.equal(runs(4)[1], runs(5)[1])


def test_slope_fit_keeps_only_resolved_gaps():
    lrs = np.array([0.4, 0.2, 0.1, 0.05])
    slope, low, high, used = slope_fit(lrs, 3 * lrs, np.zeros(4))
    assert slope == pytest.approx(1) and low == pytest.approx(1) and high == pytest.approx(1) and used == 4
    slope, low, high, used = slope_fit(lrs, 3 * lrs ** 2, np.array([1e-3, 1e-3, 1e-3, 1.0]))
    assert used == 3 and slope == pytest.approx(2) and low < 2 < high
    assert math.isnan(slope_fit(lrs, lrs, np.ones(4))[0])


def test_underdamped_step_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=F64)
    y = torch.tensor([1.0, 0.0, -1.0], dtype=F64)
    w = torch.tensor([[0.5, -0.5]], dtype=F64)
    v = torch.tensor([[0.1, 0.2]], dtype=F64)
    g = torch.tensor([[-0.5, 0.0], [0.0, -2.0], [1.0, 1.0]], dtype=F64)  # as in test_em_step_by_hand
    xi = torch.randn(1, 3, 1, generator=torch.Generator().manual_seed(2), dtype=F64)[0, :, 0]
    noise = math.sqrt(0.3 * 0.1) * math.sqrt(1 / 3) * ((g - g.mean(0)).T @ xi)  # B = 1: (n - B)/((n - 1) B n) = 1/3
    w1, v1, grad_l, increment = underdamped_step(linear, w, v, x, y, lr=0.3, batch_size=1, gamma=2.0, dt=0.1,
                                                 generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(w1[0], w[0] + 0.1 * v[0])
    torch.testing.assert_close(grad_l[0], g.mean(0))
    torch.testing.assert_close(increment[0], noise)
    torch.testing.assert_close(v1[0], 0.8 * v[0] - 0.1 * g.mean(0) + noise)
    with pytest.raises(ValueError, match="gamma=-1"):
        underdamped_step(linear, w, v, x, y, lr=0.3, batch_size=1, gamma=-1, dt=0.1, generator=torch.Generator())
    with pytest.raises(ValueError, match=r"v \(2,\)"):
        underdamped_step(linear, w, v[0], x, y, lr=0.3, batch_size=1, gamma=1, dt=0.1, generator=torch.Generator())


def test_mixed_curvature_matches_the_explicit_hessian():
    _, f, w, _, _ = mlp_task(width=4)
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(2, len(w), generator=g, dtype=F64), torch.randn(2, len(w), generator=g, dtype=F64)
    queries = torch.tensor([[0.2], [-0.7]], dtype=F64)
    values = mixed_curvature(f, torch.stack([w, w + 0.1]), queries, u, v)
    for a, theta in enumerate((w, w + 0.1)):
        for q in range(2):
            hessian = torch.autograd.functional.hessian(lambda t: f(t, queries[q:q + 1])[0], theta)
            torch.testing.assert_close(values[a, q], u[a] @ hessian @ v[a], rtol=1e-10, atol=1e-14)


def test_ito_study_reports_diverged_walkers_instead_of_averaging_them():
    """At a rate where Euler-Maruyama paths leave the floats, the pair is counted and has no statistics;
    the numbers come from the finite pairs and say how many diverged; the figure still draws."""
    import matplotlib.pyplot as plt

    from pathkernel import plots

    config = ito_term.Config(scale="quick", walkers=8, lrs=(0.5, 100.0), batch_sizes=(1,), n=8, time=1.0, dt=0.1,
                             width=4)
    with np.errstate(all="ignore"):
        result = ito_term.run(config)
    assert result.diverged[0, 0] == 0 and result.diverged[1, 0] > 0
    for name in ("kernel", "ito", "change", "residual"):
        assert np.isfinite(getattr(result, name)[0]).all() and np.isnan(getattr(result, name)[1]).all()
    numbers = ito_term.numbers(result)
    assert numbers["sk-ito-diverged"] == "1 of 2"
    assert "nan" not in numbers["sk-ito-z-max"] + numbers["sk-ito-residual-z"] + numbers["sk-ito-first-large"]
    plt.close(plots.stochastic_kernel.ito(result))
