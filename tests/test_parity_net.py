import numpy as np
import pytest
import torch
from torch import nn

import pathkernel as pk
from pathkernel.data import planar1d


def parity_by_popcount(n):
    """Prefix parity of every r in [0, 2^n) from bit counts (x_j = bit j of r)."""
    r = np.arange(2**n)[:, None]
    masks = (2 << np.arange(n)) - 1  # bits 0..j
    return np.vectorize(lambda v: bin(v).count("1") & 1)(r & masks)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exhaustive_n16_all_65536_inputs(dtype):
    x = planar1d.all_sequences(16).to(dtype)
    with torch.no_grad():
        y = pk.ParityNet(16, exact=True, dtype=dtype)(x)
    assert y.dtype == dtype and y.shape == (65536, 16)
    assert np.array_equal(y.double().numpy(), parity_by_popcount(16))  # exact, not rounded


@pytest.mark.parametrize("n", [256, 1024])
def test_random_samples_long_sequences(n):
    rng = np.random.default_rng(n)
    bernoulli = torch.from_numpy((rng.random((64, n)) < 0.5).astype(np.float64))
    sparse = torch.cat([planar1d.omega(n, k, 16, seed=k) for k in (1, 2, 10, 51)])
    x = torch.cat([bernoulli, sparse])
    with torch.no_grad():
        y = pk.ParityNet(n, dtype=torch.float64)(x)
    assert np.array_equal(y.numpy(), np.cumsum(x.numpy(), axis=1) % 2)


@pytest.mark.parametrize("options", [dict(kernel_size=3), dict(kernel_size=4), dict(extra_convs=2, width=5)])
def test_variants_still_represent_the_exact_solution(options):
    x = planar1d.all_sequences(8)
    with torch.no_grad():
        y = pk.ParityNet(8, dtype=torch.float64, **options)(x)
    assert np.array_equal(y.numpy(), parity_by_popcount(8))
    bigger = sum(p.numel() for p in pk.ParityNet(8, **options).parameters())
    assert bigger > sum(p.numel() for p in pk.ParityNet(8).parameters())


def test_encoder_computes_block_parities():
    n, x = 32, planar1d.omega(32, 9, 40, seed=0)
    net = pk.ParityNet(n, dtype=torch.float64)
    h = x[:, None, :]
    for m, block in enumerate(net.encoder, start=1):
        with torch.no_grad():
            h = block(h)
        blocks = x.reshape(40, n // 2**m, 2**m)
        assert torch.equal(h[:, 0], blocks.sum(-1) % 2)                       # s^m
        assert torch.equal(h[:, 1], blocks[..., 2 ** (m - 1):].sum(-1) % 2)   # r^m, the right half


def test_built_from_convolutions_relu_and_resampling_only():
    net = pk.ParityNet(64, extra_convs=1)
    kinds = {type(m) for m in net.modules() if not list(m.children())}
    assert kinds == {nn.Conv1d, nn.ConvTranspose1d, nn.ReLU}
    strided = [m for m in net.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)) and m.stride == (2,)]
    assert len(strided) == 2 * 6  # log2(64) down-samplings and as many up-samplings


def test_random_init_is_seeded_and_not_exact():
    a, b = pk.ParityNet(16, exact=False, seed=1), pk.ParityNet(16, exact=False, seed=1)
    theta = pk.flat_parameters(a)
    assert torch.equal(theta, pk.flat_parameters(b))
    assert not torch.equal(theta, pk.flat_parameters(pk.ParityNet(16, exact=False, seed=2)))
    assert theta.numel() == pk.flat_parameters(pk.ParityNet(16)).numel()
    x = planar1d.all_sequences(16).float()
    with torch.no_grad():
        assert not torch.equal(a(x), planar1d.prefix_parity(x).float())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n=12 must be a power of two"):
        pk.ParityNet(12)
    with pytest.raises(ValueError, match="width=2"):
        pk.ParityNet(8, width=2)
    with pytest.raises(ValueError, match=r"expected \(batch, 8\)"):
        pk.ParityNet(8)(torch.zeros(3, 16))
    with pytest.raises(TypeError, match="dtype"):
        pk.ParityNet(8, dtype=torch.int64)
