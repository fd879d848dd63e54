import itertools
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from pathkernel import plots
from pathkernel.data import planar1d
from pathkernel.experiments import two_peaks
from pathkernel.experiments.two_peaks import budget
from pathkernel.experiments.two_peaks import multi_peak as mp
from pathkernel.experiments.two_peaks import sizes
from pathkernel.experiments.two_peaks import two_peak as tp

TINY = two_peaks.Config(scale="quick", n=8, n_train=12, width=8, steps=20, multi_n=8, multi_k=3, multi_train=20,
                        lrs=(0.5, 0.05), target_loss=0.3, max_steps=12, checkpoints=3, decomposition_queries=4,
                        perplexity=5.0, k_max=3)
TWO, MULTI = TINY.two_peak(), TINY.multi_peak()
SWEEP = sizes.Config(scale="quick", multi_n=8, multi_k=3, train_sizes=(10, 20), lrs=(0.5, 0.05), max_steps=12,
                     seeds=3, width=8, target_loss=0.3)


def test_peak_groups_against_a_loop():
    x, _ = planar1d.two_peaks(10)
    groups = tp.peak_groups(planar1d.peak_positions(x), 10)
    for (i1, i2), g in zip(itertools.combinations(range(10), 2), groups):
        expected = 1 if 5 in (i1, i2) else 0 if i2 < 5 else 3 if i1 > 5 else 2
        assert tp.GROUPS[g] == tp.GROUPS[expected]


def test_shared_peaks_is_the_size_of_the_intersection():
    pairs = torch.tensor(list(itertools.combinations(range(6), 2)))
    counts = tp.shared_peaks(pairs[:, None, :], pairs[None, :, :])
    for a, pa in enumerate(pairs.tolist()):
        for b, pb in enumerate(pairs.tolist()):
            assert counts[a, b] == len(set(pa) & set(pb))


def test_neighbours_without_self_drops_only_the_query():
    train_index = torch.tensor([1, 3, 4])
    index = torch.tensor([[0, 1, 2], [1, 0, 2], [2, 1, 0], [0, 1, 2], [2, 0, 1]])  # rows: queries 0..4
    kept = tp.neighbours_without_self(index, train_index, 2)
    # queries 1, 3, 4 are training points 0, 1, 2: each loses itself, the others their last neighbour
    assert kept.tolist() == [[0, 1], [1, 2], [2, 1], [0, 2], [0, 1]]


def test_neighbour_scores_against_loops():
    rng = np.random.default_rng(0)
    x, labels = planar1d.two_peaks(8)
    peaks = planar1d.peak_positions(x)
    train_index = torch.tensor([0, 5, 9, 14, 20, 27])
    neighbours = torch.from_numpy(rng.integers(0, 6, size=(len(x), 3)))
    one, same = tp.neighbour_scores(neighbours, peaks, labels, train_index)
    for k in range(1, 4):
        expected_one = np.mean([np.mean([len(set(peaks[q].tolist()) & set(peaks[train_index[j]].tolist())) == 1
                                         for j in neighbours[q, :k]]) for q in range(len(x))])
        expected_same = np.mean([np.mean([labels[train_index[j]] == labels[q] for j in neighbours[q, :k]])
                                 for q in range(len(x))])
        assert one[k - 1] == pytest.approx(expected_one, abs=1e-14)
        assert same[k - 1] == pytest.approx(expected_same, abs=1e-14)


@pytest.fixture(scope="module")
def tiny():
    return tp.run(TWO, seed=0)


@pytest.fixture(scope="module")
def multi():
    return mp.run(MULTI, seed=0)


@pytest.fixture(scope="module")
def sweep():
    return sizes.run(SWEEP, seed=0)


def test_run_labels_and_accuracies(tiny):
    n, c = TINY.n, TINY.n // 2
    assert tiny.x.shape == (28, n) and tiny.embedding.shape == (28, 2)
    for (i1, i2), label in zip(tiny.peaks, tiny.labels):
        assert label == float(i1 <= c <= i2)
    assert np.array_equal(tiny.filled, planar1d.fill(torch.from_numpy(tiny.x)).numpy())
    for value in (tiny.train_accuracy, tiny.all_accuracy, tiny.unseen_accuracy):
        assert 0 <= value <= 1
    assert tiny.all_accuracy == pytest.approx((TINY.n_train * tiny.train_accuracy + 16 * tiny.unseen_accuracy) / 28)
    assert -1 <= tiny.silhouette_group <= 1 and -1 <= tiny.silhouette_class <= 1


def test_euclidean_nearest_shares_one_peak_exactly_when_at_distance_sqrt2(tiny):
    x, train = torch.from_numpy(tiny.x), torch.from_numpy(tiny.train_index)
    distance = torch.cdist(x, x[train])
    distance[train, torch.arange(len(train))] = np.inf  # the query itself is left out
    nearest = distance.min(1).values
    assert tiny.euclid_one_peak[0] == pytest.approx((nearest - np.sqrt(2)).abs().lt(1e-12).double().mean().item())
    ties = (distance == nearest[:, None]).sum(1).double().mean().item()
    assert tiny.euclid_ties == pytest.approx(ties)


