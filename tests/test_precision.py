"""Mixed precision: float16/bfloat16 models recorded and decomposed in float32 (or float64 on
request). References: the float32/float64 copy of the same parameters (exactly representable),
and the additivity bounds stated in `pathkernel.precision`."""

from __future__ import annotations

import pytest
import torch

import pathkernel as pk
from pathkernel.precision import HALF_ADDITIVITY_TOLERANCE


def data(half: torch.dtype):
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0)).to(half)
    return x, torch.sin(2 * x[:, 0].float()).to(half)


def half_mlp(half: torch.dtype) -> torch.nn.Module:
    return pk.MLP(2, 16, 3, activation="gelu", seed=0).to(half)


@pytest.mark.parametrize("half,optimizer", [(torch.bfloat16, "gd"), (torch.bfloat16, "adam"), (torch.float16, "gd")])
def test_a_half_precision_path_decomposes_in_float32(half, optimizer):
    x, y = data(half)
    model = half_mlp(half)
    path = pk.train(model, x, y, lr=0.05 if optimizer == "gd" else 0.01, steps=20, optimizer=optimizer)
    assert path.params.dtype == half
    dec = pk.domingos(path, x[:4], exact=True, per_sample=True)
    assert dec.per_sample.dtype == torch.float32 and dec.rhs.dtype == torch.float32
    reference = pk.MLP(2, 16, 3, activation="gelu", seed=0).float()
    torch.nn.utils.vector_to_parameters(path.params[-1].float(), reference.parameters())
    torch.testing.assert_close(dec.prediction, reference(x[:4].float()).detach()[:, 0], rtol=0, atol=0)
    scale = float((dec.prediction - dec.initial).abs().max())
    assert float(dec.residual.abs().max()) < 1e-5 * max(scale, 1.0)  # float32 round-off of the float32 evaluation
    assert dec.additivity_error < HALF_ADDITIVITY_TOLERANCE[half]
    wide = pk.domingos(path, x[:4], exact=True, dtype=torch.float64)
    assert wide.rhs.dtype == torch.float64 and float(wide.residual.abs().max()) < 1e-12


@pytest.mark.parametrize("storage", ["memory", "disk", "replay"])
def test_a_bfloat16_loop_is_recorded_and_decomposed(storage, tmp_path):
    x, y = data(torch.bfloat16)
    model = half_mlp(torch.bfloat16)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    recorder = pk.Recorder(model, optimizer, x, y, loss="mse", storage=storage, directory=tmp_path)
    for k in range(10):
        index = torch.arange(16).roll(k)[:8]
        optimizer.zero_grad()
        (0.5 * (model(x[index]).squeeze(-1) - y[index]).pow(2)).mean().backward()
        optimizer.step()
        recorder.step(index)
    path = recorder.path
    assert torch.equal(path.params[-1].to(torch.bfloat16), torch.nn.utils.parameters_to_vector(model.parameters()))
    dec = pk.domingos(path, x[:4], exact=True, per_sample=True)
    assert float(dec.residual.abs().max()) < 1e-5
    assert dec.additivity_error < HALF_ADDITIVITY_TOLERANCE[torch.bfloat16]


def test_kernels_of_a_half_model_are_those_of_its_float32_copy():
    x, _ = data(torch.bfloat16)
    model = half_mlp(torch.bfloat16)
    copy = pk.MLP(2, 16, 3, activation="gelu", seed=0).float()
    torch.nn.utils.vector_to_parameters(pk.flat_parameters(model).float(), copy.parameters())
    for method in ("structured", "generic"):
        K = pk.tangent_kernel(model, x, method=method)
        assert K.dtype == torch.float32
        torch.testing.assert_close(K, pk.tangent_kernel(copy, x.float(), method=method), rtol=0, atol=0)
