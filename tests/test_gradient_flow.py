import dataclasses
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from scipy.linalg import expm

import pathkernel as pk
from pathkernel import plots
from pathkernel.experiments import gradient_flow as gf
from reference import load_flat, naive_kernel, randn

TINY = gf.Config(scale="quick", n=16, width=8, time=2.0, lrs=(0.1, 0.05, 0.025), n_query=10,
                 contribution_lr=0.05, time_pieces=8, n_times=11)


@pytest.fixture(scope="module")
def tiny():
    return gf.run(TINY, seed=0)


def test_flow_of_linear_regression_against_the_matrix_exponential():
    """mean 1/2 (<w, (x, 1)> - y)^2 gives dw/dt = -(A w - c): w(t) = w* + expm(-A t)(w_0 - w*)."""
    x, y = randn(12, 2, seed=0), randn(12, seed=1)
    model = pk.LinearModel(2, dtype=torch.float64)
    flow = gf.gradient_flow(model, x, y, time=3.0)
    design = np.c_[x.numpy(), np.ones(12)]
    A, c = design.T @ design / 12, design.T @ y.numpy() / 12
    w_star, w0 = np.linalg.solve(A, c), pk.flat_parameters(model).numpy()
    for t in (0.7, 3.0):
        closed = w_star + expm(-A * t) @ (w0 - w_star)
        np.testing.assert_allclose(flow.params(t).numpy(), closed, rtol=0, atol=1e-9)
    np.testing.assert_allclose(flow.w_end.numpy(), w_star + expm(-3 * A) @ (w0 - w_star), rtol=0, atol=1e-9)
    torch.testing.assert_close(pk.flat_parameters(model), torch.from_numpy(w0))  # the model is untouched


def test_gradient_descent_approaches_the_flow_at_order_one():
    x, y = pk.data.ball_sphere(16, seed=2)
    model = pk.MLP(2, 8, 3, dtype=torch.float64)
    flow = gf.gradient_flow(model, x, y, time=2.0)
    xq = randn(20, 2, seed=3)
    gaps = []
    for lr in (0.1, 0.05, 0.025):
        path = pk.train(pk.MLP(2, 8, 3, dtype=torch.float64), x, y, lr=lr, steps=round(2.0 / lr))
        gaps.append((gf.predict(model, path.params[-1], xq) - gf.predict(model, flow.w_end, xq)).abs().max().item())
    slope = np.polyfit(np.log([0.1, 0.05, 0.025]), np.log(gaps), 1)[0]
    assert 0.9 < slope < 1.1, gaps


def test_theorem_1_kernel_part_against_a_naive_midpoint_rule():
    """One time node (pieces=1, nodes=1) is the midpoint rule: t * (-sum_i l'_i K(x, x_i)) at w(t/2)."""
    x, y = randn(10, 2, seed=4), randn(10, seed=5)
    model = pk.MLP(2, 6, 3, dtype=torch.float64)
    flow = gf.gradient_flow(model, x, y, time=0.8)
    xq = randn(4, 2, seed=6)
    middle = load_flat(model, flow.params(0.4))
    lprime = (middle(x).detach()[:, 0] - y) / 10
    expected = -0.8 * (naive_kernel(middle, xq, x)[..., 0, 0] * lprime).sum(1)
    torch.testing.assert_close(gf.flow_kernel_machine(model, x, y, flow, xq, pieces=1, nodes=1)[:, 0], expected)
    path_kernel, weighted = gf.flow_per_sample(model, x, y, flow, xq, pieces=1, nodes=1)
    torch.testing.assert_close(path_kernel, 0.8 * naive_kernel(middle, xq, x)[..., 0, 0])
    torch.testing.assert_close(-weighted.sum(1), expected)