def test_multi_peak_decompositions_are_exact(multi):
    assert multi.multi_train_accuracy.shape == multi.multi_unseen_accuracy.shape == (2, TINY.checkpoints)
    assert multi.multi_steps[:, -1].tolist() == multi.steps.tolist()
    assert np.all(multi.residual < 1e-10) and np.all(multi.per_sample_gap < 1e-10)
    assert np.all(multi.residual_first_order > multi.residual)


def test_same_seed_same_result(tiny, multi, sweep):
    again = tp.run(TWO, seed=0)
    assert np.array_equal(again.embedding, tiny.embedding)
    assert np.array_equal(mp.run(MULTI, seed=0).multi_unseen_accuracy, multi.multi_unseen_accuracy)
    repeat, shifted = sizes.run(SWEEP, seed=0), sizes.run(SWEEP, seed=1)
    for field in ("unseen_accuracy", "train_accuracy", "steps", "lr", "final_loss"):
        assert np.array_equal(getattr(repeat, field), getattr(sweep, field)), field
    # seeds 1, 2, 3: the runs of seeds 1 and 2 are those of the sweep from seed 0, bit for bit
    assert shifted.seeds.tolist() == [1, 2, 3]
    assert np.array_equal(shifted.final_loss[:, :, :2], sweep.final_loss[:, :, 1:])


def test_the_package_keeps_the_old_entry_points(tiny, multi):
    """`two_peaks.Config` / `run` / `Result` as before the split: the combined presets, both studies
    run with the same seed (bit for bit), and the old field names read through."""
    assert two_peaks.Config.quick().two_peak() == tp.Config.quick()
    assert two_peaks.Config.from_scale("paper").multi_peak() == mp.Config.paper()
    assert two_peaks.Config.combine(TWO, MULTI) == TINY
    old = two_peaks.run(TINY, seed=0)
    assert np.array_equal(old.embedding, tiny.embedding) and old.train_accuracy == tiny.train_accuracy
    assert np.array_equal(old.multi_unseen_accuracy, multi.multi_unseen_accuracy)
    assert np.array_equal(old.residual, multi.residual) and old.config is TINY
    assert two_peaks.GROUPS is tp.GROUPS and two_peaks.OPTIMIZERS is mp.OPTIMIZERS is sizes.OPTIMIZERS
    with pytest.raises(AttributeError, match="no field 'missing'"):
        old.missing
    with pytest.raises(ValueError, match="width"):
        two_peaks.Config.combine(TWO, mp.Config(**{**MULTI.__dict__, "width": 9}))


def test_numbers_are_read_from_the_results(tiny, multi, sweep):
    two, more, swept = tp.numbers(tiny), mp.numbers(multi), sizes.numbers(sweep)
    chapter = (Path(__file__).parents[1] / "notebooks" / "two_peaks.md").read_text()
    assert not two.keys() & more.keys() and not swept.keys() & (two.keys() | more.keys())
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == set(two) | set(more) | set(swept)
    # two peaks: sizes from the inputs, accuracies from the model's signs recounted by the split
    assert two["twopeaks-N"] == str(math.comb(TINY.n, 2)) == str(len(tiny.x))
    n_seen = len(tiny.train_index)
    all_accuracy = (n_seen * tiny.train_accuracy + (len(tiny.x) - n_seen) * tiny.unseen_accuracy) / len(tiny.x)
    assert two["twopeaks-all-acc"] == f"{all_accuracy:.1%}"
    assert two["twopeaks-ntk-one"] == f"{tiny.ntk_one_peak[0]:.1%}" and two["twopeaks-ties"] == f"{tiny.euclid_ties:.1f}"
    # multi peaks: the majority class recounted on all the inputs, the final accuracies per optimizer
    labels = planar1d.centre_label(planar1d.omega_all(TINY.multi_n, TINY.multi_k)).numpy()
    assert more["twopeaks-multi-N"] == str(len(labels))
    assert more["twopeaks-multi-majority"] == f"{max(labels.sum(), len(labels) - labels.sum()) / len(labels):.1%}"
    for j, name in enumerate(mp.OPTIMIZERS):
        assert more[f"twopeaks-{name}-unseen"] == f"{multi.multi_unseen_accuracy[j][-1]:.1%}"
        assert float(more[f"twopeaks-{name}-residual"]) == float(f"{multi.residual[j]:.0e}")
        assert more[f"twopeaks-{name}-steps"] == str(multi.steps[j]) and float(more[f"twopeaks-{name}-lr"]) == multi.lr[j]
    # the sweep: the cap count recounted from the final losses, the unseen accuracy at the ends by numpy
    assert swept["twopeaks-sizes-majority"] == more["twopeaks-multi-majority"]
    for j, name in enumerate(sizes.OPTIMIZERS):
        capped = int((sweep.final_loss[j] > SWEEP.target_loss).sum())
        assert swept[f"twopeaks-sizes-{name}-capped"] == f"{capped} of {SWEEP.seeds * len(SWEEP.train_sizes)}"
        assert swept[f"twopeaks-sizes-{name}-unseen-small"].startswith(f"{np.mean(sweep.unseen_accuracy[j, 0]):.1%} [")
    assert swept["twopeaks-sizes-list"] == "10 and 20 training inputs"


