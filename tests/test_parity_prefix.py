"""PrefixParityNet (S1's Figure 8, reconstructed) and the success-rate study `parity_rates`."""

import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel import plots
from pathkernel.data.planar1d import all_sequences, omega, prefix_parity
from pathkernel.experiments import parity_1d, parity_rates as pr

TINY = pr.Config(scale="quick", n=8, n_train=12, steps=5, seeds=3, k_train=2, k_eval=(2, 4), sigma=1e-4,
                 extra_width=3, optimizer="gd", lr=0.002, together=2)


def python_prefix_parity(rows):
    """Eq. (10) by a running XOR over plain Python lists."""
    out = []
    for row in rows:
        acc, filled = 0, []
        for bit in row:
            acc ^= int(bit)
            filled.append(acc)
        out.append(filled)
    return out


def outputs(net, x):
    with torch.no_grad():
        return torch.cat([net(chunk) for chunk in x.split(8192)])


@pytest.mark.parametrize("n", [2, 4, 8, 16])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_exact_weights_compute_the_parity_on_every_input(n, dtype):
    x = all_sequences(n)
    out = outputs(pk.PrefixParityNet(n, dtype=dtype), x.to(dtype))
    assert out.tolist() == python_prefix_parity(x.tolist())  # exact: no rounding anywhere


@pytest.mark.parametrize("n, options", [(16, dict(kernel_size=4)), (8, dict(kernel_size=3)), (8, dict(kernel_size=5)),
                                        (8, dict(extra_convs=2, width=5)), (4, dict(extra_convs=1, kernel_size=4))])
def test_the_enlarged_and_inserted_variants_contain_the_exact_solution(n, options):
    x = all_sequences(n)
    assert outputs(pk.PrefixParityNet(n, dtype=torch.float64, **options), x).tolist() == python_prefix_parity(x.tolist())


def test_extra_convolutions_at_the_chapter_size_on_a_sample_and_long_inputs():
    x = omega(16, 7, 512, seed=0)
    assert torch.equal(outputs(pk.PrefixParityNet(16, extra_convs=1, width=4, dtype=torch.float64), x), prefix_parity(x))
    for n, k in ((128, 32), (128, 63), (1024, 100)):  # the paper preset's n, and longer
        x = omega(n, k, 4, seed=k)
        assert torch.equal(outputs(pk.PrefixParityNet(n, dtype=torch.float64), x), prefix_parity(x))


def reference_forward(net, x):
    """y_j = F^(p)(P_j(x)) by loops: P_j zero-pads the first j + 1 entries on the left to length n;
    each level computes h'_i = sum_c v_c ReLU(w_c0 h_i + w_c1 h_{i+1} + b_c) + v_0 at i = 0, 2, 4, ..."""
    n = net.n
    out = np.zeros((len(x), n))
    levels = [(lv[0].weight.detach().numpy()[:, 0], lv[0].bias.detach().numpy(),
               lv[-1].weight.detach().numpy()[0, :, 0], lv[-1].bias.item()) for lv in net.xor]
    for r, row in enumerate(x.tolist()):
        for j in range(n):
            h = [0.0] * (n - j - 1) + row[: j + 1]
            for w, b, v, c in levels:
                h = [c + sum(v[k] * max(0.0, w[k, 0] * h[i] + w[k, 1] * h[i + 1] + b[k]) for k in range(len(b)))
                     for i in range(0, len(h), 2)]
            out[r, j] = h[0]
    return out


def test_random_weights_follow_the_prefix_and_downsampling_definition():
    net = pk.PrefixParityNet(8, exact=False, seed=3, dtype=torch.float64)
    x = omega(8, 3, 5, seed=1)
    np.testing.assert_allclose(outputs(net, x).numpy(), reference_forward(net, x), rtol=1e-12, atol=1e-14)


def test_prefixes_are_left_zero_padded():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert pk.prefix_parity.prefixes(x)[0].tolist() == [[0, 0, 0, 1], [0, 0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 4]]


def test_construction_is_seeded_and_counts_parameters():
    a, b = (pk.PrefixParityNet(16, exact=False, seed=2) for _ in range(2))
    assert torch.equal(pk.flat_parameters(a), pk.flat_parameters(b))
    assert not torch.equal(pk.flat_parameters(a), pk.flat_parameters(pk.PrefixParityNet(16, exact=False, seed=3)))
    assert sum(p.numel() for p in a.parameters()) == 4 * (2 * 2 + 2 + 2 + 1)  # per level: conv 1->2 (k 2), conv 2->1


