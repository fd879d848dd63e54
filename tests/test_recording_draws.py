"""`Recorder.step(indices, inputs=, targets=)`: loops whose inputs and targets are drawn afresh at every
step (a DDPM's noised points), decomposed per example as the sum over its draws.

The reference is a naive per-step autograd loop: for every step k and every draw j of the batch,
<int_0^1 grad f(w_k + s Delta_k, q) ds, -lr l'_j grad f(w_k, input_{k,j})>, the segment integral by a
20-node Gauss-Legendre rule of numpy (not the package's quadrature), summed per example.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pathkernel as pk
from pathkernel.recording import RecordingError

N, STEPS, LR, BATCH = 5, 6, 0.2, 4


def noised_loop(optimizer_name: str, storage: str = "memory"):
    """A tiny DDPM-like loop: each step draws BATCH examples (with repetition) and, per draw, a noise
    level t and a noise eps; the model maps (x_t, t) to a prediction of eps (loss mean 1/2 ||.||^2)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(N, 2, generator=g, dtype=torch.float64)
    model = pk.MLP(3, 12, 3, out_dim=2, activation="gelu", seed=1, dtype=torch.float64)
    optimizer = (torch.optim.SGD(model.parameters(), lr=LR) if optimizer_name == "sgd"
                 else torch.optim.Adam(model.parameters(), lr=0.02))
    # the training set as the recorder sees it: clean points at t = 0, target 0
    data = torch.cat([x, torch.zeros(N, 1, dtype=torch.float64)], dim=1)
    rec = pk.Recorder(model, optimizer, data, torch.zeros(N, 2, dtype=torch.float64), loss="mse", storage=storage)
    draws = []
    for _ in range(STEPS):
        index = torch.randint(0, N, (BATCH,), generator=g)
        index[1] = index[0]  # an example drawn twice in one step
        t = torch.rand(BATCH, 1, generator=g, dtype=torch.float64)
        eps = torch.randn(BATCH, 2, generator=g, dtype=torch.float64)
        inputs = torch.cat([torch.cos(t) * x[index] + torch.sin(t) * eps, t], dim=1)
        optimizer.zero_grad()
        loss = 0.5 * ((model(inputs) - eps) ** 2).sum(dim=1).mean()
        loss.backward()
        optimizer.step()
        rec.step(index, inputs=inputs, targets=eps)
        draws.append((index, inputs, eps))
    return model, rec, draws


def reference(model, params, draws, queries):
    """(m, N, 2): each example's contribution by the naive loop of the module docstring (SGD)."""
    f = pk.functional.flat_function(model)
    nodes, weights = np.polynomial.legendre.leggauss(20)
    out = torch.zeros(queries.shape[0], N, 2, dtype=torch.float64)
    for k, (index, inputs, eps) in enumerate(draws):
        w, delta = params[k], params[k + 1] - params[k]
        jq = sum(wt / 2 * torch.autograd.functional.jacobian(lambda p: f(p, queries), w + (s + 1) / 2 * delta)
                 for s, wt in zip(nodes, weights))  # (m, 2, P)
        for j in range(len(index)):
            row = inputs[j : j + 1]
            lprime = ((f(w, row) - eps[j : j + 1]) / len(index))[0]  # (2,)
            jx = torch.autograd.functional.jacobian(lambda p: f(p, row), w)[0]  # (2, P)
            out[:, index[j]] += -LR * torch.einsum("mcp,dp,d->mc", jq, jx, lprime)
    return out