@pytest.mark.parametrize("gaps, expected", [((0.1, 0.2, 0.15), "adam"), ((-0.2, -0.25, -0.3), "gd"),
                                            ((0.1, -0.1, 0.0), "tie"), ((0.0, 0.0, 0.0), "tie")])
def test_verdicts_read_the_sign_of_the_paired_interval(sweep, gaps, expected):
    """Adam ahead (the paper's claim) exactly when the interval of Adam's minus GD's unseen accuracy
    over seeds lies above 0, GD ahead when below; checked against the interval of the raw differences."""
    gd = np.full((2, 3), 0.7)
    unseen = np.stack([gd, gd + np.array(gaps)])
    result = sizes.Result(**{**sweep.__dict__, "unseen_accuracy": unseen,
                             "gap_interval": budget.interval(unseen[1] - unseen[0], low=-1, high=1)})
    assert sizes.verdicts(result) == [expected] * 2
    numbers = sizes.numbers(result)
    key = {"adam": "holds", "gd": "reversed", "tie": "tie"}[expected]
    assert numbers[f"twopeaks-sizes-{key}"] == "10 and 20 training inputs"


def test_figures_and_tables(tiny, multi, sweep):
    for draw, result, axes in ((plots.two_peaks.examples, tiny, len(tp.GROUPS)), (plots.two_peaks.tsne, tiny, 1),
                               (plots.two_peaks.neighbours, tiny, 2), (plots.two_peaks.multipeak, multi, 2),
                               (plots.two_peaks.sizes_sweep, sweep, 2)):
        fig = draw(result)
        assert len(fig.axes) == axes
        plt.close(fig)
    assert plots.FIGURES["fig-twopeaks-sizes"].experiment == "two_peaks.sizes"
    frame = plots.two_peaks.table(multi).data
    assert frame["optimizer"].tolist() == list(mp.OPTIMIZERS)
    assert frame["unseen accuracy"].tolist() == multi.multi_unseen_accuracy[:, -1].tolist()
    swept = plots.two_peaks.sizes_table(sweep)
    assert swept.index.tolist() == [(m, name) for m in SWEEP.train_sizes for name in sizes.OPTIMIZERS]


def test_config_rejects_bad_values():
    """The studies' Configs check their values, and the combined one checks through them."""
    with pytest.raises(ValueError, match="n_train=500"):
        tp.Config(**{**TWO.__dict__, "n_train": 500})
    with pytest.raises(ValueError, match="multi_k=2"):
        mp.Config(**{**MULTI.__dict__, "multi_k": 2})
    with pytest.raises(ValueError, match=r"multi_train=56 must be an integer in \[2, 55\]"):  # C(8, 3) = 56: none unseen
        two_peaks.Config(**{**TINY.__dict__, "multi_train": 56})
    with pytest.raises(ValueError, match="decomposition_queries=40"):
        two_peaks.Config(**{**TINY.__dict__, "decomposition_queries": 40})
    with pytest.raises(ValueError, match="k_max=0"):
        two_peaks.Config(**{**TINY.__dict__, "k_max": 0})
    with pytest.raises(ValueError, match="max_steps=0"):
        mp.Config(**{**MULTI.__dict__, "max_steps": 0})
    with pytest.raises(ValueError, match=r"lrs=\[0.5\] must be a tuple"):
        mp.Config(**{**MULTI.__dict__, "lrs": [0.5]})
    with pytest.raises(ValueError, match="target_loss=-1"):
        sizes.Config(**{**SWEEP.__dict__, "target_loss": -1})
    with pytest.raises(ValueError, match=r"train_sizes=\(20, 10\) must be strictly increasing"):
        sizes.Config(**{**SWEEP.__dict__, "train_sizes": (20, 10)})
    with pytest.raises(ValueError, match="a training size in train_sizes=56"):
        sizes.Config(**{**SWEEP.__dict__, "train_sizes": (10, 56)})
    with pytest.raises(ValueError, match="seeds=1"):
        sizes.Config(**{**SWEEP.__dict__, "seeds": 1})


def test_a_target_met_at_the_start_is_refused():
    with pytest.raises(ValueError, match="already has a training loss <= target_loss=100"):
        mp.run(mp.Config(**{**MULTI.__dict__, "target_loss": 100.0}), seed=0)
