import dataclasses
import importlib
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.integrate import solve_ivp

import pathkernel as pk
from pathkernel import figures, plots
from pathkernel.experiments.kernel_regime import common
from pathkernel.experiments.kernel_regime import lazy_training as lt
from pathkernel.experiments.kernel_regime import ntk_limit as nl
from pathkernel.experiments.kernel_regime import output_scale as osc
from reference import naive_kernel

LAZY = lt.Config(scale="quick", widths=(8, 64), seeds=1, steps=20, every=10, alphas=(1.0, 30.0), alpha_width=16,
                 n_functions=3, function_widths=(8,), grid=21, power_iterations=5)
SCALE = osc.Config(scale="quick", width=24, steps=60, alphas=(0.3, 3.0, 30.0), kernels=3, lr=0.1, toy_grid=41)
LIMIT = nl.Config(scale="quick", widths=(8, 512), seeds=3, regression_widths=(16, 256), regression_seeds=1,
                  steps=30, grid=15)


def test_train_checkpoints_equal_one_recorded_path(monkeypatch):
    x, y = lt.regression_data(4)
    reference = pk.MLP(1, 6, 3, activation="relu", parameterization="ntk", seed=3, dtype=torch.float64)
    model = pk.MLP(1, 6, 3, activation="relu", parameterization="ntk", seed=3, dtype=torch.float64)
    path = pk.train(reference, x, y, lr=0.3, steps=12)
    monkeypatch.setattr(common, "PATH_BUDGET", 2 * pk.flat_parameters(model).numel())  # segments of 2 steps
    checkpoints = lt.train_checkpoints(model, x, y, lr=0.3, steps=12, every=4)
    torch.testing.assert_close(torch.stack(checkpoints), path.params[::4], rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="multiple"):
        lt.train_checkpoints(model, x, y, lr=0.3, steps=10, every=4)


def test_power_law_recovers_a_known_exponent():
    xs = np.array([10.0, 100.0, 1000.0])
    assert lt.power_law(xs, 3.0 * xs**-0.5) == pytest.approx((-0.5, math.log(3.0)))


@pytest.fixture(scope="module")
def lazy():
    return lt.run(LAZY, seed=0)


def test_lazy_training_run(lazy):
    W, S, C = 2, 1, 3
    assert lazy.weight_change.shape == lazy.distance.shape == (W, S, C)
    assert np.all(lazy.weight_change[:, :, 0] == 0)
    assert np.all(lazy.distance[:, :, 0] < 1e-13)  # the linearization is the network at w0
    assert lazy.weight_change[1, 0, -1] < lazy.weight_change[0, 0, -1]  # wider moves less
    assert np.all(lazy.loss[:, :, -1] < lazy.loss[:, :, 0])
    np.testing.assert_allclose(lazy.times, [0.0, 4.0, 8.0])
    # kappa of the scaled model is divided by alpha; the distance to the linearization falls with alpha
    assert lazy.alpha_kappa[0] == pytest.approx(30.0 * lazy.alpha_kappa[1], rel=1e-9)
    assert lazy.alpha_distance[1, -1] < lazy.alpha_distance[0, -1]
    assert lazy.functions.shape == (1, 3, 21) and lazy.trained.shape == lazy.trained_linear.shape == (1, 1, 21)
    # the trained function at the training points is where the recorded loss says it is
    on_train = np.interp(lazy.x, lazy.grid, lazy.trained[0, 0])
    assert 0.5 * np.mean((on_train - lazy.y) ** 2) == pytest.approx(lazy.loss[0, 0, -1], rel=0.05, abs=1e-3)


def test_lazy_training_is_deterministic(lazy):
    again = lt.run(LAZY, seed=0)
    for field in ("weight_change", "distance", "functions", "alpha_distance", "kappa"):
        assert np.array_equal(getattr(again, field), getattr(lazy, field)), field


def test_toy_model():
    assert osc.toy(osc.TOY_W0) == 0
    h = 1e-6
    numeric = (osc.toy(osc.TOY_W0 + h) - osc.toy(osc.TOY_W0 - h)) / (2 * h)
    assert osc.toy_slope() == pytest.approx(numeric, rel=1e-8)


