import math

import pytest
import torch
from torch import nn

import pathkernel as pk
from reference import randn


def test_mlp_structure_and_shapes():
    model = pk.MLP(3, 7, 4, out_dim=2, activation="tanh")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 7), (7, 7), (7, 7), (7, 2)]
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == 3
    assert model(torch.zeros(5, 3)).shape == (5, 2)
    assert pk.MLP(3, 7, 1)(torch.zeros(5, 3)).shape == (5, 1)


def test_seed_determines_initialization_and_leaves_global_rng():
    state = torch.random.get_rng_state()
    a = pk.flat_parameters(pk.MLP(2, 9, 3, seed=4))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, pk.flat_parameters(pk.MLP(2, 9, 3, seed=4)))
    assert not torch.equal(a, pk.flat_parameters(pk.MLP(2, 9, 3, seed=5)))


def test_ntk_parameterization_forward():
    model = pk.MLP(2, 5, 2, activation="erf", parameterization="ntk", weight_var=2.0, bias_var=0.5, dtype=torch.float64)
    first, last = model.layers[0], model.layers[2]
    x = randn(4, 2, seed=0)
    hidden = torch.erf(math.sqrt(2.0 / 2) * x @ first.weight.T + math.sqrt(0.5) * first.bias)
    expected = math.sqrt(2.0 / 5) * hidden @ last.weight.T + math.sqrt(0.5) * last.bias
    torch.testing.assert_close(model(x), expected, rtol=1e-14, atol=1e-15)


def test_linear_model():
    model = pk.LinearModel(3, dtype=torch.float64)
    x = randn(4, 3, seed=1)
    torch.testing.assert_close(model(x)[:, 0], x @ model.linear.weight[0] + model.linear.bias[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"width": 0}, "width=0"),
        ({"depth": 1.5}, "depth=1.5"),
        ({"activation": "swish"}, "swish"),
        ({"parameterization": "mup"}, "mup"),
        ({"weight_var": -1.0}, "weight_var"),
    ],
)
def test_bad_arguments(kwargs, match):
    arguments = {"in_dim": 2, "width": 4, "depth": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        pk.MLP(**arguments)
    with pytest.raises(TypeError, match="dtype"):
        pk.MLP(2, 4, 2, dtype=torch.int64)


def test_integer_check_names_value_and_range():
    from pathkernel.validation import integer

    assert integer("k", 3) == 3
    for bad, match in [(0, r"k=0 must be an integer >= 1"), (True, "k=True"), (2.0, "k=2.0"), (9, r"\[1, 5\]")]:
        with pytest.raises(ValueError, match=match):
            integer("k", bad, 1, 5 if bad == 9 else None)
