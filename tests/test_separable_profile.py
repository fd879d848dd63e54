import dataclasses
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from scipy import stats

import pathkernel as pk
from pathkernel import plots
from pathkernel.experiments import separable_profile as sprof
from pathkernel.neighbours import euclidean_neighbours, kernel_neighbours

TINY = dataclasses.replace(sprof.Config.quick(), seeds=3, n=40, width=16, steps=60, k=6, probe=6, bins=5)


def loop_binned_mean(coordinate, values, edges):
    """The reference: each bin by a boolean mask, the last one closed on the right."""
    out = []
    for b in range(len(edges) - 1):
        last = b == len(edges) - 2
        inside = (coordinate >= edges[b]) & ((coordinate <= edges[b + 1]) if last else (coordinate < edges[b + 1]))
        out.append(values[inside].mean() if inside.any() else np.nan)
    return np.array(out)


def test_binned_mean_matches_a_loop_over_the_bins():
    rng = np.random.default_rng(0)
    edges = np.array([-1.0, -0.4, 0.0, 0.25, 0.3, 1.0])
    coordinate = np.concatenate([rng.uniform(-1.3, 1.3, 200), edges, [-2.0, 2.0]])  # points on every edge, outside
    values = rng.normal(size=coordinate.shape)
    found = sprof.binned_mean(coordinate, values, edges)
    np.testing.assert_allclose(found, loop_binned_mean(coordinate, values, edges), rtol=1e-13)
    # by hand: 0.1 and 0.2 in [0, 0.25), -0.4 opens its bin, 1.0 closes the last, 1.5 is outside, [0.25, 0.3) is empty
    small = sprof.binned_mean(np.array([0.1, 0.2, -0.4, 1.0, 1.5]), np.array([1.0, 3.0, 5.0, 7.0, 9.0]), edges)
    np.testing.assert_array_equal(small, [np.nan, 5.0, 2.0, np.nan, 7.0])