@pytest.fixture(scope="module")
def scale():
    return osc.run(SCALE, seed=0)


def test_toy_minima(scale):
    alphas = np.asarray(SCALE.toy_alphas)
    np.testing.assert_allclose(osc.toy(scale.toy_minimum, SCALE.toy_x), SCALE.toy_target / alphas, atol=1e-10)
    np.testing.assert_allclose(scale.toy_minimum_linear - osc.TOY_W0,
                               SCALE.toy_target / (alphas * osc.toy_slope(SCALE.toy_x)))
    # the two minimizers approach each other and w0 as alpha grows
    assert np.all(np.diff(np.abs(scale.toy_minimum - scale.toy_minimum_linear)) < 0)
    assert np.all(np.diff(np.abs(scale.toy_minimum - osc.TOY_W0)) < 0)


def test_two_points(scale):
    x = torch.tensor(SCALE.x, dtype=torch.float64)[:, None]
    network = pk.MLP(1, SCALE.width, 3, activation="relu", parameterization="ntk", weight_var=SCALE.weight_var,
                     bias_var=SCALE.bias_var, seed=0, dtype=torch.float64)
    K0 = naive_kernel(network, x, x)[:, :, 0, 0].numpy()
    for a in range(len(SCALE.alphas)):
        np.testing.assert_allclose(scale.kernels[a, 0], K0, rtol=1e-10)
    assert scale.outputs.shape == (3, SCALE.steps + 1, 2) and scale.kernels.shape == (3, 3, 2, 2)
    assert np.all(scale.outputs[:, 0] == 0)  # centred
    reference = solve_ivp(lambda t, u: -K0 @ u / 2, (0, scale.times[-1]), -scale.y, t_eval=scale.times,
                          rtol=1e-11, atol=1e-13).y.T
    np.testing.assert_allclose(scale.ode, reference, atol=1e-8)
    assert scale.linear_gap[2] < 0.1 * scale.linear_gap[0]  # large alpha: the fixed-kernel dynamics
    assert np.all(np.diff(scale.kernel_change) < 0)
    # the fixed-kernel recursion u_k = (I - lr K0 / n)^k u0 by matrix powers, and its gap to the solve_ivp flow
    step = np.eye(2) - SCALE.lr * K0 / 2
    expected = np.stack([np.linalg.matrix_power(step, k) @ -scale.y for k in range(SCALE.steps + 1)])
    np.testing.assert_allclose(scale.gd_linear, expected, rtol=1e-10, atol=1e-13)
    assert scale.discretization_gap == pytest.approx(np.linalg.norm(expected - reference, axis=1).max(), abs=1e-7)


@pytest.fixture(scope="module")
def limit():
    return nl.run(LIMIT, seed=0)


def test_ntk_limit(limit):
    assert limit.kernel_error.shape == (2, 2, 3)
    assert np.all(limit.kernel_error[:, 1].mean(1) < 0.5 * limit.kernel_error[:, 0].mean(1))
    x = torch.from_numpy(limit.x)[:, None]
    grid = torch.from_numpy(limit.grid)[:, None]
    kwargs = dict(depth=3, weight_var=LIMIT.weight_var, bias_var=LIMIT.bias_var)
    theta, cross = pk.infinite_ntk(x, **kwargs).numpy(), pk.infinite_ntk(grid, x, **kwargs).numpy()
    np.testing.assert_allclose(limit.kernel_regression, cross @ np.linalg.solve(theta, limit.y), atol=1e-6)
    # the analytic flow at time t: Theta(x, X) Theta^-1 (I - expm(-t Theta / n)) y, by scipy's expm
    n = len(limit.y)
    flow = cross @ np.linalg.solve(theta, (np.eye(n) - scipy.linalg.expm(-limit.time * theta / n)) @ limit.y)
    np.testing.assert_allclose(limit.analytic, flow, atol=1e-8)
    assert limit.network_error[1, 0] < limit.network_error[0, 0]


