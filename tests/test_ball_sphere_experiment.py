import dataclasses
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

import pathkernel as pk
from pathkernel import plots
from pathkernel.experiments import ball_sphere as bs
from pathkernel.experiments.ball_sphere import network, residual
from reference import load_flat, naive_jacobian

TINY = bs.Config(scale="quick", n=40, width=16, lr=0.2, steps=200, k=6, grid=15, sweep_n=12, r2=0.5,
                 sweep_lrs=(0.05, 0.1), sweep_widths=(8, 16), sweep_steps=(4, 8), base_lr=0.05, base_width=8,
                 base_steps=4, n_query=10, angles=36)
TINY_NETWORK, TINY_SWEEP = TINY.network_config(), TINY.residual_config()
CHAPTER = Path(__file__).parents[1] / "notebooks" / "ball_sphere.md"


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
    return network.run(TINY_NETWORK, seed=0)


@pytest.fixture(scope="module")
def sweep():
    return residual.run(TINY_SWEEP, seed=0)


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


def test_run_sweep_shares_the_base_run_and_the_exact_form_is_round_off(sweep):
    for name in ("lr", "width", "steps"):
        values = getattr(TINY_SWEEP, f"sweep_{name}s" if name != "steps" else "sweep_steps")
        assert getattr(sweep, f"residual_{name}").shape == (len(values),)
        assert np.all(getattr(sweep, f"residual_{name}_exact") < 1e-12)
        assert np.all(getattr(sweep, f"residual_{name}") > getattr(sweep, f"residual_{name}_exact"))
    base = sweep.residual_lr[TINY.sweep_lrs.index(TINY.base_lr)]
    assert base == sweep.residual_width[TINY.sweep_widths.index(TINY.base_width)]
    assert base == sweep.residual_steps[TINY.sweep_steps.index(TINY.base_steps)]


