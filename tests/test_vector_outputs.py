import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel import plots
from pathkernel.experiments.discrete_exact import vector_outputs as vo
from pathkernel.experiments.discrete_exact.theorem import query_points
from reference import load_flat, naive_jacobian

TINY = vo.Config(scale="quick", n=15, width=8, time=1.0, lrs=(0.2, 0.1, 0.05), n_query=8, grid=12)


def naive_theorem_3_residual(model, x, y, lr, steps, xq):
    """max_x |R_a| per output: f(w_T) - f(w_0) + sum_k lr sum_i J(x) J(x_i)^T l'_i, with the
    cross-entropy derivative (softmax - onehot) / n written out and plain autograd Jacobians."""
    path = pk.train(model, x, y, lr=lr, steps=steps, loss="cross_entropy")
    onehot = torch.nn.functional.one_hot(y, 3).double()
    total = torch.zeros(xq.shape[0], 3, dtype=torch.float64)
    for k in range(steps):
        clone = load_flat(model, path.params[k])
        lprime = (torch.softmax(clone(x).detach(), 1) - onehot) / x.shape[0]
        J_query, J_train = naive_jacobian(clone, xq), naive_jacobian(clone, x)
        total -= lr * torch.einsum("mcp,ndp,nd->mc", J_query, J_train, lprime)
    change = load_flat(model, path.params[-1])(xq).detach() - load_flat(model, path.params[0])(xq).detach()
    return (change - total).abs().amax(0).numpy()


def test_remainder_per_output_against_a_naive_reference():
    config = dataclasses.replace(TINY, time=0.6, lrs=(0.3, 0.15))
    result = vo.run(config, seed=0)
    x, y = pk.data.rings(config.n, seed=0)
    xq = query_points(config.n_query, config.query_radius, 1)
    for row, lr in enumerate(config.lrs):
        model = pk.MLP(2, config.width, 3, out_dim=3, seed=0, dtype=torch.float64)
        expected = naive_theorem_3_residual(model, x, y, lr, round(config.time / lr), xq)
        np.testing.assert_allclose(result.residual[row], expected, rtol=1e-8)


def test_run_is_first_order_per_output_and_exact_mode_closes_it():
    result = vo.run(TINY, seed=0)
    assert result.residual.shape == result.residual_exact.shape == (3, 3)
    assert np.all((0.85 < result.slopes) & (result.slopes < 1.15)), result.slopes
    assert result.residual_exact.max() < 1e-12
    assert np.all(result.residual > 1e4 * result.residual_exact)
    assert result.grid_class.shape == (12, 12) and set(np.unique(result.grid_class)) <= {0, 1, 2}
    assert result.x.shape == (15, 2) and np.bincount(result.y).tolist() == [5, 5, 5]


def test_mse_on_one_hot_targets():
    assert torch.equal(vo.targets(torch.tensor([2, 0]), 3, "mse"), torch.tensor([[0.0, 0, 1], [1, 0, 0]], dtype=torch.float64))
    result = vo.run(dataclasses.replace(TINY, loss="mse", lrs=(0.2, 0.1)), seed=0)
    assert result.residual_exact.max() < 1e-12 and np.all(result.residual > 1e-8)


def test_run_is_deterministic():
    config = dataclasses.replace(TINY, lrs=(0.2, 0.1))
    a, b = vo.run(config, seed=2), vo.run(config, seed=2)
    assert np.array_equal(a.residual, b.residual) and np.array_equal(a.grid_class, b.grid_class)


@pytest.mark.parametrize("changes, match", [({"loss": "bce"}, "loss='bce'"), ({"lrs": (0.1,)}, "lrs")])
def test_bad_configs(changes, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TINY, **changes)


def test_numbers_are_read_from_the_result_and_the_preset():
    result = vo.run(dataclasses.replace(TINY, lrs=(0.2, 0.1)), seed=0)
    numbers = vo.numbers(result)
    assert numbers["discrete-vector-scale"] == "quick"
    assert [float(s) for s in numbers["discrete-vector-slopes"].split(", ")] == [round(s, 2) for s in result.slopes]
    assert float(numbers["discrete-vector-exact-max"]) == float(f"{max(r for row in result.residual_exact for r in row):.0e}")
    paper = vo.Config.paper()
    assert (numbers["discrete-vector-paper-n"], numbers["discrete-vector-paper-width"]) == (paper.n, paper.width)
    assert numbers["discrete-vector-paper-lrs"] == len(paper.lrs) == 6
    assert float(numbers["discrete-vector-paper-lr-min"]) == min(paper.lrs) == 0.0125


def test_figure_and_table():
    result = vo.run(TINY, seed=0)
    fig = plots.discrete_exact.vector_outputs(result)
    left, right = fig.axes
    assert right.get_xscale() == right.get_yscale() == "log"
    texts = [t.get_text() for t in right.get_legend().get_texts()]
    assert all(any(f"output {a}, Theorem 3: slope {result.slopes[a]:.2f}" in t for t in texts) for a in range(3))
    plt.close(fig)
    frame = plots.discrete_exact.vector_outputs_table(result).data
    assert frame["lr"].tolist() == list(TINY.lrs) and frame["max |R_2|"].tolist() == result.residual[:, 2].tolist()
    assert frame["max |R|, exact"].tolist() == [max(row) for row in result.residual_exact]


def test_old_module_name_is_an_alias():
    from pathkernel.experiments import vector_outputs

    assert vector_outputs is vo and vector_outputs.run is vo.run
