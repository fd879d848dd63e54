import pytest
import torch
from torch import nn

import pathkernel as pk
from pathkernel import structured
from reference import load_flat, naive_jacobian, naive_kernel, randn, relative_error


def sequential():
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Linear(6, 6, bias=False), nn.GELU(approximate="tanh"))
    return nn.Sequential(nn.Linear(3, 6), nn.Softplus(beta=2.0), inner, nn.Linear(6, 2)).double()


CHAINS = {
    "mlp-gelu": lambda: pk.MLP(3, 7, 3, dtype=torch.float64),
    "mlp-tanh-3-outputs": lambda: pk.MLP(3, 5, 4, out_dim=3, activation="tanh", dtype=torch.float64),
    "mlp-ntk-erf": lambda: pk.MLP(3, 6, 3, activation="erf", parameterization="ntk", weight_var=1.5,
                                  bias_var=0.2, dtype=torch.float64),
    "linear": lambda: pk.LinearModel(3, out_dim=2, dtype=torch.float64),
    "sequential": sequential,
}


@pytest.mark.parametrize("name", CHAINS)
def test_structured_kernel_matches_naive_loop(name):
    model = CHAINS[name]()
    assert structured.chain_of(model) is not None
    x1, x2 = randn(5, 3, seed=1), randn(4, 3, seed=2)
    K = pk.tangent_kernel(model, x1, x2, method="structured")
    reference = naive_kernel(model, x1, x2)
    if reference.shape[-1] == 1:
        reference = reference[..., 0, 0]
    assert relative_error(K, reference) < 1e-12


@pytest.mark.parametrize("name", CHAINS)
def test_structured_features_and_two_parameter_vectors(name):
    model = CHAINS[name]()
    x = randn(4, 3, seed=3)
    phi = pk.tangent_features(model, x, method="structured")
    reference = naive_jacobian(model, x)
    assert relative_error(phi, reference[:, 0] if reference.shape[1] == 1 else reference) < 1e-12
    theta = pk.flat_parameters(model)
    other = theta + 0.3 * randn(theta.numel(), seed=4)
    K = pk.tangent_kernel(model, x, x[:2], params2=other, method="structured")
    expected = naive_kernel(model, x, x[:2], model2=load_flat(model, other))
    assert relative_error(K, expected[..., 0, 0] if expected.shape[-1] == 1 else expected) < 1e-12


def test_structured_normalized_and_blocked():
    model = pk.MLP(3, 9, 3, out_dim=2, dtype=torch.float64)
    x = randn(11, 3, seed=5)
    full = pk.tangent_kernel(model, x, normalized=True, method="generic")
    for max_memory in (1, 500, 1 << 30):
        assert relative_error(pk.tangent_kernel(model, x, normalized=True, max_memory=max_memory), full) < 1e-12


class Custom(pk.MLP):
    def forward(self, x):
        return super().forward(x) ** 2


def test_non_chains_fall_back_to_the_generic_route():
    shared = nn.Linear(4, 4)
    conv = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(4, 1))
    batchnorm = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    for model in (Custom(3, 4, 2), nn.Sequential(nn.Linear(3, 4), shared, nn.Tanh(), shared, nn.Linear(4, 1)),
                  conv, batchnorm):
        assert structured.chain_of(model) is None
    model = Custom(3, 4, 2, dtype=torch.float64)
    x = randn(5, 3, seed=6)
    with pytest.raises(ValueError, match="structured"):
        pk.tangent_kernel(model, x, method="structured")
    assert relative_error(pk.tangent_kernel(model, x), naive_kernel(model, x, x)[..., 0, 0]) < 1e-12
    with pytest.raises(ValueError, match="method='fast'"):
        pk.tangent_kernel(model, x, method="fast")


@pytest.mark.parametrize("name", CHAINS)
def test_batched_directional_derivatives_match_finite_differences_and_autograd(name):
    model = CHAINS[name]()
    chain = structured.chain_of(model)
    theta = pk.flat_parameters(model)
    thetas = theta + 0.2 * randn(3, theta.numel(), seed=7)
    deltas = randn(3, theta.numel(), seed=8)
    x = randn(6, 3, seed=9)
    out, derivative = structured.directional(chain, thetas, x, deltas)
    for b in range(3):
        clone = load_flat(model, thetas[b])
        torch.testing.assert_close(out[b], clone(x).detach().reshape(6, -1), rtol=1e-13, atol=1e-14)
        expected = torch.einsum("ncp,p->nc", naive_jacobian(clone, x), deltas[b])
        assert relative_error(derivative[b], expected) < 1e-12
        h = 1e-6
        central = (load_flat(model, thetas[b] + h * deltas[b])(x) - load_flat(model, thetas[b] - h * deltas[b])(x)) / (2 * h)
        assert relative_error(derivative[b], central.detach().reshape(6, -1)) < 1e-7