def test_seed_summary_is_the_student_t_interval_of_the_mean():
    rng = np.random.default_rng(1)
    profiles = rng.normal(size=(7, 4))
    mean, low, high = sprof.seed_summary(profiles, level=0.9)
    for b in range(4):
        column = profiles[:, b]
        lo, hi = stats.t.interval(0.9, len(column) - 1, loc=column.mean(), scale=stats.sem(column))
        assert mean[b] == pytest.approx(column.mean(), rel=1e-14)
        assert (low[b], high[b]) == pytest.approx((lo, hi), rel=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: sprof.binned_mean(np.zeros(3), np.zeros(4), np.array([0.0, 1.0])), "must be two"),
    (lambda: sprof.binned_mean(np.zeros(3), np.zeros(3), np.array([1.0, 0.0])), "strictly increasing"),
    (lambda: sprof.binned_mean(np.zeros(3), np.zeros(3), np.array([0.0])), "strictly increasing"),
    (lambda: sprof.binned_mean(np.array([0.0, np.nan]), np.zeros(2), np.array([0.0, 1.0])), "finite"),
    (lambda: sprof.seed_summary(np.zeros((1, 3))), "at least 2 seeds"),
    (lambda: sprof.seed_summary(np.zeros((3, 3)), level=1.5), "level=1.5"),
    (lambda: dataclasses.replace(TINY, bins=4), "bins=4 must be odd"),
    (lambda: dataclasses.replace(TINY, seeds=1), "seeds=1"),
    (lambda: dataclasses.replace(TINY, band=0.9), "band=0.9"),
])
def test_bad_input_is_refused_with_the_value(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


@pytest.fixture(scope="module")
def result():
    return sprof.run(TINY, seed=1)


def test_each_seed_is_its_own_training_scored_and_binned(result):
    # seed 1 runs seeds 3, 4 and 5: data and initialization of each; recomputed here with numpy anisotropy and a loop
    assert result.seeds.tolist() == [3, 4, 5]
    u = np.array([math.cos(math.radians(TINY.angle)), math.sin(math.radians(TINY.angle))])
    v = np.array([-u[1], u[0]])
    axis = np.linspace(-TINY.probe_extent, TINY.probe_extent, TINY.probe)
    probes = np.stack([a.ravel() for a in np.meshgrid(axis, axis)], 1)
    edges = np.linspace(-TINY.probe_extent, TINY.probe_extent, TINY.bins + 1)
    near = np.abs(probes @ u) < TINY.band
    for j, seed in enumerate(result.seeds):
        x, y = pk.data.halfspace(TINY.n, direction=torch.from_numpy(u), seed=int(seed))
        net = pk.MLP(2, TINY.width, TINY.depth, seed=int(seed), dtype=torch.float64)
        initial = kernel_neighbours(net, torch.from_numpy(probes), x, TINY.k).numpy()
        pk.train(net, x, y, lr=TINY.lr, steps=TINY.steps)
        sets = (kernel_neighbours(net, torch.from_numpy(probes), x, TINY.k).numpy(), initial,
                euclidean_neighbours(torch.from_numpy(probes), x, TINY.k).numpy())
        assert result.accuracy[j] == (torch.sign(net(x)[:, 0]) == y).double().mean().item()
        for i, neighbours in enumerate(sets):
            offsets = x.numpy()[neighbours] - probes[:, None, :]
            log_a = 0.5 * np.log(((offsets @ v) ** 2).mean(1) / ((offsets @ u) ** 2).mean(1))
            np.testing.assert_allclose(result.across[i, j], loop_binned_mean(probes @ u, log_a, edges), rtol=1e-10)
            np.testing.assert_allclose(result.along[i, j], loop_binned_mean(probes[near] @ v, log_a[near], edges),
                                       rtol=1e-10)
    assert result.across_counts.sum() == np.sum(np.abs(probes @ u) <= TINY.probe_extent)
    assert result.along_counts.sum() == np.sum(np.abs(probes[near] @ v) <= TINY.probe_extent)


def test_numbers_are_the_seed_means_of_the_result(result):
    numbers = sprof.numbers(result)
    chapter = (Path(__file__).parents[1] / "notebooks" / "separable.md").read_text()
    names = set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter))
    assert {name for name in names if name.startswith("separable-profile-")} == set(numbers)

    def interval(per_seed):  # geometric mean over the seeds and its Student-t interval
        lo, hi = stats.t.interval(0.95, len(per_seed) - 1, loc=per_seed.mean(), scale=stats.sem(per_seed))
        return f"{math.exp(per_seed.mean()):.2f} [{math.exp(lo):.2f}, {math.exp(hi):.2f}]"

    end = result.across[0]  # bins centred at -0.48, -0.24, 0, 0.24, 0.48: the flanks are the bins at +-0.24
    assert numbers["separable-profile-boundary"] == interval(end[:, 2])
    assert numbers["separable-profile-flank-over-boundary"] == interval((end[:, 1] + end[:, 3]) / 2 - end[:, 2])
    assert numbers["separable-profile-plus-over-minus"] == interval(end[:, 3] - end[:, 1])
    assert numbers["separable-profile-boundary-over-outer"] == interval(end[:, 2] - (end[:, 0] + end[:, 4]) / 2)
    assert numbers["separable-profile-flank-from"] == numbers["separable-profile-flank-to"] == "0.24"
    assert numbers["separable-profile-seeds"] == "3" and numbers["separable-profile-level"] == "95%"
    peaks = end.argmax(axis=1)
    assert int(numbers["separable-profile-peak-on-boundary"]) == sum(p == 2 for p in peaks)
    assert int(numbers["separable-profile-peak-plus"]) == sum(p > 2 for p in peaks)
    assert int(numbers["separable-profile-peak-minus"]) == sum(p < 2 for p in peaks)
    along = np.exp(result.along[0].mean(axis=0))
    assert numbers["separable-profile-along-max"] == f"{along.max():.2f}"


def test_numbers_need_a_flank_on_each_side(result):
    narrow = dataclasses.replace(result, config=dataclasses.replace(TINY, bins=3, band=0.1),
                                 centres=np.array([-0.4, 0.0, 0.4]))
    with pytest.raises(ValueError, match="bins=3: no bin centre lies between band=0.1"):
        sprof.numbers(narrow)


def test_profile_figure(result):
    fig = plots.separable.profile(result)
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log"
    plt.close(fig)
