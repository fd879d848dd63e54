import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

import pathkernel as pk
from pathkernel import plots
from pathkernel.experiments import kernel_evolution as ke
from pathkernel.experiments import kernel_evolution_digits as kd
from reference import naive_jacobian, naive_kernel, randn

TINY = ke.Config(scale="quick", n=40, queries=30, k=6, steps=30, wave_n=12, wave_steps=30, svm_n=40, svm_test=50,
                 svm_steps=60, width=12, grid=10, wave_grid=25)
TINY_DIGITS = kd.Config(scale="quick", per_class=6, show=3, umap_per_class=12, printed_per_digit=4, width=16,
                        steps=40, n_neighbors=5, knn=3, folds=3)


def test_normalized_trace_kernel_against_naive_jacobians():
    model = pk.MLP(5, 7, 3, out_dim=3, dtype=torch.float64)
    x = randn(6, 5, seed=0)
    K = naive_kernel(model, x, x)  # (6, 6, 3, 3) by dot products of autograd Jacobian rows
    trace = torch.stack([torch.stack([torch.trace(K[i, j]) for j in range(6)]) for i in range(6)])
    expected = trace / torch.sqrt(torch.outer(torch.diagonal(trace), torch.diagonal(trace)))
    np.testing.assert_allclose(kd.normalized_trace_kernel(model, x), expected.numpy(), rtol=1e-12, atol=1e-13)
    scalar = pk.MLP(5, 7, 3, dtype=torch.float64)
    np.testing.assert_allclose(kd.normalized_trace_kernel(scalar, x),
                               pk.tangent_kernel(scalar, x, normalized=True).numpy(), rtol=1e-12, atol=1e-13)


def test_chordal_distance_is_the_distance_of_unit_flattened_features():
    model = pk.MLP(4, 6, 2, out_dim=2, dtype=torch.float64)
    x = randn(5, 4, seed=1)
    features = naive_jacobian(model, x).reshape(5, -1)
    unit = features / features.norm(dim=1, keepdim=True)
    expected = torch.cdist(unit, unit).numpy()
    np.testing.assert_allclose(kd.chordal_distance(kd.normalized_trace_kernel(model, x)), expected, atol=1e-7)


def test_knn_accuracy_equals_sklearn_on_explicit_points():
    points = randn(30, 3, seed=2).numpy()
    labels = np.repeat([0, 1, 2], 10)
    points[labels == 1] += 1.5
    distance = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    expected = cross_val_score(KNeighborsClassifier(3), points, labels,
                               cv=StratifiedKFold(3, shuffle=True, random_state=4)).mean()
    assert kd.knn_accuracy(distance, labels, k=3, folds=3, seed=4) == pytest.approx(expected, abs=1e-12)


def test_anisotropic_maps_the_circle_task_onto_the_ellipse():
    z, y = pk.data.ball_sphere(50, r2=0.9, seed=0)
    x = ke.anisotropic(z, "ellipse")
    value = 100 * x[:, 0] ** 2 + x[:, 1] ** 2
    torch.testing.assert_close(value[y == 1], torch.ones(int((y == 1).sum()), dtype=torch.float64))
    assert torch.all(value[y == -1] <= 0.9)
    assert torch.equal(ke.anisotropic(z, "circle"), z)
    np.testing.assert_array_equal(ke.disk_label(np.array([[0.0, 0.5], [0.0, 1.0]]), 0.8), [-1.0, 1.0])
    with pytest.raises(ValueError, match="task='square'"):
        ke.anisotropic(z, "square")


@pytest.mark.parametrize("call, match", [
    (lambda: dataclasses.replace(TINY, k=41), "k=41"),
    (lambda: dataclasses.replace(TINY, steps=1), "steps=1"),
    (lambda: dataclasses.replace(TINY_DIGITS, show=5), "show=5"),
    (lambda: ke.Config.from_scale("huge"), "scale='huge'"),
])
def test_bad_configs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.fixture(scope="module")
def planar():
    return ke.run(TINY, seed=0)


