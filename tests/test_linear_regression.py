import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel import plots
from pathkernel.experiments import linear_regression as lin
from reference import load_flat

TINY = lin.Config(scale="quick", n=12, d=2, time=1.0, lrs=(0.4, 0.2, 0.1), n_query=8, width=8, fit_max_lr=0.4)


def test_regression_data_is_affine_plus_noise():
    x, y = lin.regression_data(400, 3, noise=0.1, seed=4)
    design = torch.cat([x, torch.ones(400, 1, dtype=x.dtype)], 1).numpy()
    _, residual, _, _ = np.linalg.lstsq(design, y.numpy(), rcond=None)
    assert 0.08 < np.sqrt(residual[0] / 400) < 0.12
    assert torch.equal(lin.regression_data(5, 2, seed=1)[0], lin.regression_data(5, 2, seed=1)[0])
    with pytest.raises(ValueError, match="d=0"):
        lin.regression_data(5, 0)


def test_closed_form_weights_against_a_step_loop():
    x, y = lin.regression_data(10, 2, seed=0)
    path = pk.train(pk.LinearModel(2, dtype=torch.float64), x, y, lr=[0.3, 0.1, 0.2], steps=3)
    expected = torch.zeros(10, dtype=torch.float64)
    for k in range(3):
        lprime = (load_flat(path.model, path.params[k])(x).detach()[:, 0] - y) / 10
        expected += path.lrs[k] * lprime
    torch.testing.assert_close(lin.closed_form_weights(path.params, path.lrs, x, y), expected / 0.6)


def numpy_gradient_descent(x, y, w0, lr, steps):
    """Plain gradient descent on mean 1/2 (<w, (x, 1)> - y)^2."""
    design = np.c_[x, np.ones(len(x))]
    w = w0.copy()
    for _ in range(steps):
        w -= lr * design.T @ (design @ w - y) / len(x)
    return w


def test_run_measures_the_exact_case():
    result = lin.run(TINY, seed=0)
    assert result.steps.tolist() == [2, 5, 10]
    assert np.all(result.residual_linear < 1e-13)
    assert np.all(result.residual_mlp > 1e-6) and np.all(np.diff(result.residual_mlp) < 0)
    assert 0.8 < result.mlp_slope < 1.2  # Theorem 2: O(lr) at fixed time
    np.testing.assert_allclose(result.ntk, result.linear_kernel, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.ntk_normalized, result.cosine, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.path_kernel, result.path_kernel_closed, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.prediction, result.kernel_machine, rtol=0, atol=1e-12)
    # a_i(x) does not depend on x (wherever it is defined numerically)
    defined = np.abs(result.path_kernel) > 1e-3 * np.abs(result.path_kernel).max()
    np.testing.assert_allclose(np.broadcast_to(result.weights_closed, result.weights.shape)[defined],
                               result.weights[defined], rtol=1e-9, atol=1e-15)


def test_run_prediction_matches_numpy_gradient_descent():
    result = lin.run(TINY, seed=3)
    x, y = (t.numpy() for t in lin.regression_data(TINY.n, TINY.d, seed=3))
    xq = TINY.query_scale * torch.randn(TINY.n_query, TINY.d, generator=torch.Generator().manual_seed(4),
                                        dtype=torch.float64).numpy()
    w0 = pk.flat_parameters(pk.LinearModel(TINY.d, seed=3, dtype=torch.float64)).numpy()
    w = numpy_gradient_descent(x, y, w0, TINY.kernel_lr, round(TINY.time / TINY.kernel_lr))
    np.testing.assert_allclose(result.prediction, np.c_[xq, np.ones(len(xq))] @ w, rtol=1e-12, atol=1e-12)


def test_config_checks():
    with pytest.raises(ValueError, match="kernel_lr=0.3"):
        lin.Config(scale="quick", n=5, d=2, time=1.0, lrs=(0.1,), n_query=3, width=4, kernel_lr=0.3)
    with pytest.raises(ValueError, match="fit_max_lr"):
        lin.Config(scale="quick", n=5, d=2, time=1.0, lrs=(0.4, 0.1), n_query=3, width=4, kernel_lr=0.1)
    assert lin.Config.from_scale("paper").n > lin.Config.quick().n


def test_numbers_are_read_from_the_result_and_the_preset():
    result = lin.run(TINY, seed=0)
    numbers = lin.numbers(result)
    chapter = (Path(__file__).parents[1] / "notebooks" / "linear_regression.md").read_text()
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == set(numbers)
    assert float(numbers["linear-max"]) == float(f"{result.residual_linear.max():.1e}")
    assert numbers["linear-steps"] == round(TINY.time / min(TINY.lrs))
    # the spread of a_i(x) against the closed form, recomputed by a loop over the defined pairs
    largest = np.abs(result.path_kernel).max()
    spread = max(abs(result.weights[q, i] - result.weights_closed[i])
                 for q in range(TINY.n_query) for i in range(TINY.n)
                 if abs(result.path_kernel[q, i]) > 1e-3 * largest)
    assert lin.weight_spread(result) == spread < 1e-9
    # the glued fit bound is the one the slope was fitted on: refitting over the lrs up to it gives mlp_slope
    fitted = result.lrs <= float(numbers["linear-fit-max-lr"])
    assert fitted.sum() >= 2
    slope = np.polyfit(np.log(result.lrs[fitted]), np.log(result.residual_mlp[fitted]), 1)[0]
    assert slope == pytest.approx(result.mlp_slope, rel=1e-12)
    assert numbers["linear-depth"] == result.config.depth == TINY.depth
    paper = lin.Config.paper()
    assert (numbers["linear-paper-n"], numbers["linear-paper-lrs"]) == (paper.n, len(paper.lrs))
    assert float(numbers["linear-paper-lr-min"]) == min(paper.lrs) and float(numbers["linear-paper-lr-max"]) == max(paper.lrs)


def test_figures_and_table():
    result = lin.run(TINY)
    fig = plots.linear_regression.residual(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log" and len(ax.get_legend().get_texts()) == 3
    plt.close(fig)
    fig = plots.linear_regression.kernels(result)
    assert len(fig.axes) == 4
    plt.close(fig)
    frame = plots.linear_regression.table(result).data
    assert frame["lr"].tolist() == list(TINY.lrs) and frame["max |R|, MLP"].tolist() == result.residual_mlp.tolist()
