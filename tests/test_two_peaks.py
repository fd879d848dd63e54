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
from pathkernel.experiments.two_peaks import multi_peak as mp
from pathkernel.experiments.two_peaks import two_peak as tp

TINY = two_peaks.Config(scale="quick", n=8, n_train=12, width=8, steps=20, multi_n=8, multi_k=3, multi_train=20,
                        gd_steps=8, adam_steps=8, checkpoints=3, decomposition_queries=4, perplexity=5.0, k_max=3)
TWO, MULTI = TINY.two_peak(), TINY.multi_peak()


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
    assert multi.multi_steps[:, -1].tolist() == [TINY.gd_steps, TINY.adam_steps]
    assert np.all(multi.residual < 1e-10) and np.all(multi.per_sample_gap < 1e-10)
    assert np.all(multi.residual_first_order > multi.residual)


def test_same_seed_same_result(tiny, multi):
    again = tp.run(TWO, seed=0)
    assert np.array_equal(again.embedding, tiny.embedding)
    assert np.array_equal(mp.run(MULTI, seed=0).multi_unseen_accuracy, multi.multi_unseen_accuracy)


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
    assert two_peaks.GROUPS is tp.GROUPS and two_peaks.OPTIMIZERS is mp.OPTIMIZERS
    with pytest.raises(AttributeError, match="no field 'missing'"):
        old.missing
    with pytest.raises(ValueError, match="width"):
        two_peaks.Config.combine(TWO, mp.Config(**{**MULTI.__dict__, "width": 9}))


def test_numbers_are_read_from_the_results(tiny, multi):
    two, more = tp.numbers(tiny), mp.numbers(multi)
    chapter = (Path(__file__).parents[1] / "notebooks" / "two_peaks.md").read_text()
    assert not two.keys() & more.keys()
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == set(two) | set(more)
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
    paper = mp.Config.paper()
    assert (more["twopeaks-paper-multi-n"], more["twopeaks-paper-adam-steps"]) == (str(paper.multi_n), str(paper.adam_steps))
    assert more["twopeaks-verdict"] == mp.verdict(multi)


@pytest.mark.parametrize("gd, adam, starts", [(0.6, 0.9, "Adam generalizes better"), (0.9, 0.6, "gradient descent"),
                                              (0.8, 0.81, "the two optimizers")])
def test_verdict_compares_the_final_unseen_accuracies(multi, gd, adam, starts):
    accuracy = np.array([[0.5, gd], [0.5, adam]])
    result = mp.Result(**{**multi.__dict__, "multi_unseen_accuracy": accuracy})
    assert mp.verdict(result).startswith(starts)


def test_figures_and_table(tiny, multi):
    for draw, result, axes in ((plots.two_peaks.examples, tiny, len(tp.GROUPS)), (plots.two_peaks.tsne, tiny, 1),
                               (plots.two_peaks.neighbours, tiny, 2), (plots.two_peaks.multipeak, multi, 2)):
        fig = draw(result)
        assert len(fig.axes) == axes
        plt.close(fig)
    frame = plots.two_peaks.table(multi).data
    assert frame["optimizer"].tolist() == list(mp.OPTIMIZERS)
    assert frame["unseen accuracy"].tolist() == multi.multi_unseen_accuracy[:, -1].tolist()


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