def test_theorem_1_holds_on_the_flow():
    x, y = pk.data.ball_sphere(16, seed=0)
    model = pk.MLP(2, 8, 3, dtype=torch.float64)
    flow = gf.gradient_flow(model, x, y, time=3.0, rtol=1e-12, atol=1e-14)
    xq = randn(10, 2, seed=1)
    change = gf.predict(model, flow.w_end, xq) - gf.predict(model, flow.w0, xq)
    kernel_part = gf.flow_kernel_machine(model, x, y, flow, xq, pieces=16, nodes=5)[:, 0]
    assert change.abs().max() > 0.1
    torch.testing.assert_close(kernel_part, change, rtol=0, atol=1e-10)
    path_kernel, weighted = gf.flow_per_sample(model, x, y, flow, xq, pieces=16, nodes=5)
    torch.testing.assert_close(-weighted.sum(1), change, rtol=0, atol=1e-10)
    assert torch.all(torch.linalg.eigvalsh(gf.flow_per_sample(model, x, y, flow, x[:8], pieces=4)[0][:, :8]) > -1e-10)


@pytest.mark.parametrize("degree", [0, 3, 9])
def test_time_rule_integrates_polynomials(degree):
    points, weights = gf.time_rule(2.5, pieces=3, nodes=5)
    assert points.shape == weights.shape == (15,) and np.all(np.diff(points) > 0)
    assert np.isclose((weights * points**degree).sum(), 2.5 ** (degree + 1) / (degree + 1), rtol=1e-12)


def test_predict_is_the_forward_pass():
    model = pk.MLP(2, 5, 2, out_dim=3, dtype=torch.float64)
    xq = randn(4, 2, seed=0)
    torch.testing.assert_close(gf.predict(model, pk.flat_parameters(model), xq), model(xq).detach())


