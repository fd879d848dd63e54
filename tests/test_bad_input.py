"""Bad input gets a clear error before any long work, never a NaN or wrong number in silence
(issue 16): non-finite data, boolean learning rates, normalized kernels at zero-gradient
points, random or batch-coupled modules in training mode, shape mismatches, models without
parameters, results that cannot fit in memory, kinked models in exact mode."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

import pathkernel as pk
from pathkernel.decomposition import NonSmoothExactError
from reference import randn


def mlp(**options) -> nn.Module:
    return pk.MLP(2, 8, 3, dtype=torch.float64, **options)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_are_named(bad):
    model, x = mlp(), randn(5, 2, seed=0)
    x[3, 1] = bad
    for call in (lambda: pk.tangent_kernel(model, x), lambda: pk.tangent_features(model, x),
                 lambda: pk.train(model, x, x[:, 0].nan_to_num(), lr=0.1, steps=1)):
        with pytest.raises(ValueError, match=r"x1? has 1 NaN/inf entries \(in examples \[3\]"):
            call()


def test_non_finite_targets_blame_the_data_not_the_learning_rate():
    x = randn(5, 2, seed=1)
    y = x[:, 0].clone()
    y[2] = float("nan")
    with pytest.raises(ValueError, match="y has 1 NaN/inf entries"):
        pk.train(mlp(), x, y, lr=0.1, steps=3)


@pytest.mark.parametrize("lr", [True, torch.tensor([True, False])])
def test_boolean_learning_rates_are_refused(lr):
    x = randn(4, 2, seed=2)
    with pytest.raises(TypeError, match="not a boolean"):
        pk.train(mlp(), x, x[:, 0], lr=lr, steps=2)


@pytest.mark.parametrize("method", ["structured", "generic"])
def test_normalized_kernel_at_a_zero_gradient_point(method):
    model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Tanh(), nn.Linear(3, 1, bias=False)).double()
    x = randn(4, 2, seed=3)
    x[1] = 0.0  # no bias: every gradient vanishes at the origin
    with pytest.raises(ValueError, match=r"normalized=True is undefined at x1 rows \[1\]"):
        pk.tangent_kernel(model, x, normalized=True, method=method)
    assert torch.isfinite(pk.tangent_kernel(model, x, method=method)).all()


@pytest.mark.parametrize("module", [nn.Dropout(0.5), nn.BatchNorm1d(8)])
def test_random_or_coupled_modules_in_training_mode(module):
    model = nn.Sequential(nn.Linear(2, 8), module, nn.Tanh(), nn.Linear(8, 1)).double()
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    x = randn(6, 2, seed=4)
    for call in (lambda: pk.tangent_kernel(model, x), lambda: pk.tangent_features(model, x),
                 lambda: pk.train(model, x, x[:, 0], lr=0.1, steps=1)):
        with pytest.raises(ValueError, match=r"training mode.*call model.eval\(\)"):
            call()
    for name, b in model.named_buffers():  # no forward pass ran: BatchNorm's running statistics unchanged
        assert torch.equal(b, buffers[name])
    model.eval()
    assert pk.tangent_kernel(model, x).shape == (6, 6)


def test_feature_dimension_mismatch_names_the_expected_size():
    with pytest.raises(ValueError, match=r"inputs of shape \(4, 3\).*in_features=2"):
        pk.tangent_kernel(mlp(), randn(4, 3, seed=5))


def test_a_model_without_parameters():
    with pytest.raises(ValueError, match="has no parameters"):
        pk.tangent_kernel(nn.Tanh(), randn(3, 2, seed=6))


def test_a_kernel_too_large_for_memory_is_refused_before_allocating():
    model = mlp(out_dim=4)
    x = torch.zeros(400_000, 2, dtype=torch.float64)
    with pytest.raises(MemoryError, match=r"tangent_kernel of shape \(400000, 400000, 4, 4\).*needs 19073\.5 GiB"):
        pk.tangent_kernel(model, x)


def test_per_sample_outputs_on_a_train_path_picks_the_reverse_route():
    x = randn(8, 2, seed=7)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    model = pk.MLP(2, 6, 2, out_dim=3, dtype=torch.float64)
    path = pk.train(model, x, y, lr=0.2, steps=4, loss="cross_entropy")
    xq = randn(3, 2, seed=8)
    full = pk.domingos(path, xq, exact=True, per_sample=True)
    one = pk.domingos(path, xq, exact=True, per_sample=True, outputs=[2])
    torch.testing.assert_close(one.per_sample[..., 0], full.per_sample[..., 2], rtol=1e-10, atol=1e-13)
    assert one.additivity_error < 1e-12


def test_exact_mode_refuses_unresolvable_kinks_quickly():
    x = randn(32, 2, seed=9)
    model = pk.MLP(2, 32, 3, activation="relu", dtype=torch.float64, seed=1)
    path = pk.train(model, x, torch.sin(3 * x[:, 0]), lr=0.3, steps=200)
    started = time.perf_counter()
    with pytest.warns(pk.NonSmoothActivationWarning), pytest.raises(NonSmoothExactError) as raised:
        pk.domingos(path, randn(16, 2, seed=10), exact=True)
    message = str(raised.value)
    assert "ReLU" in message and "exact=False" in message and "GELU" in message and "would take at least" in message
    assert time.perf_counter() - started < 60  # the probe stops at 5 s; the full refinement took ~90 s
    with pytest.warns(pk.NonSmoothActivationWarning):
        dec = pk.domingos(path, randn(16, 2, seed=10))  # Theorem 2 still answers, with its residual
    assert torch.isfinite(dec.residual).all()


def test_exact_mode_on_a_kinked_model_whose_steps_cross_no_kink():
    # LeakyReLU after a first layer whose units never change sign on these inputs: every
    # step is polynomial in s, the probe converges and the decomposition is exact
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 4), nn.LeakyReLU(0.1), nn.Linear(4, 1)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0], [-1.0], [2.0], [0.5]]))
        model[0].bias.fill_(5.0)
    x = torch.linspace(-1, 1, 8, dtype=torch.float64)[:, None]
    path = pk.train(model, x, x[:, 0] ** 2, lr=0.01, steps=20)
    with pytest.warns(pk.NonSmoothActivationWarning):
        dec = pk.domingos(path, x[:3], exact=True, per_sample=True)
    assert dec.residual.abs().max() < 1e-13
    assert dec.additivity_error < 1e-12


def test_a_strided_decomposition_reports_its_additivity_without_warning():
    import warnings

    x = randn(12, 2, seed=11)
    path = pk.train(mlp(), x, torch.sin(2 * x[:, 0]), lr=0.3, steps=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pk.AdditivityWarning)
        strided = pk.domingos(path, x[:3], per_sample=True, stride=4)
    assert strided.additivity_error > 1e-6  # the snapshot quadrature's error, reported
    assert pk.domingos(path, x[:3], per_sample=True).additivity_error < 1e-12


def test_selu_counts_as_kinked_and_elu_only_off_alpha_one():
    from pathkernel.functional import kinked_activations

    assert kinked_activations(nn.Sequential(nn.Linear(2, 3), nn.SELU(), nn.Linear(3, 1))) == ["SELU"]
    assert kinked_activations(nn.Sequential(nn.Linear(2, 3), nn.ELU(alpha=0.5), nn.Linear(3, 1))) == ["ELU"]
    assert kinked_activations(nn.Sequential(nn.Linear(2, 3), nn.ELU(), nn.Linear(3, 1))) == []


def test_a_probe_cut_off_by_its_time_limit_does_not_refuse_a_resolvable_model(monkeypatch):
    from pathkernel.decomposition import quadrature

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 4), nn.LeakyReLU(0.1), nn.Linear(4, 1)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0], [-1.0], [2.0], [0.5]]))
        model[0].bias.fill_(5.0)  # no unit changes sign on these inputs: every step is polynomial
    x = torch.linspace(-1, 1, 8, dtype=torch.float64)[:, None]
    path = pk.train(model, x, x[:, 0] ** 2, lr=0.01, steps=20)
    monkeypatch.setattr(quadrature, "PROBE_SECONDS", 0.0)  # every probed step is cut off at once
    with pytest.warns(pk.NonSmoothActivationWarning):
        dec = pk.domingos(path, x[:3], exact=True)
    assert dec.residual.abs().max() < 1e-13


def test_instance_norm_without_running_statistics_is_per_example():
    model = nn.Sequential(nn.Unflatten(1, (2, 3)), nn.InstanceNorm1d(2), nn.Flatten(), nn.Linear(6, 1)).double()
    assert model[1].training and not model[1].track_running_stats
    assert pk.tangent_kernel(model, randn(4, 6, seed=12)).shape == (4, 4)
    tracked = nn.Sequential(nn.Unflatten(1, (2, 3)), nn.InstanceNorm1d(2, track_running_stats=True), nn.Flatten(),
                            nn.Linear(6, 1)).double()
    with pytest.raises(ValueError, match="InstanceNorm1d in training mode"):
        pk.tangent_kernel(tracked, randn(4, 6, seed=12))
