import dataclasses
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

import pathkernel as pk
from pathkernel import plots
from pathkernel.experiments import ball_sphere as bs
from reference import load_flat, naive_jacobian

TINY = bs.Config(scale="quick", n=40, width=16, lr=0.2, steps=200, k=6, grid=15, sweep_n=12, r2=0.5,
                 sweep_lrs=(0.05, 0.1), sweep_widths=(8, 16), sweep_steps=(4, 8), base_lr=0.05, base_width=8,
                 base_steps=4, n_query=10, angles=36)


class SquaredRadius(nn.Module):
    """f(x) = ||x||^2 - rho^2: negative inside the circle of radius rho, positive outside."""

    def __init__(self, rho: float) -> None:
        super().__init__()
        self.rho = rho

    def forward(self, x):
        return (x**2).sum(1, keepdim=True) - self.rho**2


def test_boundary_radius_of_a_circle_is_its_radius_in_every_direction():
    angles = np.linspace(0, 2 * np.pi, 17)
    found = bs.boundary_radius(SquaredRadius(0.93), angles, r_max=1.5, samples=301)
    # linear interpolation of r^2 - rho^2 over a 0.005 step: error <= step^2 / (8 rho)
    np.testing.assert_allclose(found, 0.93, atol=0.005**2 / (8 * 0.93) + 1e-12)
    assert np.isnan(bs.boundary_radius(SquaredRadius(2.0), angles, r_max=1.5)).all()


def test_box_grid_is_the_meshgrid_of_its_axes():
    gx, gy, grid = bs.box_grid(1.5, 4)
    np.testing.assert_array_equal(gx, np.linspace(-1.5, 1.5, 4))
    xx, yy = np.meshgrid(gx, gy)
    np.testing.assert_array_equal(grid.numpy()[:, 0].reshape(4, 4), xx)
    np.testing.assert_array_equal(grid.numpy()[:, 1].reshape(4, 4), yy)


def test_random_direction_is_a_seeded_unit_vector():
    u = bs.random_direction(3, seed=5)
    assert math.isclose(u.norm().item(), 1.0, rel_tol=1e-15)
    assert torch.equal(u, bs.random_direction(3, seed=5)) and not torch.equal(u, bs.random_direction(3, seed=6))


def test_tangent_svm_on_an_exactly_separable_toy_is_the_linear_svm_on_augmented_inputs():
    # an affine model's tangent features are [x, 1]: the SVM on its Gram matrix is a linear SVM on [x, 1]
    from sklearn.svm import SVC

    from pathkernel.experiments.last_layer import svm_decision, tangent_svm

    x, y = pk.data.halfspace(60, direction=(1.0, 2.0), seed=0)
    model = pk.LinearModel(2, dtype=torch.float64)
    svm = tangent_svm(model, x, y, C=1e6)
    augmented = np.hstack([x.numpy(), np.ones((60, 1))])
    reference = SVC(kernel="linear", C=1e6).fit(augmented, y.numpy())
    assert (np.sign(svm_decision(model, svm, x, x)) == y.numpy()).all()  # 100% on separable data
    np.testing.assert_allclose(svm_decision(model, svm, x, x), reference.decision_function(augmented),
                               rtol=1e-6, atol=1e-6)


def test_remainder_matches_a_naive_first_order_sum_and_the_exact_form_vanishes():
    x, y = pk.data.ball_sphere(8, seed=0)
    xq = torch.tensor([[0.3, -0.2], [1.1, 0.4]], dtype=torch.float64)
    plain, exact, loss = bs.remainder(x, y, xq, width=5, lr=0.3, steps=3)
    model = pk.MLP(2, 5, 3, seed=0, dtype=torch.float64)
    path = pk.train(model, x, y, lr=0.3, steps=3)
    first_order = torch.zeros(2, dtype=torch.float64)
    for k in range(3):  # sum_k <grad f(w_k, x), w_{k+1} - w_k>, one autograd Jacobian per step
        J = naive_jacobian(load_flat(model, path.params[k]), xq)[:, 0, :]
        first_order += J @ (path.params[k + 1] - path.params[k])
    with torch.no_grad():
        change = load_flat(model, path.params[-1])(xq)[:, 0] - load_flat(model, path.params[0])(xq)[:, 0]
    assert plain == pytest.approx((change - first_order).abs().max().item(), rel=1e-8, abs=1e-15)
    assert plain > 1e-6 and exact < 1e-13
    assert loss == pytest.approx(path.losses[-1].item(), rel=1e-12)


