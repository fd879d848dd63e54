import itertools

import numpy as np
import pytest
import torch

from pathkernel.data import planar1d
from pathkernel.experiments import two_peaks as tp

TINY = tp.Config(scale="quick", n=8, n_train=12, width=8, steps=20, multi_n=8, multi_k=3, multi_train=20,
                 gd_steps=8, adam_steps=8, checkpoints=3, decomposition_queries=4, perplexity=5.0, k_max=3)


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
    return tp.run(TINY, seed=0)


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


def test_multi_peak_decompositions_are_exact(tiny):
    assert tiny.multi_train_accuracy.shape == tiny.multi_unseen_accuracy.shape == (2, TINY.checkpoints)
    assert tiny.multi_steps[:, -1].tolist() == [TINY.gd_steps, TINY.adam_steps]
    assert np.all(tiny.residual < 1e-10) and np.all(tiny.per_sample_gap < 1e-10)
    assert np.all(tiny.residual_first_order > tiny.residual)


def test_same_seed_same_result(tiny):
    again = tp.run(TINY, seed=0)
    assert np.array_equal(again.embedding, tiny.embedding)
    assert np.array_equal(again.multi_unseen_accuracy, tiny.multi_unseen_accuracy)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="n_train=500"):
        tp.Config(**{**TINY.__dict__, "n_train": 500})
    with pytest.raises(ValueError, match="multi_k=2"):
        tp.Config(**{**TINY.__dict__, "multi_k": 2})
    with pytest.raises(ValueError, match=r"multi_train=56 must be an integer in \[2, 55\]"):  # C(8, 3) = 56: none unseen
        tp.Config(**{**TINY.__dict__, "multi_train": 56})
    with pytest.raises(ValueError, match="decomposition_queries=40"):
        tp.Config(**{**TINY.__dict__, "decomposition_queries": 40})