def test_run_measures_order_one_and_exact_contributions(tiny):
    result = tiny
    assert result.steps.tolist() == [20, 40, 80]
    assert 0.85 < result.slope < 1.15
    assert result.flow_residual < 1e-7 < result.gap.min()
    assert result.gap_over_time.shape == (3, result.times.size) and result.times[0] == 0 and result.times[-1] == 2.0
    assert np.all(result.gap_over_time[:, 0] == 0)
    m, n = len(TINY.queries), TINY.n
    assert result.per_sample.shape == result.path_kernel.shape == result.weights.shape == (m, n)
    assert result.sum_error < 1e-12
    np.testing.assert_allclose(result.per_sample, -result.weights * result.path_kernel, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(result.per_sample_flow.sum(1), result.prediction_flow - result.initial, atol=1e-7)
    # gradient descent at lr = 0.05 is O(lr) away from the flow, per training point too
    scale = np.abs(result.per_sample_flow).max()
    assert np.abs(result.per_sample - result.per_sample_flow).max() < 0.1 * scale
    np.testing.assert_allclose(result.path_kernel, result.path_kernel_flow, rtol=0.1)


def test_run_is_deterministic():
    config = dataclasses.replace(TINY, lrs=(0.1, 0.05), n_query=5)
    a, b = gf.run(config, seed=1), gf.run(config, seed=1)
    for field in ("gap", "gap_over_time", "per_sample", "per_sample_flow", "final_loss"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


@pytest.mark.parametrize("call, match", [
    (lambda: dataclasses.replace(TINY, contribution_lr=0.3), "contribution_lr=0.3"),
    (lambda: dataclasses.replace(TINY, lrs=(0.1,)), "lrs"),
    (lambda: dataclasses.replace(TINY, time=-1.0), "time=-1.0"),
    (lambda: gf.gradient_flow(pk.MLP(2, 4, 2), torch.zeros(3, 2), torch.zeros(3), 1.0), "float64"),
    (lambda: gf.gradient_flow(pk.MLP(2, 4, 2, dtype=torch.float64), randn(3, 2, seed=0), randn(3, seed=0), 0.0),
     "time=0.0"),
])
def test_bad_arguments(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_flow_refuses_times_outside_its_interval():
    flow = gf.gradient_flow(pk.MLP(2, 4, 2, dtype=torch.float64), randn(5, 2, seed=0), randn(5, seed=1), 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1.0\]"):
        flow.params(1.5)


def test_figures_and_tables(tiny):
    result = tiny
    fig = plots.gradient_flow.convergence(result)
    left, right = fig.axes
    assert left.get_yscale() == "log" and right.get_xscale() == right.get_yscale() == "log"
    assert any(f"slope {result.slope:.2f}" in t.get_text() for t in right.get_legend().get_texts())
    fig2 = plots.gradient_flow.contributions(result)
    assert len([ax for ax in fig2.axes if ax.get_label() != "<colorbar>"]) == 4 * len(TINY.queries)
    plt.close("all")
    frame = plots.gradient_flow.table(result).data
    assert frame["lr"].tolist() == list(TINY.lrs) and frame["max |f_GD - f_flow|"].tolist() == result.gap.tolist()
    frame = plots.gradient_flow.contributions_table(result)
    ball = result.y < 0
    for j in range(len(TINY.queries)):
        assert frame["sum over ball"][j] == round(sum(result.per_sample[j, i] for i in range(TINY.n) if ball[i]), 4)
        assert frame["sum_i |c_i|"][j] == round(sum(abs(c) for c in result.per_sample[j]), 4)
    assert frame["query"].tolist() == ["(0, 0)", "(0.6, 0.8)", "(-1.2, 0.5)"]


def test_readings_of_the_contributions_against_loops(tiny):
    result = tiny
    m, n = result.weights.shape
    spread = max(max(result.weights[:, i]) - min(result.weights[:, i]) for i in range(n))
    assert gf.weight_spread(result) == pytest.approx(spread / np.abs(result.weights).max(), rel=1e-12)
    gap = max(abs(result.per_sample[j, i] - result.per_sample_flow[j, i]) for j in range(m) for i in range(n))
    assert gf.per_sample_gap(result) == pytest.approx(gap / np.abs(result.per_sample_flow).max(), rel=1e-12)
    ratios = [sum(abs(c) for c in result.per_sample[j]) / abs(sum(result.per_sample[j])) for j in range(m)]
    assert gf.cancellation(result) == pytest.approx(min(ratios), rel=1e-9) and gf.cancellation(result) >= 1


def test_rate_at_the_start_against_autograd(tiny):
    """Step 3 of the proof at t = 0: d f(w(t), x) / dt = <grad f(w_0, x), -grad L(w_0)>, by plain autograd."""
    result = tiny
    x, y = pk.data.ball_sphere(TINY.n, seed=0)
    model = pk.MLP(2, TINY.width, TINY.depth, seed=0, dtype=torch.float64)
    loss = 0.5 * ((model(x)[:, 0] - y) ** 2).mean()
    velocity = [-g for g in torch.autograd.grad(loss, list(model.parameters()))]
    expected = []
    for q in torch.tensor(TINY.queries, dtype=torch.float64):
        gradient = torch.autograd.grad(model(q[None])[0, 0], list(model.parameters()))
        expected.append(sum((g * v).sum() for g, v in zip(gradient, velocity)).item())
    expected = np.asarray(expected)
    np.testing.assert_allclose(result.rate_kernel, expected, rtol=1e-10, atol=1e-14)
    error = np.abs(result.rate_difference - expected).max() / np.abs(expected).max()
    assert 0 < error < 10 * TINY.rate_step  # a forward difference: O(h), not exact
    assert gf.numbers(result)["gradientflow-rate-gap"] == f"{error:.0e}"


def test_numbers_cover_the_chapter(tiny):
    result = tiny
    numbers = gf.numbers(result)
    chapter = (Path(__file__).parents[1] / "notebooks" / "gradient_flow.md").read_text()
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == set(numbers)
    assert "glue(" not in chapter and "remove-output" not in chapter
    assert numbers["gradientflow-scale"] == "quick" and numbers["gradientflow-contribution-lr"] == "0.05"
    assert numbers["gradientflow-evaluations"] == str(result.flow_evaluations)
    assert numbers["gradientflow-depth"] == str(TINY.depth)
    assert float(numbers["gradientflow-slope"]) == round(result.slope, 2)
    assert float(numbers["gradientflow-gap-min"]) == float(f"{min(result.gap):.1e}")
    assert float(numbers["gradientflow-weight-spread"].rstrip("%")) == pytest.approx(100 * gf.weight_spread(result), abs=0.5)
    assert numbers["gradientflow-cancellation"] == f"{gf.cancellation(result):.0f}"