def test_bad_configs():
    with pytest.raises(ValueError, match="multiple"):
        dataclasses.replace(LAZY, steps=25)
    with pytest.raises(ValueError, match="function_widths"):
        dataclasses.replace(LAZY, function_widths=(7,))
    with pytest.raises(ValueError, match="alphas"):
        dataclasses.replace(SCALE, alphas=(0.5, 1.0))
    with pytest.raises(ValueError, match="alphas"):
        dataclasses.replace(LAZY, alphas=(0.0, 1.0, 2.0))
    with pytest.raises(ValueError, match="distinct"):
        lt.power_law(np.array([3.0, 3.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="kernels"):
        dataclasses.replace(SCALE, kernels=1)
    with pytest.raises(ValueError, match="widths"):
        dataclasses.replace(LIMIT, widths=(8,))


def test_presets():
    for module in (lt, osc, nl):
        assert module.Config.quick().scale == "quick" and module.Config.paper().scale == "paper"
    assert max(lt.Config.paper().widths) == 10_000


def test_figures(lazy, scale, limit):
    chapter = plots.kernel_regime
    for plot, result, axes in ((chapter.functions, lazy, 2), (chapter.weight_change, lazy, 2),
                               (chapter.linearization, lazy, 3), (chapter.toy, scale, 2),
                               (chapter.ellipses, scale, 3), (chapter.ode, scale, 2),
                               (chapter.ntk_limit, limit, 1), (chapter.regression, limit, 2)):
        fig = plot(result)
        assert len(fig.axes) == axes, plot.__name__
        plt.close(fig)


def test_figure_build_is_byte_identical(tmp_path):
    config = dataclasses.replace(SCALE, steps=10, toy_grid=21)
    first = figures.build("fig-kernelregime-ellipses", out=tmp_path / "a", config=config)
    second = figures.build("fig-kernelregime-ellipses", out=tmp_path / "b", config=config)
    assert first == second
    for suffix in ("png", "pdf"):
        assert (tmp_path / "a" / f"fig-kernelregime-ellipses.{suffix}").read_bytes() == \
            (tmp_path / "b" / f"fig-kernelregime-ellipses.{suffix}").read_bytes()


def test_old_module_names_are_the_studies():
    for old, study in (("lazy_training", lt), ("output_scale", osc), ("ntk_limit", nl)):
        assert importlib.import_module(f"pathkernel.experiments.{old}") is study
    from pathkernel.experiments import lazy_training, ntk_limit, output_scale

    assert (lazy_training, output_scale, ntk_limit) == (lt, osc, nl)
    assert lt.regression_data is common.regression_data and lt.power_law is common.power_law
    for figure_id, study in (("fig-kernelregime-functions", "lazy_training"), ("fig-kernelregime-ode", "output_scale"),
                             ("fig-kernelregime-regression", "ntk_limit")):
        assert figures.FIGURES[figure_id].experiment == f"kernel_regime.{study}"


def test_numbers_cover_the_chapter_without_clashes(lazy, scale, limit):
    values = [lt.numbers(lazy), osc.numbers(scale), nl.numbers(limit)]
    merged = {name: value for part in values for name, value in part.items()}
    assert len(merged) == sum(map(len, values))  # no name given by two studies
    chapter = (Path(__file__).parents[1] / "notebooks" / "kernel_regime.md").read_text()
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == set(merged)
    assert all(isinstance(value, str) for value in merged.values())


def test_lazy_training_numbers(lazy):
    numbers = lt.numbers(lazy)
    assert numbers["kernelregime-scale"] == "quick" and numbers["kernelregime-widths"] == "8 to 64"
    assert (numbers["kernelregime-width-narrow"], numbers["kernelregime-alpha-width"]) == ("8", "16")
    # the sizes, read off the result's arrays: n training points, seeds per width, the grid's extent
    assert (numbers["kernelregime-n"], numbers["kernelregime-seeds"]) == (str(len(lazy.x)), str(lazy.distance.shape[1]))
    assert float(numbers["kernelregime-extent"]) == np.abs(lazy.grid).max() == 1.5
    assert numbers["kernelregime-bias-var"] == "0.2"
    # means over seeds of the last checkpoint, recomputed by a loop
    for key, field, width, digits in (("change-narrow", "weight_change", 0, 1), ("change-wide", "weight_change", 1, 2)):
        final = getattr(lazy, field)[width, :, -1]
        assert numbers[f"kernelregime-{key}"] == f"{100 * sum(final) / len(final):.{digits}f}%"
    assert float(numbers["kernelregime-distance-wide"]) == pytest.approx(lazy.distance[1, 0, -1], abs=5e-4)
    assert float(numbers["kernelregime-kappa-narrow"]) == pytest.approx(lazy.kappa[0], abs=5e-3)
    # alpha * kappa_alpha is the same for every alpha, up to round-off
    products = [alpha * kappa for alpha, kappa in zip(LAZY.alphas, lazy.alpha_kappa)]
    assert lt.kappa_alpha_spread(lazy) == pytest.approx(max(products) / min(products) - 1, abs=1e-15)
    assert 0 <= lt.kappa_alpha_spread(lazy) < 1e-9


def test_output_scale_numbers(scale):
    numbers = osc.numbers(scale)
    assert (numbers["kernelregime-toy-alpha-first"], numbers["kernelregime-toy-alpha-last"]) == ("1", "20")
    # the toy curve is the blog's model at the glued x; the glued target and width are the config's
    x, w = float(numbers["kernelregime-toy-x"]), scale.toy_w
    np.testing.assert_allclose(scale.toy_f[0], (w * x + w**2 * x + np.sin(np.exp(0.1 * w))) * (w - 0.4), atol=1e-12)
    assert (numbers["kernelregime-toy-target"], numbers["kernelregime-pair-width"]) == ("1", "24")
    assert (numbers["kernelregime-alpha-small"], numbers["kernelregime-alpha-large"], numbers["kernelregime-ode-lr"]) \
        == ("0.3", "30", "0.1")
    # the toy's linearized minimizer sits ybar / (alpha f'(w0)) from w0
    for key, alpha in (("first", SCALE.toy_alphas[0]), ("last", SCALE.toy_alphas[-1])):
        moved = SCALE.toy_target / (alpha * osc.toy_slope(SCALE.toy_x))
        assert float(numbers[f"kernelregime-toy-move-linear-{key}"]) == pytest.approx(moved, abs=5e-4)
    change = np.linalg.norm(scale.kernels[-1, -1] - scale.kernels[-1, 0]) / np.linalg.norm(scale.kernels[-1, 0])
    glued = numbers["kernelregime-kernel-change-large"]
    assert glued.endswith("%") and float(glued[:-1]) / 100 == pytest.approx(change, rel=0.05)  # 2 digits, never 0.0%
    assert float(numbers["kernelregime-linear-gap-small"]) == pytest.approx(scale.linear_gap[0], rel=0.05)
    assert float(numbers["kernelregime-discretization"]) == pytest.approx(scale.discretization_gap, abs=5e-4)


def test_ntk_limit_numbers(limit):
    numbers = nl.numbers(limit)
    assert numbers["kernelregime-limit-widths"] == "8 to 512" and numbers["kernelregime-regression-width"] == "256"
    assert float(numbers["kernelregime-time"]) == LIMIT.lr * LIMIT.steps
    assert (numbers["kernelregime-n-kernel"], numbers["kernelregime-regression-n"]) == ("8", str(len(limit.x)))
    for a, activation in enumerate(("relu", "erf")):
        errors = limit.kernel_error[a, -1]
        assert numbers[f"kernelregime-kernel-error-{activation}"] == f"{100 * sum(errors) / len(errors):.1f}%"
        assert numbers[f"kernelregime-kernel-slope-{activation}"] == f"{limit.kernel_slope[a]:.2f}"
    gap = max(abs(a - b) for a, b in zip(limit.analytic, limit.kernel_regression))
    assert nl.flow_to_ridge(limit) == gap > 0
    assert numbers["kernelregime-flow-vs-ridge"] == f"{gap:.3f}"
