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


@pytest.mark.parametrize("model_dtype, input_dtype", [
    (torch.float32, torch.float64), (torch.float64, torch.float32), (torch.float32, torch.int64),
    (torch.float64, torch.bool), (torch.float32, torch.float16),
])
def test_input_of_another_dtype_is_a_type_error_naming_both(model_dtype, input_dtype):
    net = pk.ParityNet(8, dtype=model_dtype)
    x = planar1d.all_sequences(8).to(input_dtype)
    with pytest.raises(TypeError, match=rf"x has dtype {input_dtype}; expected the model's dtype {model_dtype}"):
        net(x)
    with pytest.raises(TypeError, match="torch.Tensor"):
        net(x.tolist())
    assert torch.equal(net(x.to(model_dtype)), planar1d.prefix_parity(x.double()).to(model_dtype))


@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0, float("nan"), float("inf")])
def test_parity_refuses_values_other_than_0_and_1(bad):
    net = pk.ParityNet(8, dtype=torch.float64)
    x = planar1d.omega(8, 3, 4, seed=0)
    x[2, 5] = bad
    with pytest.raises(ValueError, match=f"0/1 values; found {bad}"):
        net.parity(x)
    # forward is the network function at any real input (documented): no check of values, no error
    with torch.no_grad():
        assert net(x).shape == (4, 8)
    clean = planar1d.omega(8, 3, 4, seed=0)
    assert torch.equal(net.parity(clean), planar1d.prefix_parity(clean))


def test_checks_keep_torch_func_training_and_kernels_working():
    # forward's checks read only shape and dtype, so tangent kernels (torch.func), vmapped
    # stacked models (as in experiments.parity_training) and pk.train still run
    x = planar1d.omega(8, 2, 6, seed=1)
    net = pk.ParityNet(8, exact=False, dtype=torch.float64)
    assert pk.tangent_kernel(net, x).shape == (6, 6, 8, 8)
    models = [pk.ParityNet(8, exact=False, seed=s, dtype=torch.float64) for s in range(3)]
    params, buffers = torch.func.stack_module_state(models)
    template = pk.ParityNet(8, exact=False, dtype=torch.float64).to("meta")
    out = torch.func.vmap(lambda p, b, xs: torch.func.functional_call(template, (p, b), (xs,)))(
        params, buffers, x.expand(3, 6, 8))
    torch.testing.assert_close(out[1], models[1](x))
    path = pk.train(net, x, planar1d.prefix_parity(x), lr=0.1, steps=2)
    assert path.params.shape[0] == 3


def test_constructor_flags_are_checked():
    with pytest.raises(TypeError, match="exact='yes'"):
        pk.ParityNet(8, exact="yes")
    with pytest.raises(ValueError, match="seed=-1"):
        pk.ParityNet(8, exact=False, seed=-1)
    assert pk.ParityNet(8).dtype == torch.float32 and pk.ParityNet(8, dtype=torch.float64).dtype == torch.float64
