"""The chapter package `pathkernel.experiments.discrete_exact`: the study `theorem` (its run is
tested in test_experiments.py), the chapter's numbers, the old module names, the residual table."""

import copy
import dataclasses
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel import plots
from pathkernel.functional import flat_function
from pathkernel.experiments.discrete_exact import theorem, vector_outputs

TINY = theorem.Config(scale="quick", n=12, width=8, time=1.0, lrs=(0.2, 0.1), n_query=10, fit_max_lr=0.2)


@pytest.fixture(scope="module")
def result():
    return theorem.run(TINY, seed=0)


def test_old_module_names_are_aliases():
    import pathkernel.experiments.vector_outputs as old_vector
    from pathkernel.experiments import discrete_theorem
    from pathkernel.experiments.discrete_theorem import query_points

    assert discrete_theorem is theorem and old_vector is vector_outputs
    assert query_points is theorem.query_points
    assert theorem.__name__ == "pathkernel.experiments.discrete_exact.theorem"


def test_query_points_fill_the_disk():
    points = theorem.query_points(500, 1.5, seed=3)
    radius = np.linalg.norm(points.numpy(), axis=1)
    assert points.shape == (500, 2) and radius.max() <= 1.5 and radius.min() < 0.2
    assert np.array_equal(points.numpy(), theorem.query_points(500, 1.5, seed=3).numpy())


def test_numbers_are_read_from_the_result_and_the_preset(result):
    numbers = theorem.numbers(result)
    assert numbers["discrete-scale"] == "quick" and numbers["discrete-fit-max"] == "0.2"
    assert float(numbers["discrete-slope"]) == round(result.slope, 2)
    assert float(numbers["discrete-exact-max"]) == float(f"{max(result.residual_exact):.1e}")
    relative = max(r / p for r, p in zip(result.residual_exact, result.prediction_max))
    assert math.isclose(float(numbers["discrete-exact-relative"]), float(f"{relative:.0e}"))
    fitted = result.lrs <= TINY.fit_max_lr
    assert numbers["discrete-refined-fit"] == f"{result.refined[fitted].max():.0%}"
    assert numbers["discrete-refined-largest"] == f"{result.refined[0]:.0%}"  # TINY.lrs[0] is the largest
    assert numbers["discrete-pieces-max"] == max(result.pieces)
    assert numbers["discrete-asymmetry-small"] == f"{result.asymmetry[1]:.1e}"
    assert numbers["discrete-asymmetry-large"] == f"{result.asymmetry[0]:.1e}"
    negative = list(result.segment_eigenvalue).index(min(result.segment_eigenvalue))
    assert float(numbers["discrete-segment-eigenvalue"]) == float(f"{result.segment_eigenvalue[negative]:.0e}")
    assert float(numbers["discrete-tangent-eigenvalue"]) == float(f"{result.tangent_eigenvalue[negative]:.0e}")
    paper = theorem.Config.paper()
    assert (numbers["discrete-paper-n"], numbers["discrete-paper-width"], numbers["discrete-paper-lrs"]) == (
        paper.n, paper.width, len(paper.lrs))
    assert (numbers["discrete-depth"], numbers["discrete-query-radius"]) == (TINY.depth, "1.5")
    assert numbers["discrete-remainder-largest"] == f"{result.residual[0] / result.prediction_max[0]:.1f}"


@pytest.mark.parametrize("config", [TINY, dataclasses.replace(TINY, lrs=(1.5, 0.2, 0.1), time=6.0)])
def test_loss_rises_against_a_loop_over_the_retrained_paths(config, result):
    result = result if config is TINY else theorem.run(config, seed=0)
    x, y = pk.data.ball_sphere(config.n, seed=0)
    rises = []
    for lr in config.lrs:
        path = pk.train(pk.MLP(2, config.width, config.depth, seed=0, dtype=torch.float64), x, y, lr=lr,
                        steps=round(config.time / lr))
        losses = [loss_value(model_at(path, k), x, y) for k in range(path.steps + 1)]
        rises.append(sum(losses[k + 1] > losses[k] for k in range(path.steps - 1)) / (path.steps - 1))
    np.testing.assert_array_equal(result.loss_rises, rises)
    numbers = theorem.numbers(result)
    assert numbers["discrete-rises-largest"] == f"{rises[0]:.1%}"  # lrs[0] is the largest
    never = [lr for lr, r in zip(config.lrs, rises) if r == 0]
    assert numbers["discrete-monotone-max"] == (f"{max(never):g}" if never else "none")


def model_at(path, k):
    model = copy.deepcopy(path.model)
    torch.nn.utils.vector_to_parameters(path.params[k], model.parameters())
    return model


def loss_value(model, x, y):
    with torch.no_grad():
        return (0.5 * (model(x)[:, 0] - y) ** 2).mean().item()


def test_the_run_records_the_quadrature_and_the_segment_kernel(result):
    assert np.all((0 <= result.refined) & (result.refined <= 1))
    assert all(p >= 1 and p & (p - 1) == 0 for p in result.pieces.tolist())  # powers of two
    x, y = pk.data.ball_sphere(TINY.n, seed=0)
    for lr, longest, asymmetry in zip(TINY.lrs, result.longest_step, result.asymmetry):
        path = pk.train(pk.MLP(2, TINY.width, 3, seed=0, dtype=torch.float64), x, y, lr=lr, steps=round(TINY.time / lr))
        assert math.isclose(longest, max(np.linalg.norm(np.diff(path.params.numpy(), axis=0), axis=1)), rel_tol=1e-12)
        assert 0 < asymmetry < 1
    # the tangent kernel is positive semi-definite: its smallest eigenvalue is >= 0 up to round-off
    assert np.all(result.tangent_eigenvalue > -1e-12) and np.all(result.tangent_eigenvalue < 1)


