import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

import pathkernel as pk
from pathkernel.neighbours import euclidean_neighbours, jaccard, kernel_neighbours, label_homogeneity
from reference import load_flat, naive_jacobian, randn


def test_linear_model_kernel_neighbours_are_cosine_neighbours_of_the_augmented_inputs():
    # K(x, x') = <x, x'> + 1 for an affine model: the normalized kernel is the cosine of [x, 1]
    model = pk.LinearModel(3, dtype=torch.float64)
    x, q = randn(40, 3, seed=0), randn(6, 3, seed=1)
    augment = lambda t: np.hstack([t.numpy(), np.ones((t.shape[0], 1))])  # noqa: E731
    search = NearestNeighbors(n_neighbors=7, metric="cosine", algorithm="brute").fit(augment(x))
    _, expected = search.kneighbors(augment(q))
    found = kernel_neighbours(model, q, x, 7)
    assert found.dtype == torch.long and found.shape == (6, 7)
    np.testing.assert_array_equal(found.numpy(), expected)


def test_mlp_kernel_neighbours_match_an_argsort_of_naive_jacobian_cosines():
    model = pk.MLP(2, 8, 3, dtype=torch.float64)
    x, q = randn(25, 2, seed=2), randn(4, 2, seed=3)
    Jx, Jq = naive_jacobian(model, x)[:, 0, :], naive_jacobian(model, q)[:, 0, :]
    cosine = (Jq @ Jx.T) / Jq.norm(dim=1)[:, None] / Jx.norm(dim=1)[None, :]
    expected = np.argsort(-cosine.numpy(), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(kernel_neighbours(model, q, x, 5).numpy(), expected)


def test_kernel_neighbours_at_other_parameters_equal_those_of_a_model_holding_them():
    model = pk.MLP(2, 6, 3, dtype=torch.float64, seed=0)
    other = pk.MLP(2, 6, 3, dtype=torch.float64, seed=1)
    theta = pk.flat_parameters(other)
    x, q = randn(20, 2, seed=4), randn(5, 2, seed=5)
    Jx = naive_jacobian(load_flat(model, theta), x)[:, 0, :]
    Jq = naive_jacobian(load_flat(model, theta), q)[:, 0, :]
    cosine = (Jq @ Jx.T) / Jq.norm(dim=1)[:, None] / Jx.norm(dim=1)[None, :]
    expected = np.argsort(-cosine.numpy(), axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(kernel_neighbours(model, q, x, 4, params=theta).numpy(), expected)
    assert not np.array_equal(kernel_neighbours(model, q, x, 20).numpy(),
                              kernel_neighbours(model, q, x, 20, params=theta).numpy())


def test_euclidean_neighbours_match_a_brute_force_argsort():
    x, q = randn(30, 3, seed=6), randn(5, 3, seed=7)
    distances = ((q.numpy()[:, None, :] - x.numpy()[None, :, :]) ** 2).sum(-1)
    expected = np.argsort(distances, axis=1)[:, :6]
    found = euclidean_neighbours(q, x, 6)
    assert found.dtype == torch.long
    np.testing.assert_array_equal(found.numpy(), expected)


def test_jaccard_by_hand():
    a = torch.tensor([[0, 1, 2], [3, 4, 5], [7, 8, 9], [1, 2, 2]])
    b = torch.tensor([[2, 1, 0], [5, 6, 7], [1, 2, 3], [2, 1, 3]])
    # {0,1,2} = {0,1,2}: 1; {3,4,5} vs {5,6,7}: 1/5; disjoint: 0; {1,2} vs {1,2,3}: 2/3
    expected = torch.tensor([1.0, 1 / 5, 0.0, 2 / 3], dtype=torch.float64)
    torch.testing.assert_close(jaccard(a, b), expected, rtol=0, atol=1e-15)
    torch.testing.assert_close(jaccard(b, a), expected, rtol=0, atol=1e-15)


def test_label_homogeneity_by_hand():
    labels = torch.tensor([1, 1, -1, -1, -1, 2])
    neighbours = torch.tensor([[0, 1, 2, 3], [2, 3, 4, 4], [0, 2, 5, 5]])
    # majority label: {1:2, -1:2} -> 2/4; all -1 -> 1; {2:2, 1:1, -1:1} -> 2/4
    torch.testing.assert_close(label_homogeneity(neighbours, labels),
                               torch.tensor([0.5, 1.0, 0.5], dtype=torch.float64))
    # against the query's own label
    torch.testing.assert_close(label_homogeneity(neighbours, labels, torch.tensor([1, 1, -1])),
                               torch.tensor([0.5, 0.0, 0.25], dtype=torch.float64))


@pytest.mark.parametrize("call, match", [
    (lambda: euclidean_neighbours(randn(2, 2, seed=0), randn(3, 2, seed=1), 4), "k=4 exceeds"),
    (lambda: euclidean_neighbours(randn(2, 2, seed=0), randn(3, 2, seed=1), 0), "k=0"),
    (lambda: kernel_neighbours(pk.MLP(2, 3, 2, dtype=torch.float64), randn(2, seed=0), randn(3, 2, seed=1), 1),
     "queries has shape"),
    (lambda: kernel_neighbours(pk.MLP(2, 3, 2, out_dim=2, dtype=torch.float64), randn(2, 2, seed=0),
                               randn(3, 2, seed=1), 1), "scalar-output"),
    (lambda: jaccard(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 3, dtype=torch.long)), "same number"),
    (lambda: jaccard(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long)), "integer tensor"),
    (lambda: label_homogeneity(torch.tensor([[0, 5]]), torch.tensor([1, -1])), "outside"),
    (lambda: label_homogeneity(torch.tensor([[0, 1]]), torch.tensor([1, -1]), torch.tensor([1, 1])), "one per query"),
])
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