def test_per_example_contributions_match_the_naive_loop_and_sum_to_the_change():
    model, rec, draws = noised_loop("sgd")
    queries = torch.tensor([[0.3, -0.2, 0.05], [1.0, 0.5, 0.9], [-0.4, 0.8, 0.5]], dtype=torch.float64)
    dec = pk.domingos(rec.path, queries, exact=True, per_sample=True)
    assert dec.per_sample.shape == (3, N, 2)
    expected = reference(model, rec.path.params, draws, queries)
    assert torch.allclose(dec.per_sample, expected, rtol=1e-9, atol=1e-13)
    change = dec.prediction - dec.initial
    assert (dec.per_sample.sum(dim=1) - change).abs().max() < 1e-13
    assert dec.residual.abs().max() < 1e-13
    # the per-draw path gives one term per draw, and its sums per example are the same
    per_draw = pk.domingos(rec.draw_path, queries, exact=True, per_sample=True)
    assert per_draw.per_sample.shape == (3, STEPS * BATCH, 2)
    owners = torch.cat([index for index, _, _ in draws])
    summed = torch.zeros(3, N, 2, dtype=torch.float64).index_add_(1, owners, per_draw.per_sample)
    assert torch.allclose(summed, dec.per_sample, rtol=1e-12, atol=1e-15)


def test_adam_draws_add_up_to_the_change():
    _, rec, _ = noised_loop("adam")
    queries = torch.tensor([[0.1, 0.2, 0.3], [-1.0, 0.4, 0.7]], dtype=torch.float64)
    dec = pk.domingos(rec.path, queries, exact=True, per_sample=True)
    assert (dec.per_sample.sum(dim=1) - (dec.prediction - dec.initial)).abs().max() < 1e-12


