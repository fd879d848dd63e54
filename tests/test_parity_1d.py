import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel import plots
from pathkernel.data.planar1d import omega, prefix_parity
from pathkernel.experiments import parity_1d as pt

TINY = pt.Config(scale="quick", n=8, n_train=16, steps=6, seeds=2, k_train=2, k_eval=(2, 4), sigmas=(1e-4, 0.5),
                 extra_width=4, optimizer="gd", lr=0.005)


@pytest.mark.parametrize("optimizer, lr", [("adam", 0.01), ("gd", 0.05)])
def test_training_together_follows_each_network_alone(optimizer, lr):
    config = pt.Config(**{**TINY.__dict__, "optimizer": optimizer, "lr": lr})
    x = torch.stack([omega(8, 3, 10, seed=s) for s in range(3)])
    y = prefix_parity(x.reshape(-1, 8)).reshape(x.shape)
    together = [pk.ParityNet(8, exact=False, seed=s, dtype=torch.float64) for s in range(3)]
    losses = pt.train_together(together, x, y, config)
    for s, model in enumerate(together):
        alone = pk.ParityNet(8, exact=False, seed=s, dtype=torch.float64)
        path = pk.train(alone, x[s], y[s], lr=lr, steps=config.steps, optimizer=optimizer)
        np.testing.assert_allclose(losses[s], path.losses.numpy(), rtol=1e-12)
        torch.testing.assert_close(pk.flat_parameters(model), path.params[-1], rtol=1e-12, atol=1e-14)


def test_pixel_errors_against_counts():
    config = pt.Config(**{**TINY.__dict__, "k_eval": (1, 3)})
    sets = pt.evaluation_sets(config, seed=0)
    assert [len(x) for x, _ in sets] == [math.comb(8, 1), math.comb(8, 3)]  # enumerated: small sets
    assert np.array_equal(pt.pixel_errors(pk.ParityNet(8, dtype=torch.float64), sets), [0.0, 0.0])
    silent = pk.ParityNet(8, dtype=torch.float64)
    for p in silent.parameters():
        p.data.zero_()  # outputs 0 everywhere: wrong exactly where the parity is 1
    expected = [np.mean(np.cumsum(x.numpy(), 1) % 2) for x, _ in sets]
    np.testing.assert_allclose(pt.pixel_errors(silent, sets), expected, rtol=0, atol=1e-15)


def test_large_sets_are_sampled():
    config = pt.Config(**{**TINY.__dict__, "n": 32, "k_eval": (2, 10), "eval_size": 1000})
    (small, _), (large, target) = pt.evaluation_sets(config, seed=0)
    assert len(small) == 496 and len(large) == 1000 and torch.all(large.sum(1) == 10)
    assert torch.equal(target, prefix_parity(large))


