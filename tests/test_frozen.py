"""Frozen parameters (requires_grad=False): one convention for kernels, training, decomposition
and recording. Kernels and features are over the trainable coordinates by default
(`parameters="all"` for every coordinate); paths keep every coordinate, frozen ones constant.
References: plain autograd Jacobians of a fully trainable copy, columns selected by hand."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import pathkernel as pk
from pathkernel.decomposition import AdditivityWarning
from reference import load_flat, naive_jacobian, randn, relative_error


def full_jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(n, c, P_all) by autograd loops on a copy whose every parameter requires grad."""
    clone = copy.deepcopy(model)
    for p in clone.parameters():
        p.requires_grad_(True)
    return naive_jacobian(clone, x)


def trainable_columns(model: nn.Module) -> torch.Tensor:
    return torch.cat([torch.full((p.numel(),), p.requires_grad) for p in model.parameters()])


def mlp(out_dim: int = 1, seed: int = 0) -> nn.Module:
    return pk.MLP(2, 6, 3, out_dim=out_dim, activation="tanh", seed=seed, dtype=torch.float64)


def conv_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Unflatten(1, (1, 4)), nn.Conv1d(1, 3, 2), nn.Tanh(), nn.Flatten(),
                         nn.Linear(9, 2)).double()


def freeze(model: nn.Module, *indices: int) -> nn.Module:
    for i, p in enumerate(model.parameters()):
        if i in indices:
            p.requires_grad_(False)
    return model


