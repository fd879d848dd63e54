import dataclasses
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.svm import SVC
from torch import nn

import pathkernel as pk
from pathkernel import plots
from pathkernel.experiments import last_layer as ll
from reference import naive_jacobian, randn

TINY = ll.Config(scale="quick", n=24, width=16, steps=200, grid=12, early_steps=5)


@pytest.mark.parametrize("parameterization", ["standard", "ntk"])
def test_network_is_linear_in_its_tangent_features(parameterization):
    model = pk.MLP(2, 7, 3, parameterization=parameterization, bias_var=0.3, dtype=torch.float64)
    x = randn(9, 2, seed=0)
    last = model.layers[-1]
    w_last = torch.cat([torch.zeros(sum(p.numel() for p in model.parameters()) - 8, dtype=torch.float64),
                        last.weight.detach().reshape(-1), last.bias.detach()])
    expected = naive_jacobian(model, x)[:, 0, :] @ w_last  # plain autograd, last layer written out
    f, linear = ll.linear_in_tangent_features(model, x)
    torch.testing.assert_close(linear, expected)
    torch.testing.assert_close(f, model(x).detach()[:, 0])
    torch.testing.assert_close(f, linear, rtol=0, atol=1e-13)


def test_last_layer_mask_and_its_refusals():
    mask = ll.last_layer_mask(pk.MLP(3, 5, 4))
    assert int(mask.sum()) == 6 and mask[-6:].all() and not mask[:-6].any()
    with pytest.raises(ValueError, match="linear layer"):
        ll.last_layer_mask(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.LayerNorm(3)))
    with pytest.raises(ValueError, match="3 outputs"):
        ll.linear_in_tangent_features(pk.MLP(2, 4, 2, out_dim=3, dtype=torch.float64), randn(2, 2, seed=0))


def test_svm_on_the_gram_matrix_equals_a_linear_svm_on_explicit_features():
    model = pk.MLP(2, 6, 3, dtype=torch.float64)
    x, labels = randn(30, 2, seed=1), torch.sign(randn(30, seed=2))
    svm = ll.tangent_svm(model, x, labels, C=5.0)
    features = naive_jacobian(model, x)[:, 0, :].numpy()
    reference = SVC(kernel="linear", C=5.0).fit(features, labels.numpy())
    xq = randn(7, 2, seed=3)
    np.testing.assert_allclose(ll.svm_decision(model, svm, x, xq),
                               reference.decision_function(naive_jacobian(model, xq)[:, 0, :].numpy()),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("call, match", [
    (lambda: ll.tangent_svm(pk.MLP(2, 4, 2, dtype=torch.float64), randn(4, 2, seed=0), torch.tensor([0.0, 1, 0, 1])),
     r"-1 or \+1"),
    (lambda: ll.tangent_svm(pk.MLP(2, 4, 2, dtype=torch.float64), randn(2, 2, seed=0), torch.tensor([-1.0, 1]), C=0),
     "C=0"),
    (lambda: dataclasses.replace(TINY, early_steps=300), "early_steps=300"),
    (lambda: dataclasses.replace(TINY, flip=0.5), "flip=0.5"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_effective_rank_counts_the_dimensions_spanned():
    features = randn(20, 4, seed=0).numpy()
    assert ll.effective_rank(features @ features.T) == 4
    assert ll.effective_rank(np.eye(5)) == 5


@pytest.fixture(scope="module")
def result():
    return ll.run(TINY, seed=0)


def test_run_separates_at_100_percent_and_records_consistent_signs(result):
    assert result.scenarios == ll.SCENARIOS
    assert result.network_accuracy[0] == 1.0 and result.svm_accuracy[0] == 1.0  # the corollary
    assert result.network_accuracy[1] < 1.0 and result.network_accuracy[2] < 1.0
    assert result.linear_gap < 1e-12
    np.testing.assert_allclose((result.network_sign == result.labels).mean(1), result.network_accuracy)
    np.testing.assert_allclose((result.svm_sign == result.labels).mean(1), result.svm_accuracy)
    assert np.all((result.agreement > 0.5) & (result.agreement <= 1))
    assert result.grid_network.shape == result.grid_svm.shape == (4, 12, 12)
    assert result.parameters[3] < result.parameters[0] and np.all(result.rank <= TINY.n)
    flips = result.labels[2] != result.labels[0]
    assert np.array_equal(flips, result.flipped) and np.array_equal(result.labels[1], result.labels[0])


def test_run_is_deterministic():
    config = dataclasses.replace(TINY, steps=20, grid=5)
    a, b = ll.run(config, seed=1), ll.run(config, seed=1)
    assert np.array_equal(a.grid_svm, b.grid_svm) and np.array_equal(a.network_accuracy, b.network_accuracy)


def test_numbers_are_read_from_the_result_and_the_preset(result):
    numbers = ll.numbers(result)
    chapter = (Path(__file__).parents[1] / "notebooks" / "last_layer.md").read_text()
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) <= set(numbers)
    assert numbers["lastlayer-scale"] == "quick" and numbers["lastlayer-n"] == "24"
    # each scenario's numbers recounted from the recorded signs and grids
    for k, key in enumerate(ll.SCENARIO_KEYS):
        assert numbers[f"lastlayer-net-{key}"] == f"{np.mean(result.network_sign[k] == result.labels[k]):.0%}"
        assert numbers[f"lastlayer-svm-{key}"] == f"{np.mean(result.svm_sign[k] == result.labels[k]):.0%}"
        agree = np.mean(np.sign(result.grid_network[k]) == np.sign(result.grid_svm[k]))
        assert numbers[f"lastlayer-agree-{key}"] == f"{agree:.0%}"
        assert numbers[f"lastlayer-rank-{key}"] == str(result.rank[k])
    assert float(numbers["lastlayer-linear-gap"]) < 1e-12
    # the glued width and depth give the trained network's recorded number of parameters: 2 -> w -> w -> 1
    w, depth = int(numbers["lastlayer-width"]), int(numbers["lastlayer-depth"])
    assert depth == 3 and result.parameters[0] == (2 * w + w) + (w * w + w) + (w + 1)
    assert numbers["lastlayer-noise"] == "0.1"
    paper = ll.Config.paper()
    assert (numbers["lastlayer-paper-n"], numbers["lastlayer-paper-width"], numbers["lastlayer-paper-steps"]) == (
        paper.n, paper.width, paper.steps)


def test_figure_and_table(result):
    fig = plots.last_layer.svm(result)
    assert len(fig.axes) == 8
    assert "training accuracy 100%" in fig.axes[0].get_title()
    plt.close(fig)
    frame = plots.last_layer.table(result).data
    assert frame["scenario"].tolist() == list(ll.SCENARIOS) and frame["rank of the Gram matrix"].tolist() == list(
        result.rank)
