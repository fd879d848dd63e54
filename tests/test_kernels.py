import pytest
import torch
from torch import nn

import pathkernel as pk
from reference import load_flat, naive_jacobian, naive_kernel, randn, relative_error

class SmallConvNet(nn.Module):
    """(n, 1, 12) -> (n, 2): conv, tanh, pool, linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv1d(1, 4, kernel_size=3, padding=1).double()
        self.pool = nn.AvgPool1d(2)
        self.head = nn.Linear(4 * 6, 2).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(torch.tanh(self.conv(x))).flatten(1))


@pytest.fixture
def x2d():
    return randn(7, 2, seed=1)


def test_mlp_kernel_matches_naive_loop(x2d):
    model = pk.MLP(2, 16, 3, dtype=torch.float64)
    x2 = randn(5, 2, seed=2)
    K = pk.tangent_kernel(model, x2d, x2)
    assert K.shape == (7, 5)
    assert relative_error(K, naive_kernel(model, x2d, x2)[:, :, 0, 0]) < 1e-10


def test_conv_net_kernel_matches_naive_loop():
    model = SmallConvNet()
    x = randn(6, 1, 12, seed=4)
    K = pk.tangent_kernel(model, x)
    assert K.shape == (6, 6, 2, 2)
    assert relative_error(K, naive_kernel(model, x, x)) < 1e-10


def test_three_output_kernel_and_features(x2d):
    model = pk.MLP(2, 8, 2, out_dim=3, activation="tanh", dtype=torch.float64)
    K = pk.tangent_kernel(model, x2d)
    assert K.shape == (7, 7, 3, 3)
    assert relative_error(K, naive_kernel(model, x2d, x2d)) < 1e-10
    phi = pk.tangent_features(model, x2d)
    assert phi.shape == (7, 3, sum(p.numel() for p in model.parameters()))
    assert relative_error(phi, naive_jacobian(model, x2d)) < 1e-10


def test_scalar_features_shape_and_values(x2d):
    model = pk.MLP(2, 8, 3, activation="softplus", dtype=torch.float64)
    phi = pk.tangent_features(model, x2d)
    assert phi.shape == (7, sum(p.numel() for p in model.parameters()))
    assert relative_error(phi, naive_jacobian(model, x2d)[:, 0]) < 1e-10


def test_normalized_kernel_is_a_cosine(x2d):
    model = pk.MLP(2, 16, 3, dtype=torch.float64)
    Kn = pk.tangent_kernel(model, x2d, normalized=True)
    torch.testing.assert_close(Kn.diagonal(), torch.ones(7, dtype=torch.float64), rtol=0, atol=1e-12)
    K = naive_kernel(model, x2d, x2d)[:, :, 0, 0]
    d = K.diagonal().sqrt()
    assert relative_error(Kn, K / d[:, None] / d[None, :]) < 1e-10
    vector = pk.MLP(2, 8, 2, out_dim=2, dtype=torch.float64)
    Kv = pk.tangent_kernel(vector, x2d, normalized=True)
    diag = torch.stack([Kv[i, i].diagonal() for i in range(7)])
    torch.testing.assert_close(diag, torch.ones(7, 2, dtype=torch.float64), rtol=0, atol=1e-12)


def test_two_parameter_vectors(x2d):
    model = pk.MLP(2, 8, 3, dtype=torch.float64)
    theta = pk.flat_parameters(model)
    other = theta + 0.1 * randn(theta.numel(), seed=5)
    K = pk.tangent_kernel(model, x2d, x2d[:3], params=theta, params2=other)
    reference = naive_kernel(model, x2d, x2d[:3], model2=load_flat(model, other))[:, :, 0, 0]
    assert relative_error(K, reference) < 1e-10


@pytest.mark.parametrize("max_memory", [1, 20_000])
def test_chunked_kernel_equals_unchunked(x2d, max_memory):
    model = pk.MLP(2, 16, 3, dtype=torch.float64)
    x2 = randn(9, 2, seed=6)
    for second in (None, x2):
        full = pk.tangent_kernel(model, x2d, second)
        chunked = pk.tangent_kernel(model, x2d, second, max_memory=max_memory)
        assert relative_error(chunked, full) < 1e-13


def test_float32_keeps_dtype(x2d):
    model = pk.MLP(2, 8, 3)
    K = pk.tangent_kernel(model, x2d.float())
    assert K.dtype == torch.float32
    reference = pk.tangent_kernel(pk.MLP(2, 8, 3, dtype=torch.float64), x2d)
    assert relative_error(K.double(), reference) < 1e-5


def test_bad_inputs_raise_clear_errors(x2d):
    model = pk.MLP(2, 8, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match="dtype"):
        pk.tangent_kernel(model, x2d.float())
    with pytest.raises(ValueError, match="shape"):
        pk.tangent_kernel(model, x2d, randn(3, 5, seed=0))
    with pytest.raises(ValueError, match="shape"):
        pk.tangent_kernel(model, x2d[0])
    with pytest.raises(ValueError, match="flat vector"):
        pk.tangent_kernel(model, x2d, params=torch.zeros(3, dtype=torch.float64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        pk.tangent_features(model, [[0.0, 1.0]])