def test_planar_neighbourhoods_and_homogeneity_recomputed(planar):
    r = planar
    assert r.checkpoints.tolist() == [0, 15, 30]
    distance = ((r.anchors[:, None] - r.x[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(np.sort(r.euclidean, 1), np.sort(np.argsort(distance, 1)[:, :6], 1))
    for j in range(3):
        expected = (r.y[r.neighbours[j]] == r.anchor_labels[:, None]).mean(1)
        np.testing.assert_allclose(r.homogeneity[j], expected)
    np.testing.assert_array_equal(r.anchor_labels, [-1, -1, 1, 1])
    assert np.all((0 <= r.mean_homogeneity) & (r.mean_homogeneity <= 1))
    # at initialization the kernel neighbourhoods of the anchors are recomputed from naive Jacobians
    model = pk.MLP(2, 12, 3, seed=0, dtype=torch.float64)
    J_anchor = naive_jacobian(model, torch.from_numpy(r.anchors))[:, 0]
    J_train = naive_jacobian(model, torch.from_numpy(r.x))[:, 0]
    cosine = (J_anchor @ J_train.T) / torch.outer(J_anchor.norm(dim=1), J_train.norm(dim=1))
    np.testing.assert_array_equal(r.neighbours[0], torch.argsort(-cosine, dim=1)[:, :6].numpy())


def test_planar_waves_and_svms(planar):
    r = planar
    for kernel in r.wave_kernel.reshape(-1, 12, 12):
        np.testing.assert_allclose(np.diag(kernel), 1.0, atol=1e-12)
        np.testing.assert_allclose(kernel, kernel.T, atol=1e-12)
    np.testing.assert_allclose(r.wave_y[0], np.sin(r.wave_x))
    np.testing.assert_allclose(r.wave_truth[0], np.sin(r.wave_grid))
    np.testing.assert_array_equal(r.wave_truth[1], np.where(np.sin(r.wave_grid) >= 0, 1.0, -1.0))
    np.testing.assert_allclose(r.wave_rmse, np.sqrt(((r.wave_prediction[:, 1] - r.wave_truth) ** 2).mean(1)))
    assert r.accuracies.shape == r.train_accuracy.shape == (2, 3)
    assert np.all(r.train_accuracy[:, 1] == 1.0)  # the hard-margin SVM separates its training set
    assert np.all(np.abs(r.svm_x[1, :, 0]) <= 0.1 + 1e-12)
    assert r.svm_decision.shape == (2, 2, 10, 10)


@pytest.fixture(scope="module")
def digit_result():
    return kd.run(TINY_DIGITS, seed=0)


def test_digit_kernels_and_printed_confusion(digit_result):
    r = digit_result
    assert r.class_kernel.shape == (2, 30, 30) and r.mixed_kernel.shape == (2, 60, 60)
    for kernel in [*r.class_kernel, *r.mixed_kernel]:
        np.testing.assert_allclose(np.diag(kernel), 1.0, atol=1e-12)
        np.testing.assert_allclose(kernel, kernel.T, atol=1e-12)
    for k, kernel in enumerate(r.class_kernel):
        pairs = [(i, j) for i in range(30) for j in range(30) if i != j]
        within = [kernel[i, j] for i, j in pairs if r.show_labels[i] == r.show_labels[j]]
        between = [kernel[i, j] for i, j in pairs if r.show_labels[i] != r.show_labels[j]]
        np.testing.assert_allclose(r.class_contrast[k], [np.mean(within), np.mean(between)])
    assert r.mixed_labels.tolist()[:6] == [0] * 6 and r.mixed_printed.tolist()[:6] == [False] * 3 + [True] * 3
    assert r.confusion.sum() == 40 and np.all(r.confusion.sum(1) == 4)
    assert r.printed_accuracy == pytest.approx(np.trace(r.confusion) / 40)
    assert r.train_accuracy == 1.0


def test_digit_umap_scores(digit_result):
    r = digit_result
    seen = r.umap_labels < 5
    assert r.embeddings.shape == (3, 120, 2)
    assert np.all(np.isfinite(r.embeddings[[0, 2]])) and np.all(np.isfinite(r.embeddings[1, seen]))
    assert np.all(np.isnan(r.embeddings[1, ~seen]))
    assert r.feature_silhouette.shape == r.feature_knn.shape == (3, 2)
    assert np.all((-1 <= r.feature_silhouette) & (r.feature_silhouette <= 1))
    assert np.all((0 <= r.embedding_knn) & (r.embedding_knn <= 1))


def test_umap_embedding_is_deterministic_and_keeps_torch_threads(digit_result):
    points = randn(40, 3, seed=3).numpy()
    distance = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    threads = torch.get_num_threads()
    first = kd.umap_embedding(distance, n_neighbors=5, seed=0)
    assert torch.get_num_threads() == threads
    np.testing.assert_array_equal(first, kd.umap_embedding(distance, n_neighbors=5, seed=0))
    assert first.shape == (40, 2) and np.all(np.isfinite(first))
    with pytest.raises(ValueError, match=r"square \(n, n\).*\(40, 39\)"):
        kd.umap_embedding(distance[:, :39], n_neighbors=5, seed=0)
    with pytest.raises(ValueError, match="n_neighbors=41"):
        kd.umap_embedding(distance, n_neighbors=41, seed=0)


@pytest.mark.parametrize("name", ["neighbours", "waves", "svm"])
def test_planar_plots_draw(planar, name):
    fig = getattr(plots, f"kernelevolution_{name}")(planar)
    assert len(fig.axes) >= 4
    plt.close(fig)


@pytest.mark.parametrize("name", ["digits", "umap", "printed"])
def test_digit_plots_draw(digit_result, name):
    fig = getattr(plots, f"kernelevolution_{name}")(digit_result)
    assert len(fig.axes) >= 2
    plt.close(fig)
