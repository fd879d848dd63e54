import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from pathkernel.data import planar1d


def naive_prefix_parity(row):
    out, inside = [], 0
    for bit in row:
        inside ^= int(bit)
        out.append(inside)
    return out


@pytest.mark.parametrize("n, k", [(8, 0), (8, 3), (16, 4), (5, 5)])
def test_omega_rows_have_exactly_k_ones_and_are_seeded(n, k):
    x = planar1d.omega(n, k, 200, seed=3)
    assert x.shape == (200, n) and x.dtype == torch.float64
    assert torch.all((x == 0) | (x == 1)) and torch.all(x.sum(1) == k)
    assert torch.equal(x, planar1d.omega(n, k, 200, seed=3))
    if 0 < k < n:
        assert not torch.equal(x, planar1d.omega(n, k, 200, seed=4))


def test_omega_is_uniform_over_the_enumeration():
    n, k, draws = 6, 3, 40_000
    x = planar1d.omega(n, k, draws, seed=0)
    codes = (x.long() << torch.arange(n)).sum(1)
    subsets = [sum(1 << i for i in c) for c in itertools.combinations(range(n), k)]
    counts = np.array([(codes == s).sum().item() for s in subsets])
    assert counts.sum() == draws  # every draw is one of the C(6, 3) = 20 sets
    assert chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("n, k", [(10, 0), (10, 2), (10, 5), (12, 4)])
def test_omega_all_is_the_set_of_sequences_with_k_ones(n, k):
    x = planar1d.omega_all(n, k)
    assert x.shape == (math.comb(n, k), n)
    everything = planar1d.all_sequences(n)
    expected = {tuple(r) for r in everything[everything.sum(1) == k].long().tolist()}
    assert {tuple(r) for r in x.long().tolist()} == expected  # distinct rows, the whole set


def test_all_sequences_enumerates_every_bit_pattern():
    x = planar1d.all_sequences(10)
    assert x.shape == (1024, 10)
    assert len({tuple(r) for r in x.long().tolist()}) == 1024


def test_prefix_parity_and_fill_against_a_loop():
    x = torch.cat([planar1d.all_sequences(8), planar1d.omega(40, 7, 50, seed=1)[:, :8]])
    expected = torch.tensor([naive_prefix_parity(r) for r in x.tolist()], dtype=torch.float64)
    assert torch.equal(planar1d.prefix_parity(x), expected)
    assert torch.equal(planar1d.fill(x), torch.maximum(expected, x))


def test_two_peak_label_is_the_centre_between_the_peaks():
    n = 32
    x, labels = planar1d.two_peaks(n)
    assert x.shape == (496, n)
    peaks = planar1d.peak_positions(x)
    for (i1, i2), label, row in zip(peaks.tolist(), labels.tolist(), x.tolist()):
        assert row[i1] == row[i2] == 1 and i1 < i2
        assert label == float(i1 <= n // 2 <= i2)
    assert 0.3 < labels.mean() < 0.7


def test_centre_label_with_more_peaks_counts_crossings():
    x = planar1d.omega(16, 4, 300, seed=2)
    for row, label in zip(x.tolist(), planar1d.centre_label(x).tolist()):
        before = sum(row[:8])
        assert label == float(row[8] == 1 or before % 2 == 1)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="k=9"):
        planar1d.omega(8, 9, 3, seed=0)
    with pytest.raises(ValueError, match="n=0"):
        planar1d.omega_all(0, 0)
    with pytest.raises(ValueError, match="0/1 values; found 0.5"):
        planar1d.prefix_parity(torch.tensor([[0.0, 0.5]]))
    with pytest.raises(ValueError, match="expected \\(batch, n\\)"):
        planar1d.prefix_parity(torch.zeros(4))
    with pytest.raises(ValueError, match="same k"):
        planar1d.peak_positions(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="empty batch"):
        planar1d.peak_positions(torch.zeros(0, 8))
    with pytest.raises(ValueError, match="refused"):
        planar1d.omega_all(64, 10)


@pytest.mark.parametrize("call, match", [
    (lambda: planar1d.omega(8, 2, 3, seed=-1), "seed=-1"),
    (lambda: planar1d.omega(8, 2, 3, seed=float("nan")), "seed=nan"),
    (lambda: planar1d.omega(8.0, 2, 3, seed=0), "n=8.0"),
    (lambda: planar1d.omega(8, True, 3, seed=0), "k=True"),
    (lambda: planar1d.omega(8, 2, 3.0, seed=0), "size=3.0"),
    (lambda: planar1d.omega_all(8, float("nan")), "k=nan"),
    (lambda: planar1d.all_sequences(float("inf")), "n=inf"),
    (lambda: planar1d.prefix_parity(torch.tensor([[0.0, float("nan")]])), "found nan"),
])
def test_non_finite_and_bool_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