@pytest.mark.parametrize("call, error, message", [
    (lambda: pk.PrefixParityNet(12), ValueError, "n=12 must be a power of two"),
    (lambda: pk.PrefixParityNet(8, exact=1), TypeError, "exact=1"),
    (lambda: pk.PrefixParityNet(8, width=1), ValueError, "width"),
    (lambda: pk.PrefixParityNet(8, kernel_size=1), ValueError, "kernel_size"),
    (lambda: pk.PrefixParityNet(8, dtype=torch.int64), TypeError, "torch.int64"),
    (lambda: pk.PrefixParityNet(8)(torch.zeros(2, 4)), ValueError, r"shape \(2, 4\)"),
    (lambda: pk.PrefixParityNet(8)(torch.zeros(2, 8, dtype=torch.float64)), TypeError, "torch.float64"),
    (lambda: pk.PrefixParityNet(8).parity(torch.full((1, 8), 0.5)), ValueError, "0.5"),
])
def test_bad_input_is_refused_with_the_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_training_together_follows_each_prefix_network_alone():
    x = torch.stack([omega(8, 3, 6, seed=s) for s in range(2)])
    y = prefix_parity(x.reshape(-1, 8)).reshape(x.shape)
    together = [pk.PrefixParityNet(8, exact=False, seed=s, dtype=torch.float64) for s in range(2)]
    losses = parity_1d.train_together(together, x, y, TINY)
    for s, model in enumerate(together):
        path = pk.train(pk.PrefixParityNet(8, exact=False, seed=s, dtype=torch.float64), x[s], y[s], lr=TINY.lr,
                        steps=TINY.steps, optimizer="gd")
        np.testing.assert_allclose(losses[s], path.losses.numpy(), rtol=1e-12)
        torch.testing.assert_close(pk.flat_parameters(model), path.params[-1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("successes, trials", [(0, 10), (3, 10), (10, 10), (7, 12), (1, 1), (50, 200)])
def test_wilson_interval_solves_the_score_equation(successes, trials):
    """The Wilson bounds are the roots p of (phat - p)^2 = z^2 p (1 - p) / N (a quadratic in p)."""
    phat, z2 = successes / trials, 1.959963984540054**2
    roots = np.sort(np.roots([1 + z2 / trials, -(2 * phat + z2 / trials), phat**2]).real)
    np.testing.assert_allclose(pr.wilson(successes, trials), roots, rtol=0, atol=1e-12)


@pytest.mark.parametrize("successes, trials, message", [(4, 3, "successes=4"), (1, 0, "trials=0"), (-1, 5, "successes=-1")])
def test_wilson_refuses_impossible_counts(successes, trials, message):
    with pytest.raises(ValueError, match=message):
        pr.wilson(successes, trials)


@pytest.fixture(scope="module")
def tiny():
    return pr.run(TINY, seed=0)


def test_run_shapes_determinism_and_tiny_noise_stays_exact(tiny):
    A, V, R, K = len(pr.ARCHITECTURES), len(pr.VARIANTS), TINY.seeds, len(TINY.k_eval)
    assert tiny.error.shape == (A, V, R, K) and tiny.loss.shape == (A, V, R, TINY.steps)
    for a in range(A):  # w* + 1e-4 eps and small GD steps: still exact, with the enlarged kernel too
        assert tiny.exact[a, pr.VARIANTS.index("noise")].all() and tiny.exact[a, pr.VARIANTS.index("wide")].all()
    assert tiny.parameters[0, 0] == sum(p.numel() for p in pk.PrefixParityNet(8).parameters())
    assert tiny.parameters[1, 0] == sum(p.numel() for p in pk.ParityNet(8).parameters())
    again = pr.run(TINY, seed=0)
    assert np.array_equal(again.error, tiny.error) and np.array_equal(again.loss, tiny.loss)
    for chance, (x, _) in zip(tiny.chance, parity_1d.evaluation_sets(TINY, 0)):  # the best constant output's error
        inside = np.cumsum(x.numpy(), axis=1) % 2
        assert chance == pytest.approx(min(inside.mean(), 1 - inside.mean()), abs=1e-15)


def test_numbers_are_recounted_from_the_errors(tiny):
    numbers = pr.numbers(tiny)
    unseen = [j for j, k in enumerate(TINY.k_eval) if k != TINY.k_train]
    for a, architecture in enumerate(pr.ARCHITECTURES):
        for v, variant in enumerate(pr.VARIANTS):
            runs = sum(all(tiny.error[a, v, r, j] == 0 for j in range(len(TINY.k_eval))) for r in range(TINY.seeds))
            assert numbers[f"parityrates-{architecture}-{variant}"] == f"{runs} of {TINY.seeds}"
            low, high = pr.wilson(runs, TINY.seeds)
            assert numbers[f"parityrates-{architecture}-{variant}-ci"] == f"{low:.2f}–{high:.2f}"
            mean = np.mean([tiny.error[a, v, r, j] for r in range(TINY.seeds) for j in unseen])
            assert numbers[f"parityrates-{architecture}-{variant}-error"] == f"{mean:.2f}"
    with pytest.raises(ValueError, match="'deep'"):
        tiny.interval("s1", "deep")


def test_chapter_glues_exactly_the_numbers_of_its_two_studies(tiny):
    chapter = (Path(__file__).parents[1] / "notebooks" / "parity_1d.md").read_text()
    names = set(pr.numbers(tiny)) | set(parity_1d.numbers(parity_1d.run(parity_1d.Config(
        scale="quick", n=8, n_train=8, steps=2, seeds=1, k_train=2, k_eval=(2, 4), sigmas=(0.1,), extra_width=3))))
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == names


@pytest.mark.parametrize("field, value, message", [("n", 12, "n=12"), ("sigma", 0.0, "sigma=0.0"), ("lr", -1.0, "lr=-1.0"),
                                                   ("k_eval", (2, 9), "k=9"), ("optimizer", "sgd", "optimizer='sgd'"),
                                                   ("wide_kernel", 2, "wide_kernel=2"), ("seeds", 0, "seeds=0")])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        pr.Config(**{**TINY.__dict__, field: value})


def test_rates_figure(tiny):
    fig = plots.parity_1d.rates(tiny)
    assert len(fig.axes) == 2 and math.isclose(fig.axes[0].get_ylim()[1], 1.05)
    plt.close(fig)