def test_run_is_deterministic():
    config = dataclasses.replace(TINY_NETWORK, steps=10, grid=5, angles=8)
    a, b = network.run(config, seed=1), network.run(config, seed=1)
    for field in ("grid_network", "grid_svm", "kernel_neighbours", "radius"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    a, b = residual.run(TINY_SWEEP, seed=1), residual.run(TINY_SWEEP, seed=1)
    np.testing.assert_array_equal(a.residual_lr, b.residual_lr)


def test_the_old_single_module_api_runs_both_studies_and_reads_their_fields(result, sweep):
    # the former ball_sphere.Config / run / Result: one config of both studies, the old field names
    old = bs.run(TINY, seed=0)
    assert old.network.config == TINY_NETWORK and old.residual.config == TINY_SWEEP
    np.testing.assert_array_equal(old.radius, result.radius)
    np.testing.assert_array_equal(old.residual_lr, sweep.residual_lr)
    assert old.accuracy == result.accuracy and old.config is TINY
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        old.nothing
    assert bs.Config.of(TINY_NETWORK, TINY_SWEEP) == TINY
    assert bs.Config.quick() == bs.Config.of(network.Config.quick(), residual.Config.quick())
    with pytest.raises(ValueError, match=r"differ in \['r2'\]"):
        bs.Config.of(TINY_NETWORK, dataclasses.replace(TINY_SWEEP, r2=0.8))
    assert bs.box_grid is network.box_grid and bs.remainder is residual.remainder and bs.sweep is residual.sweep


@pytest.mark.parametrize("changes, match", [({"k": 41}, "k=41"), ({"sweep_lrs": (0.1, 0.2)}, "base value 0.05"),
                                            ({"sweep_steps": (8, 4)}, "must increase")])
def test_bad_configs(changes, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TINY, **changes)
    study = TINY_NETWORK if "k" in changes else TINY_SWEEP
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(study, **changes)


def test_presets():
    for module in (bs, network, residual):
        assert module.Config.quick().scale == "quick" and module.Config.paper().scale == "paper"
    assert network.Config.paper().n > network.Config.quick().n
    assert network.Config.paper().steps > network.Config.quick().steps
    assert residual.Config.paper().sweep_n > residual.Config.quick().sweep_n


def test_network_numbers_against_the_result(result):
    numbers = network.numbers(result)
    r = math.sqrt(TINY.r2)
    radius = result.radius[np.isfinite(result.radius)]
    midway = (1 + r) / 2
    assert network.midway_radius(TINY.r2) == pytest.approx(midway, rel=1e-15)
    assert network.midway_gap(result) == max(abs(value - midway) for value in radius)
    assert network.inside_fraction(result) == sum(value < r for value in radius) / len(result.radius)
    assert network.least_similar_t(result) == TINY.ts[list(result.jaccard).index(min(result.jaccard))]
    assert numbers["ballsphere-radius-min"] == f"{min(radius):.3f}"
    assert numbers["ballsphere-radius-mean"] == f"{sum(radius) / len(radius):.3f}"
    assert numbers["ballsphere-r"] == f"{r:.3f}" and numbers["ballsphere-n"] == "40"
    assert numbers["ballsphere-accuracy"] == "100%" and numbers["ballsphere-scale"] == "quick"
    assert numbers["ballsphere-paper-n"] == str(network.Config.paper().n)


def test_residual_numbers_against_the_result(sweep):
    numbers = residual.numbers(sweep)
    plain = [*sweep.residual_lr, *sweep.residual_width, *sweep.residual_steps]
    exact = [*sweep.residual_lr_exact, *sweep.residual_width_exact, *sweep.residual_steps_exact]
    np.testing.assert_array_equal(residual.all_residuals(sweep), plain)
    np.testing.assert_array_equal(residual.all_residuals(sweep, exact=True), exact)
    assert numbers["ballsphere-residual-max"] == f"{max(plain):.0e}"
    assert numbers["ballsphere-exact-max"] == f"{max(exact):.0e}"
    # base lr 0.05 is the first of (0.05, 0.1): the factor is the second over the first, predicted (0.1 / 0.05)^2
    assert residual.lr_growth(sweep) == (sweep.residual_lr[1] / sweep.residual_lr[0], pytest.approx(4.0))
    assert numbers["ballsphere-lr-predicted"] == "4" and numbers["ballsphere-width-last"] == "16"


def test_every_number_of_the_chapter_comes_from_one_study(result, sweep):
    ours, theirs = network.numbers(result), residual.numbers(sweep)
    assert not ours.keys() & theirs.keys()
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", CHAPTER.read_text())) == ours.keys() | theirs.keys()


@pytest.mark.parametrize("name, panels", [("decision", 2), ("neighbours", 2 * len(TINY.ts)), ("svm", 3)])
def test_figures(result, name, panels):
    fig = getattr(plots.ball_sphere, name)(result)
    assert len(fig.axes) == panels
    plt.close(fig)


def test_residual_figure_and_the_tables(result, sweep):
    fig = plots.ball_sphere.residual(sweep)
    assert len(fig.axes) == 3
    plt.close(fig)
    frame = plots.ball_sphere.neighbours_table(result).data
    assert frame["t"].tolist() == list(TINY.ts) and frame["Jaccard(NTK, Euclidean)"].tolist() == result.jaccard.tolist()
    frame = plots.ball_sphere.residual_table(sweep).data
    assert frame["lr"].tolist() == list(TINY.sweep_lrs) and frame["max |R|"].tolist() == sweep.residual_lr.tolist()


def test_the_combined_config_tables_the_sources_of_both_studies():
    rows = {name: (quick, paper, source) for name, quick, paper, source in bs.Config.preset_rows()}
    for study in (network, residual):
        for name, quick, paper, source in study.Config.preset_rows():
            assert rows[name][:2] == (quick, paper)
    assert rows["k"][2].startswith("Courtois et al. §5.1.2") and network.Config.paper().k == 100