@pytest.mark.parametrize("method", ["structured", "generic"])
@pytest.mark.parametrize("frozen", [(0,), (1,), (0, 1), (2, 5)])
def test_features_and_kernel_use_the_trainable_columns(method, frozen):
    model = freeze(mlp(out_dim=2), *frozen)
    x1, x2 = randn(5, 2, seed=1), randn(4, 2, seed=2)
    J1, J2 = full_jacobian(model, x1), full_jacobian(model, x2)
    mask = trainable_columns(model)
    features = pk.tangent_features(model, x1, method=method)
    assert features.shape == (5, 2, int(mask.sum()))
    torch.testing.assert_close(features, J1[:, :, mask], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(pk.tangent_features(model, x1, method=method, parameters="all"), J1,
                               rtol=1e-12, atol=1e-14)
    expected = torch.einsum("icp,jdp->ijcd", J1[:, :, mask], J2[:, :, mask])
    torch.testing.assert_close(pk.tangent_kernel(model, x1, x2, method=method), expected, rtol=1e-12, atol=1e-14)
    every = torch.einsum("icp,jdp->ijcd", J1, J2)
    torch.testing.assert_close(pk.tangent_kernel(model, x1, x2, method=method, parameters="all"), every,
                               rtol=1e-12, atol=1e-14)


def test_generic_route_of_a_convolutional_model_with_a_frozen_layer():
    model = freeze(conv_net(), 0, 1)
    x = randn(5, 4, seed=3)
    J = full_jacobian(model, x)
    mask = trainable_columns(model)
    torch.testing.assert_close(pk.tangent_kernel(model, x), torch.einsum("icp,jdp->ijcd", J[:, :, mask],
                                                                         J[:, :, mask]), rtol=1e-12, atol=1e-14)


def test_two_weight_vectors_keep_each_sides_frozen_values():
    model = freeze(mlp(), 0)
    x = randn(4, 2, seed=4)
    theta = pk.flat_parameters(model)
    other = theta + 0.1 * randn(theta.numel(), seed=5)
    mask = trainable_columns(model)
    J1 = full_jacobian(load_flat(model, theta), x)[:, 0]
    J2 = full_jacobian(load_flat(model, other), x)[:, 0]
    for method in ("structured", "generic"):
        K = pk.tangent_kernel(model, x, params=theta, params2=other, method=method)
        torch.testing.assert_close(K, J1[:, mask] @ J2[:, mask].T, rtol=1e-12, atol=1e-14)


def test_every_parameter_frozen_names_requires_grad():
    model = mlp()
    for p in model.parameters():
        p.requires_grad_(False)
    x = randn(3, 2, seed=0)
    with pytest.raises(ValueError, match="requires_grad"):
        pk.tangent_kernel(model, x)
    with pytest.raises(ValueError, match="requires_grad"):
        pk.train(model, x, x[:, 0], lr=0.1, steps=2)
    assert pk.tangent_kernel(model, x, parameters="all").shape == (3, 3)
    with pytest.raises(ValueError, match="parameters='some'"):
        pk.tangent_kernel(model, x, parameters="some")


OPTIMIZERS = [("gd", {}), ("sgd", {"batch_size": 4}), ("momentum", {"momentum": 0.8}), ("adam", {}),
              ("adamw", {"weight_decay": 0.1}), ("gd", {"weight_decay": 0.05}), ("adam", {"weight_decay": 0.05})]


@pytest.mark.parametrize("optimizer,options", OPTIMIZERS)
def test_training_with_frozen_parameters_decomposes_exactly(optimizer, options):
    x = randn(8, 2, seed=6)
    y = torch.sin(x[:, 0])
    model = freeze(mlp(), 1, 4)
    theta0 = pk.flat_parameters(model)
    lr = 0.01 if optimizer.startswith("adam") else 0.1
    path = pk.train(model, x, y, lr=lr, steps=6, optimizer=optimizer, **options)
    mask = trainable_columns(model)
    assert torch.equal(path.trainable, mask)
    assert torch.equal(path.params[:, ~mask], theta0[~mask].expand(7, -1))
    assert not torch.equal(path.params[-1, mask], theta0[mask])
    dec = pk.domingos(path, randn(3, 2, seed=7), exact=True, per_sample=True)
    assert dec.additivity_error < 1e-12
    assert dec.residual.abs().max() < 1e-12


def test_frozen_gd_per_sample_terms_against_an_autograd_reference():
    x = randn(6, 2, seed=8)
    y = torch.cos(x[:, 1])
    model = freeze(mlp(), 0, 3)
    path = pk.train(model, x, y, lr=0.2, steps=4)
    xq = randn(3, 2, seed=9)
    mask = trainable_columns(model)
    per_sample = torch.zeros(3, 6, dtype=torch.float64)
    for k in range(path.steps):
        clone = load_flat(model, path.params[k])
        lprime = (clone(x).detach()[:, 0] - y) / 6
        K = full_jacobian(clone, xq)[:, 0, mask] @ full_jacobian(clone, x)[:, 0, mask].T
        per_sample -= path.lrs[k] * K * lprime
    for method in ("structured", "generic"):
        dec = pk.domingos(path, xq, per_sample=True, method=method)
        assert relative_error(dec.per_sample, per_sample) < 1e-12


def test_adam_with_an_unused_parameter():
    class WithSpare(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = mlp()
            self.spare = nn.Parameter(torch.zeros(3, dtype=torch.float64))

        def forward(self, x):
            return self.body(x)

    model = WithSpare()
    x = randn(6, 2, seed=10)
    path = pk.train(model, x, x[:, 0], lr=0.01, steps=3, optimizer="adam")
    # a module's own parameters come first in model.parameters(): the spare is coordinates 0..2
    assert torch.equal(path.params[:, :3], torch.zeros(4, 3, dtype=torch.float64))
    assert torch.equal(path.scales[:, :3], torch.zeros(3, 3, dtype=torch.float64))
    dec = pk.domingos(path, x[:2], exact=True, per_sample=True)
    assert dec.additivity_error < 1e-12


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("storage", ["memory", "replay"])
def test_recorder_accepts_an_optimizer_over_the_trainable_parameters(kind, storage, tmp_path):
    x = randn(8, 2, seed=11)
    y = torch.sin(x[:, 0])
    model = freeze(mlp(), 0, 1)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = (torch.optim.SGD(trainable, lr=0.1, momentum=0.5) if kind == "sgd"
                 else torch.optim.Adam(trainable, lr=0.01))
    recorder = pk.Recorder(model, optimizer, x, y, loss="mse", storage=storage, directory=tmp_path)
    for step in range(4):
        index = torch.arange(8).roll(step)[:4]
        optimizer.zero_grad()
        (0.5 * (model(x[index]).squeeze(-1) - y[index]).pow(2)).mean().backward()
        optimizer.step()
        recorder.step(index)
    dec = pk.domingos(recorder.path, randn(2, 2, seed=12), exact=True, per_sample=True)
    assert dec.additivity_error < 1e-12
    assert dec.residual.abs().max() < 1e-12


def test_recorder_names_a_trainable_parameter_left_out_of_the_optimizer():
    model = mlp()
    first = list(model.parameters())[:2]
    x = randn(4, 2, seed=13)
    with pytest.raises(ValueError, match="requires_grad=True but are not in the optimizer"):
        pk.Recorder(model, torch.optim.SGD(first, lr=0.1), x, x[:, 0], loss="mse", storage="memory")


def test_changed_flags_after_training_are_refused():
    x = randn(6, 2, seed=14)
    model = freeze(mlp(), 0)
    path = pk.train(model, x, x[:, 0], lr=0.1, steps=2)
    list(model.parameters())[0].requires_grad_(True)
    with pytest.raises(ValueError, match="requires_grad flags changed"):
        pk.domingos(path, x[:2], per_sample=True)


def test_additivity_error_catches_a_loop_that_clips_gradients():
    x = randn(8, 2, seed=15)
    y = 3 * torch.sin(2 * x[:, 0])
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    recorder = pk.Recorder(model, optimizer, x, y, loss="mse", storage="memory", verify=False)
    for _ in range(5):
        optimizer.zero_grad()
        (0.5 * (model(x).squeeze(-1) - y).pow(2)).mean().backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.01)
        optimizer.step()
        recorder.step(torch.arange(8))
    with pytest.warns(AdditivityWarning, match="miss rhs - initial"):
        dec = pk.domingos(recorder.path, x[:3], exact=True, per_sample=True)
    assert dec.additivity_error > 0.1
    assert dec.residual.abs().max() < 1e-12  # the rhs itself comes from the recorded steps: still exact


def test_kernel_neighbours_rank_by_the_trainable_cosine():
    from pathkernel.neighbours import kernel_neighbours

    model = freeze(mlp(), 0, 1)
    queries, x_train = randn(3, 2, seed=16), randn(10, 2, seed=17)
    mask = trainable_columns(model)
    Jq, Jt = full_jacobian(model, queries)[:, 0, mask], full_jacobian(model, x_train)[:, 0, mask]
    cosine = (Jq @ Jt.T) / (Jq.norm(dim=1)[:, None] * Jt.norm(dim=1)[None, :])
    assert torch.equal(kernel_neighbours(model, queries, x_train, 4), cosine.argsort(dim=1, descending=True)[:, :4])
    every = kernel_neighbours(model, queries, x_train, 4, parameters="all")
    assert every.shape == (3, 4)


def test_structured_features_of_the_trainable_tensors_alone():
    from pathkernel.kernels import structured

    model = freeze(mlp(out_dim=2), 0, 3, 4)
    chain = structured.chain_of(model)
    x = randn(5, 2, seed=18)
    theta = pk.flat_parameters(model)
    every = structured.features(chain, theta, x)
    trainable = structured.features(chain, theta, x, trainable_only=True)
    mask = trainable_columns(model)
    assert trainable.shape == (5, 2, int(mask.sum()))
    assert torch.equal(trainable, every[:, :, mask])


def test_restricted_function_of_a_model_differentiates_the_trainable_tensors():
    from pathkernel.functional import flat_function, restricted_function

    model = freeze(conv_net(), 0, 1, 2)  # the conv layer and the last weight frozen: only the last bias trains
    theta = pk.flat_parameters(model)
    mask = trainable_columns(model)
    g = restricted_function(flat_function(model), theta, mask)
    sub = theta[mask].clone().requires_grad_(True)
    out = g(sub, randn(3, 4, seed=19)).sum()
    (gradient,) = torch.autograd.grad(out, sub)
    assert gradient.shape == (int(mask.sum()),)
    torch.testing.assert_close(gradient, full_jacobian(model, randn(3, 4, seed=19)).sum(0).sum(0)[mask])