@pytest.fixture(scope="module")
def result():
    return bs.run(TINY, seed=0)


def test_run_trains_to_100_percent_and_the_tangent_svm_separates(result):
    assert result.accuracy == 1.0 and result.svm_accuracy == 1.0  # the last-layer corollary
    assert result.grid_network.shape == result.grid_svm.shape == (15, 15)
    assert 0.5 < result.agreement <= 1
    # 100% accuracy: on every ray the boundary separates the ball's points from the sphere
    inner = np.linalg.norm(result.x[result.y == -1], axis=1).max()
    assert np.all(np.isfinite(result.radius)) and np.nanmedian(result.radius) > 0.5 * inner


def test_run_neighbour_sets_and_their_jaccard(result):
    assert result.kernel_neighbours.shape == result.euclidean_neighbours.shape == (len(TINY.ts), TINY.k)
    np.testing.assert_allclose(result.queries, np.outer(TINY.ts, result.direction), rtol=0, atol=1e-15)
    for j in range(len(TINY.ts)):
        a, b = set(result.kernel_neighbours[j]), set(result.euclidean_neighbours[j])
        assert result.jaccard[j] == pytest.approx(len(a & b) / len(a | b), abs=1e-15)
        distances = np.linalg.norm(result.x - result.queries[j], axis=1)
        np.testing.assert_array_equal(np.sort(result.euclidean_neighbours[j]), np.sort(np.argsort(distances)[:TINY.k]))


def test_run_sweep_shares_the_base_run_and_the_exact_form_is_round_off(result):
    for name in ("lr", "width", "steps"):
        values = getattr(TINY, f"sweep_{name}s" if name != "steps" else "sweep_steps")
        assert getattr(result, f"residual_{name}").shape == (len(values),)
        assert np.all(getattr(result, f"residual_{name}_exact") < 1e-12)
        assert np.all(getattr(result, f"residual_{name}") > getattr(result, f"residual_{name}_exact"))
    base = result.residual_lr[TINY.sweep_lrs.index(TINY.base_lr)]
    assert base == result.residual_width[TINY.sweep_widths.index(TINY.base_width)]
    assert base == result.residual_steps[TINY.sweep_steps.index(TINY.base_steps)]


def test_run_is_deterministic():
    config = dataclasses.replace(TINY, steps=10, grid=5, angles=8)
    a, b = bs.run(config, seed=1), bs.run(config, seed=1)
    for field in ("grid_network", "grid_svm", "kernel_neighbours", "residual_lr", "radius"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize("changes, match", [({"k": 41}, "k=41"), ({"sweep_lrs": (0.1, 0.2)}, "base value 0.05"),
                                            ({"sweep_steps": (8, 4)}, "must increase")])
def test_bad_configs(changes, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TINY, **changes)


def test_presets():
    assert bs.Config.quick().scale == "quick" and bs.Config.paper().scale == "paper"
    assert bs.Config.paper().n > bs.Config.quick().n and bs.Config.paper().steps > bs.Config.quick().steps


@pytest.mark.parametrize("name, panels", [("ballsphere_decision", 2), ("ballsphere_neighbours", 2 * len(TINY.ts)),
                                          ("ballsphere_svm", 3), ("ballsphere_residual", 3)])
def test_figures(result, name, panels):
    fig = getattr(plots, name)(result)
    assert len(fig.axes) == panels
    plt.close(fig)
