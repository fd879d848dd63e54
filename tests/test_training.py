import pytest
import torch

import pathkernel as pk
from reference import randn


def data(n=20, seed=0):
    x = randn(n, 2, seed=seed)
    return x, torch.sin(3 * x[:, 0]) * x[:, 1]


def mse_gradient(model, theta, x, y):
    """grad of mean_i 1/2 (f(x_i) - y_i)^2 at flat theta, by plain autograd on a copy."""
    from reference import load_flat

    clone = load_flat(model, theta)
    loss = 0.5 * (clone(x).reshape(-1) - y).pow(2).mean()
    grads = torch.autograd.grad(loss, list(clone.parameters()))
    return torch.cat([g.reshape(-1) for g in grads])


def test_gd_path_matches_a_manual_loop():
    x, y = data()
    model = pk.MLP(2, 10, 3, dtype=torch.float64)
    theta = pk.flat_parameters(model)
    path = pk.train(model, x, y, lr=0.05, steps=15)
    assert path.params.shape == (16, theta.numel())
    for k in range(15):
        theta = theta - 0.05 * mse_gradient(model, theta, x, y)
        torch.testing.assert_close(path.params[k + 1], theta, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(pk.flat_parameters(model), path.params[-1], rtol=0, atol=0)


def test_momentum_and_adam_follow_their_formulas():
    x, y = data()
    for optimizer in ("momentum", "adam"):
        model = pk.MLP(2, 10, 3, dtype=torch.float64)
        theta = pk.flat_parameters(model)
        path = pk.train(model, x, y, lr=0.01, steps=10, optimizer=optimizer, momentum=0.8, betas=(0.85, 0.99), eps=1e-7)
        buf = m = v = torch.zeros_like(theta)
        for k in range(10):
            g = mse_gradient(model, theta, x, y)
            if optimizer == "momentum":
                buf = g if k == 0 else 0.8 * buf + g
                theta = theta - 0.01 * buf
            else:
                m = 0.85 * m + 0.15 * g
                v = 0.99 * v + 0.01 * g * g
                mhat, vhat = m / (1 - 0.85 ** (k + 1)), v / (1 - 0.99 ** (k + 1))
                theta = theta - 0.01 * mhat / (vhat.sqrt() + 1e-7)
            torch.testing.assert_close(path.params[k + 1], theta, rtol=1e-10, atol=1e-13)


def test_weight_decay_follows_torch_formulas():
    x, y = data()
    for optimizer in ("gd", "adam", "adamw"):
        model = pk.MLP(2, 10, 3, dtype=torch.float64)
        theta = pk.flat_parameters(model)
        path = pk.train(model, x, y, lr=0.01, steps=6, optimizer=optimizer, weight_decay=0.3)
        m = v = torch.zeros_like(theta)
        for k in range(6):
            g = mse_gradient(model, theta, x, y)
            if optimizer == "gd":
                theta = theta - 0.01 * (g + 0.3 * theta)
                continue
            shrunk = theta * (1 - 0.01 * 0.3) if optimizer == "adamw" else theta
            g = g if optimizer == "adamw" else g + 0.3 * theta
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            scale = 1 / ((1 - 0.9 ** (k + 1)) * ((v / (1 - 0.999 ** (k + 1))).sqrt() + 1e-8))
            torch.testing.assert_close(path.scales[k], scale, rtol=1e-12, atol=0)
            theta = shrunk - 0.01 * scale * m
            torch.testing.assert_close(path.params[k + 1], theta, rtol=1e-10, atol=1e-13)
        assert path.hyper["weight_decay"] == 0.3
    with pytest.raises(ValueError, match="weight_decay=-1"):
        pk.train(pk.MLP(2, 5, 2, dtype=torch.float64), x, y, lr=0.1, steps=1, weight_decay=-1.0)


def test_optimizer_rule_reads_param_groups():
    from pathkernel.training import optimizer_rule

    p = [torch.nn.Parameter(torch.zeros(3))]
    assert optimizer_rule(torch.optim.SGD(p, lr=0.1, momentum=0.5, dampening=0.2, weight_decay=0.1)) == (
        "momentum", {"momentum": 0.5, "dampening": 0.2, "nesterov": False, "weight_decay": 0.1})
    assert optimizer_rule(torch.optim.SGD(p, lr=0.1))[0] == "sgd"
    assert optimizer_rule(torch.optim.AdamW(p, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.2)) == (
        "adamw", {"betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.2})
    assert optimizer_rule(torch.optim.Adam(p, decoupled_weight_decay=True))[0] == "adamw"
    with pytest.raises(TypeError, match="Adagrad"):
        optimizer_rule(torch.optim.Adagrad(p))
    with pytest.raises(ValueError, match="learning rate"):
        optimizer_rule(torch.optim.SGD([{"params": p, "lr": 0.1},
                                        {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.2}]))


def test_sgd_batches_are_seeded_epoch_permutations():
    x, y = data(n=12)
    path = pk.train(pk.MLP(2, 5, 2, dtype=torch.float64), x, y, lr=0.1, steps=9, optimizer="sgd", batch_size=4, seed=3)
    assert path.batches.shape == (9, 4)
    for epoch in range(3):
        assert sorted(path.batches[3 * epoch : 3 * epoch + 3].flatten().tolist()) == list(range(12))
    again = pk.train(pk.MLP(2, 5, 2, dtype=torch.float64), x, y, lr=0.1, steps=9, optimizer="sgd", batch_size=4, seed=3)
    assert torch.equal(again.batches, path.batches) and torch.equal(again.params, path.params)
    other = pk.train(pk.MLP(2, 5, 2, dtype=torch.float64), x, y, lr=0.1, steps=9, optimizer="sgd", batch_size=4, seed=4)
    assert not torch.equal(other.batches, path.batches)


def test_sgd_with_full_batch_is_gd():
    x, y = data()
    gd = pk.train(pk.MLP(2, 5, 2, dtype=torch.float64), x, y, lr=0.1, steps=5)
    sgd = pk.train(pk.MLP(2, 5, 2, dtype=torch.float64), x, y, lr=0.1, steps=5, optimizer="sgd", batch_size=20)
    assert sgd.batches is None
    torch.testing.assert_close(sgd.params, gd.params, rtol=0, atol=0)


def test_learning_rate_schedule():
    x, y = data()
    model = pk.MLP(2, 5, 2, dtype=torch.float64)
    theta = pk.flat_parameters(model)
    path = pk.train(model, x, y, lr=[0.1, 0.2, 0.05], steps=3)
    assert path.lrs.tolist() == [0.1, 0.2, 0.05]
    for k, lr in enumerate([0.1, 0.2, 0.05]):
        theta = theta - lr * mse_gradient(model, theta, x, y)
    torch.testing.assert_close(path.params[-1], theta, rtol=1e-12, atol=1e-14)


def test_divergence_names_the_step():
    x, y = data()
    with pytest.raises(pk.TrainingDivergedError, match=r"diverged at step \d+"):
        pk.train(pk.MLP(2, 50, 3, dtype=torch.float64), x, 100 * y, lr=50.0, steps=200)


def test_bce_and_cross_entropy_train_and_decrease_the_loss():
    x, _ = data(n=30)
    labels = (x[:, 0] > 0).long()
    path = pk.train(pk.MLP(2, 10, 2, dtype=torch.float64), x, labels.double(), lr=0.5, steps=30, loss="bce")
    assert path.losses[-1] < path.losses[0]
    path = pk.train(pk.MLP(2, 10, 2, out_dim=2, dtype=torch.float64), x, labels, lr=0.5, steps=30, loss="cross_entropy")
    assert path.losses[-1] < path.losses[0]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"steps": 0}, ValueError, "steps=0"),
        ({"lr": 0.0}, ValueError, "> 0"),
        ({"lr": -1.0}, ValueError, "> 0"),
        ({"lr": [0.1, 0.1]}, ValueError, "one per step"),
        ({"optimizer": "lbfgs"}, ValueError, "lbfgs"),
        ({"optimizer": "sgd"}, ValueError, "batch_size"),
        ({"batch_size": 5}, ValueError, "use 'sgd'"),
        ({"batch_size": 50, "optimizer": "sgd"}, ValueError, "batch_size=50"),
        ({"loss": "hinge"}, ValueError, "hinge"),
        ({"loss": "bce"}, ValueError, "0, 1"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    x, y = data()
    arguments = {"lr": 0.1, "steps": 3, **kwargs}
    with pytest.raises(error, match=match):
        pk.train(pk.MLP(2, 5, 2, dtype=torch.float64), x, y, **arguments)


def test_bad_data():
    x, y = data()
    model = pk.MLP(2, 5, 2, dtype=torch.float64)
    with pytest.raises(TypeError, match="dtype"):
        pk.train(model, x.float(), y, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="rows"):
        pk.train(model, x, y[:5], lr=0.1, steps=1)
    with pytest.raises(ValueError, match="output"):
        pk.train(model, x, torch.stack([y, y], 1), lr=0.1, steps=1)
    with pytest.raises(ValueError, match="c >= 2"):
        pk.train(model, x, (y > 0).long(), lr=0.1, steps=1, loss="cross_entropy")