def gradients(model, params, x):
    """(n, P) gradients of the scalar output at each row of x, one autograd call per row."""
    network = copy.deepcopy(model)
    torch.nn.utils.vector_to_parameters(params, network.parameters())
    rows = [torch.autograd.grad(network(x[j : j + 1])[0, 0], list(network.parameters())) for j in range(len(x))]
    return torch.stack([torch.cat([g.reshape(-1) for g in row]) for row in rows])


def test_segment_kernel_against_an_autograd_loop_and_the_observed_change():
    x, y = pk.data.ball_sphere(6, seed=1)
    lr, k = 0.5, 1
    path = pk.train(pk.MLP(2, 5, 3, seed=0, dtype=torch.float64), x, y, lr=lr, steps=3)
    segment, tangent = theorem.segment_kernel(path, k)
    start, delta = path.params[k], path.params[k + 1] - path.params[k]
    nodes, weights = np.polynomial.legendre.leggauss(20)
    average = sum(w / 2 * gradients(path.model, start + (t + 1) / 2 * delta, x) for t, w in zip(nodes, weights))
    here = gradients(path.model, start, x)
    assert torch.allclose(segment, average @ here.T, rtol=1e-12, atol=1e-12)
    assert torch.allclose(tangent, here @ here.T, rtol=1e-12, atol=1e-12)
    assert (segment - segment.T).abs().max() > 1e-6  # a step of this length makes it visibly non-symmetric
    # the exact form of one step: f(w_{k+1}, x_j) - f(w_k, x_j) = -lr sum_i l'_i Kbar(x_j, x_i), l'_i = (f - y) / n
    f = flat_function(path.model)
    before, after = f(path.params[k], x)[:, 0], f(path.params[k + 1], x)[:, 0]
    lprime = (before - y) / len(y)
    assert torch.allclose(after - before, -lr * segment @ lprime, rtol=0, atol=1e-13)


def test_segment_kernel_rejects_a_bad_step_and_other_optimizers():
    x, y = pk.data.ball_sphere(6, seed=1)
    path = pk.train(pk.MLP(2, 5, 3, seed=0, dtype=torch.float64), x, y, lr=0.1, steps=3)
    with pytest.raises(ValueError, match="k=3"):
        theorem.segment_kernel(path, 3)
    adam = pk.train(pk.MLP(2, 5, 3, seed=0, dtype=torch.float64), x, y, lr=0.1, steps=3, optimizer="adam")
    with pytest.raises(ValueError, match="'adam'"):
        theorem.segment_kernel(adam, 0)
    rings_x, rings_y = pk.data.rings(6, seed=0)
    logits = pk.train(pk.MLP(2, 5, 3, out_dim=3, seed=0, dtype=rings_x.dtype), rings_x, rings_y, lr=0.1, steps=2,
                      loss="cross_entropy")
    with pytest.raises(ValueError, match=r"scalar-output.*\(6, 6, 3, 3\)"):
        theorem.segment_kernel(logits, 0)


def test_extreme_eigenvalue_ratio_is_that_of_the_symmetric_part():
    # symmetric part [[2, 0], [0, -1]]: eigenvalues -1 and 2
    assert math.isclose(theorem.extreme_eigenvalue_ratio(torch.tensor([[2.0, 1.0], [-1.0, -1.0]])), -0.5)


def test_every_glued_name_of_the_chapter_comes_from_a_numbers_function(result):
    chapter = (Path(__file__).parents[1] / "notebooks" / "discrete_exact.md").read_text()
    vresult = vector_outputs.run(vector_outputs.Config(scale="quick", n=15, width=8, time=1.0, lrs=(0.2, 0.1),
                                                        n_query=8, grid=12), seed=0)
    names = set(theorem.numbers(result)) | set(vector_outputs.numbers(vresult))
    vnumbers = vector_outputs.numbers(vresult)
    assert vnumbers["discrete-vector-radii"] == "0.3, 0.65 and 1" and vnumbers["discrete-vector-depth"] == 3
    assert float(vnumbers["discrete-vector-query-radius"]) == vresult.config.query_radius
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == names
    assert not set(theorem.numbers(result)) & set(vector_outputs.numbers(vresult))
    assert "book.glue_numbers(theorem, vector_outputs)" in chapter and "glue(" not in chapter


def test_residual_figure_and_table(result):
    fig = plots.discrete_exact.residual_lr(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert any(f"slope {result.slope:.2f}" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)
    frame = plots.discrete_exact.residual_table(result).data
    assert frame["lr"].tolist() == list(TINY.lrs) and frame["steps"].tolist() == [5, 10]
    assert frame["max |R|, Theorem 2"].tolist() == result.residual.tolist()
    assert frame["max |f|"].tolist() == result.prediction_max.tolist()


def test_figures_are_declared_on_the_studies():
    assert plots.FIGURES["fig-discrete-residual-lr"].experiment == "discrete_exact.theorem"
    assert plots.FIGURES["fig-discrete-vector-outputs"].experiment == "discrete_exact.vector_outputs"