def test_a_loop_without_draws_records_the_path_as_before():
    model = pk.MLP(2, 6, 2, activation="gelu", seed=0, dtype=torch.float64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    rec = pk.Recorder(model, optimizer, x, y, loss="mse", storage="memory")
    optimizer.zero_grad()
    (0.5 * ((model(x) - y) ** 2).sum(1).mean()).backward()
    optimizer.step()
    rec.step(torch.arange(4))
    assert rec.path.x is rec.x and "owners" not in rec.path.hyper


def test_bad_draws_are_refused_with_their_value():
    model, rec, draws = noised_loop("sgd")
    index, inputs, eps = draws[-1]
    rec.optimizer.zero_grad()
    (0.5 * ((model(inputs) - eps) ** 2).sum(dim=1).mean()).backward()
    rec.optimizer.step()
    for bad, match in ((dict(inputs=inputs), "both inputs= and targets="),
                       (dict(inputs=inputs[:2], targets=eps[:2]), "inputs has 2 rows but the batch has 4"),
                       (dict(inputs=inputs[:, :2], targets=eps), r"example shape \(2,\); x has \(3,\)"),
                       (dict(inputs=inputs.float(), targets=eps), "inputs have dtype torch.float32")):
        with pytest.raises(ValueError, match=match):
            rec.step(index, **bad)
    rec.step(index, inputs=inputs, targets=eps)  # a refused call records nothing
    assert len(rec.path.batches) == STEPS + 1


def test_draws_the_loss_did_not_use_are_caught():
    _, rec, draws = noised_loop("sgd")
    index, inputs, eps = draws[-1]
    rec.optimizer.zero_grad()
    (0.5 * ((rec.model(inputs) - eps) ** 2).sum(dim=1).mean()).backward()
    rec.optimizer.step()
    with pytest.raises(RecordingError, match="not the gradient"):
        rec.step(index, inputs=inputs, targets=eps + 1.0)


def test_replay_storage_refuses_draws():
    with pytest.raises(ValueError, match="storage='replay'"):
        noised_loop("sgd", storage="replay")


def test_a_gan_generator_decomposes_over_its_latent_draws_with_the_discriminator_push():
    """Generator steps by SGD on the non-saturating loss, recorded as a regression onto x + v (the
    discriminator's push v); the reference takes l'_j = d mean_j softplus(-D(x_j)) / d x_j from the
    discriminator directly, so it checks that the recording is the GAN's own step."""
    g_model = pk.MLP(2, 10, 3, out_dim=2, activation="gelu", seed=2, dtype=torch.float64)
    d_model = pk.MLP(2, 10, 3, out_dim=1, activation="gelu", seed=3, dtype=torch.float64)
    optimizer = torch.optim.SGD(g_model.parameters(), lr=LR)
    rec = pk.Recorder(g_model, optimizer, torch.zeros(BATCH, 2, dtype=torch.float64),
                      torch.zeros(BATCH, 2, dtype=torch.float64), loss="mse", storage="memory")
    gen = torch.Generator().manual_seed(4)
    f = pk.functional.flat_function(g_model)
    draws, lprimes = [], []
    for _ in range(STEPS):
        z = torch.randn(BATCH, 2, generator=gen, dtype=torch.float64)
        x = g_model(z)
        sample = x.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(torch.nn.functional.softplus(-d_model(sample)).mean(), sample)
        optimizer.zero_grad()
        torch.nn.functional.softplus(-d_model(x)).mean().backward()
        optimizer.step()
        rec.step(torch.arange(BATCH), inputs=z, targets=(x - BATCH * gradient).detach())
        draws.append(z)
        lprimes.append(gradient)
    queries = torch.tensor([[0.2, -0.7], [1.1, 0.3]], dtype=torch.float64)
    dec = pk.domingos(rec.draw_path, queries, exact=True, per_sample=True)
    params = rec.path.params
    nodes, weights = np.polynomial.legendre.leggauss(20)
    expected = torch.zeros(2, STEPS * BATCH, 2, dtype=torch.float64)
    for k, (z, lprime) in enumerate(zip(draws, lprimes)):
        w, delta = params[k], params[k + 1] - params[k]
        jq = sum(wt / 2 * torch.autograd.functional.jacobian(lambda p: f(p, queries), w + (s + 1) / 2 * delta)
                 for s, wt in zip(nodes, weights))
        jz = torch.autograd.functional.jacobian(lambda p: f(p, z), w)  # (b, 2, P)
        expected[:, k * BATCH : (k + 1) * BATCH] = -LR * torch.einsum("mcp,bdp,bd->mbc", jq, jz, lprime)
    assert torch.allclose(dec.per_sample, expected, rtol=1e-9, atol=1e-13)
    assert (dec.per_sample.sum(dim=1) - (dec.prediction - dec.initial)).abs().max() < 1e-13


@settings(max_examples=12)
@given(optimizer=st.sampled_from(["sgd", "momentum", "adam"]), steps=st.integers(1, 4), batch=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_any_draw_schedule_decomposes_exactly_and_per_example_sums_per_draw(optimizer, steps, batch, seed):
    """Random optimizers, step counts and batches (examples drawn with repetition, fresh inputs and
    targets): the per-example terms add up to the change of the output (residual at round-off) and
    equal the per-draw terms summed by owner."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 3, generator=g, dtype=torch.float64)
    model = pk.MLP(3, 6, 2, out_dim=1, activation="tanh", seed=seed % 7, dtype=torch.float64)
    opt = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1), "momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
           "adam": lambda p: torch.optim.Adam(p, lr=0.01)}[optimizer](model.parameters())
    rec = pk.Recorder(model, opt, x, torch.zeros(N, 1, dtype=torch.float64), loss="mse", storage="memory")
    owners = []
    for _ in range(steps):
        index = torch.randint(0, N, (batch,), generator=g)
        inputs = x[index] + torch.randn(batch, 3, generator=g, dtype=torch.float64)
        targets = torch.randn(batch, 1, generator=g, dtype=torch.float64)
        opt.zero_grad()
        (0.5 * ((model(inputs) - targets) ** 2).sum(dim=1).mean()).backward()
        opt.step()
        rec.step(index, inputs=inputs, targets=targets)
        owners.append(index)
    queries = torch.randn(3, 3, generator=g, dtype=torch.float64)
    dec = pk.domingos(rec.path, queries, exact=True, per_sample=True)
    assert dec.residual.abs().max() < 1e-10 and dec.additivity_error < 1e-10
    per_draw = pk.domingos(rec.draw_path, queries, exact=True, per_sample=True).per_sample
    summed = torch.zeros_like(dec.per_sample).index_add_(1, torch.cat(owners), per_draw)
    torch.testing.assert_close(dec.per_sample, summed, rtol=1e-10, atol=1e-14)