def test_perturbation_is_seeded_noise_of_size_sigma():
    exact = pk.flat_parameters(pk.ParityNet(32, dtype=torch.float64))
    a = pk.flat_parameters(pt.perturbed(pk.ParityNet(32, dtype=torch.float64), 0.3, seed=1))
    b = pk.flat_parameters(pt.perturbed(pk.ParityNet(32, exact=False, dtype=torch.float64), 0.3, seed=1))
    c = pk.flat_parameters(pt.perturbed(pk.ParityNet(32, dtype=torch.float64), 0.3, seed=2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    noise = (a - exact) / 0.3
    assert abs(noise.mean().item()) < 4 / math.sqrt(noise.numel()) and abs(noise.std().item() - 1) < 0.15


@pytest.fixture(scope="module")
def tiny():
    return pt.run(TINY, seed=0)


def test_the_old_module_name_is_an_alias():
    from pathkernel.experiments import parity_training

    assert parity_training is pt and parity_training.Config is pt.Config


def test_the_exact_network_makes_no_error():
    assert pt.exact_network_errors() == (0, 0)


def test_run_shapes_and_the_exact_solution_survives_tiny_noise(tiny):
    result = tiny
    R, S, K = TINY.seeds, len(TINY.sigmas), len(TINY.k_eval)
    assert result.random_error.shape == result.extra_error.shape == (R, K)
    assert result.noise_error.shape == result.wide_error.shape == (S, R, K)
    assert result.random_loss.shape == (R, TINY.steps) and result.init_error.shape == (S, K)
    assert np.all((0 <= result.noise_error) & (result.noise_error <= 1))
    assert result.noise_exact[0].all() and result.wide_exact[0].all()  # w* + 1e-4 eps, small GD steps: still exact
    assert result.init_error[0].max() == 0 and result.init_error[1].max() > 0
    assert np.array_equal(result.noise_exact, (result.noise_error == 0).all(axis=2))
    assert result.parameters[0] < result.parameters[1] < result.parameters[2]
    again = pt.run(TINY, seed=0)
    assert np.array_equal(again.noise_error, result.noise_error) and np.array_equal(again.random_loss, result.random_loss)
    chunked = pt.run(pt.Config(**{**TINY.__dict__, "together": 1}), seed=0)  # one network at a time
    np.testing.assert_allclose(chunked.random_loss, result.random_loss, rtol=1e-10)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="k=9"):
        pt.Config(**{**TINY.__dict__, "k_eval": (2, 9)})
    with pytest.raises(ValueError, match="sigmas"):
        pt.Config(**{**TINY.__dict__, "sigmas": (0.0,)})
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        pt.Config(**{**TINY.__dict__, "optimizer": "sgd"})
    with pytest.raises(ValueError, match="n=12 must be a power of two"):
        pt.Config(**{**TINY.__dict__, "n": 12})
    with pytest.raises(ValueError, match="steps=0"):
        pt.Config(**{**TINY.__dict__, "steps": 0})
    with pytest.raises(ValueError, match="lr=-0.1"):
        pt.Config(**{**TINY.__dict__, "lr": -0.1})


def test_sharpness_is_the_largest_hessian_eigenvalue_at_the_exact_solution():
    model = pk.ParityNet(4, dtype=torch.float64)
    x = omega(4, 2, 6, seed=0)
    y = prefix_parity(x)
    theta = pk.flat_parameters(model)

    def loss(t):
        out = torch.func.functional_call(model, {n: c.view(p.shape) for (n, p), c in zip(
            model.named_parameters(), t.split([p.numel() for p in model.parameters()]))}, (x,))
        return 0.5 * (out - y).pow(2).sum(-1).mean()

    hessian = torch.autograd.functional.hessian(loss, theta)
    assert loss(theta).item() == 0.0
    np.testing.assert_allclose(pt.sharpness(model, x), torch.linalg.eigvalsh(hessian)[-1].item(), rtol=1e-10)
    assert TINY.lr < 2 / pt.sharpness(pk.ParityNet(8, dtype=torch.float64), omega(8, 2, 16, seed=0))


def test_level_maps_are_block_and_prefix_parities():
    x = omega(16, 5, 1, seed=3)[0]
    s, t = pt.level_maps(pk.ParityNet(16, dtype=torch.float64), x)
    assert s.shape == t.shape == (5, 16)
    bits = x.numpy()
    for m in range(5):
        size = 2**m
        blocks = bits.reshape(-1, size).sum(1) % 2
        assert np.array_equal(s[m], blocks.repeat(size))
        ends = np.cumsum(bits)[size - 1::size] % 2  # parity up to the end of each block
        assert np.array_equal(t[m], ends.repeat(size))


def test_numbers_are_read_from_the_result(tiny):
    numbers = pt.numbers(tiny)
    chapter = (Path(__file__).parents[1] / "notebooks" / "parity_1d.md").read_text()
    assert set(numbers) <= set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter))  # + parity_rates' (test_parity_prefix)
    assert (tiny.wrong_exhaustive, tiny.wrong_long) == (0, 0) and numbers["parity1d-wrong16"] == "0"
    assert tiny.unseen.tolist() == [k != TINY.k_train for k in TINY.k_eval]
    # the means over the unseen k', recounted by loops over seeds and k'
    unseen_ks = [j for j, k in enumerate(TINY.k_eval) if k != TINY.k_train]
    random_error = np.mean([tiny.random_error[r, j] for r in range(TINY.seeds) for j in unseen_ks])
    assert numbers["parity1d-random-error"] == f"{random_error:.2f}"
    assert numbers["parity1d-init-small"] == f"{np.mean([tiny.init_error[0, j] for j in unseen_ks]):.2f}"
    exact_small = sum(all(tiny.noise_error[0, r] == 0) for r in range(TINY.seeds))
    assert numbers["parity1d-noise-small"] == f"{exact_small} of {TINY.seeds}"
    assert numbers["parity1d-random-exact"] == f"{sum(all(row == 0) for row in tiny.random_error)} of {TINY.seeds}"
    assert numbers["parity1d-P"] == str(sum(p.numel() for p in pk.ParityNet(TINY.n).parameters()))
    assert float(numbers["parity1d-threshold"]) == pytest.approx(2 / tiny.sharpness, abs=5e-4)
    assert numbers["parity1d-sigma-small"] == "0.0001" and numbers["parity1d-lr"] == "0.005"


def test_figures_and_table(tiny):
    for draw, axes in ((plots.parity_1d.levels, 2), (plots.parity_1d.training, 2), (plots.parity_1d.noise, 2)):
        fig = draw(tiny)
        assert len(fig.axes) == axes
        plt.close(fig)
    frame = plots.parity_1d.table(tiny).data
    assert len(frame) == 2 + 2 * len(TINY.sigmas)
    assert frame["exact runs"].tolist()[2:4] == tiny.noise_exact.sum(1).tolist()
