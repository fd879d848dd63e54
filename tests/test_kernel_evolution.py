import dataclasses
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.metrics import silhouette_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

import pathkernel as pk
from pathkernel import plots
from pathkernel.data.digits import handwritten_digits
from pathkernel.experiments import kernel_evolution as ke
from pathkernel.experiments import kernel_evolution_digits as kd
from pathkernel.experiments.kernel_evolution import digits, neighbourhoods, svms, umap, waves
from reference import naive_jacobian, naive_kernel, randn

# the old entry points (one config for the three planar and 1D studies, one for the two digit
# studies) still work; the tests run them and read each study's result from theirs

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
    np.testing.assert_allclose(digits.normalized_trace_kernel(model, x), expected.numpy(), rtol=1e-12, atol=1e-13)
    scalar = pk.MLP(5, 7, 3, dtype=torch.float64)
    np.testing.assert_allclose(digits.normalized_trace_kernel(scalar, x),
                               pk.tangent_kernel(scalar, x, normalized=True).numpy(), rtol=1e-12, atol=1e-13)


def test_chordal_distance_is_the_distance_of_unit_flattened_features():
    model = pk.MLP(4, 6, 2, out_dim=2, dtype=torch.float64)
    x = randn(5, 4, seed=1)
    features = naive_jacobian(model, x).reshape(5, -1)
    unit = features / features.norm(dim=1, keepdim=True)
    expected = torch.cdist(unit, unit).numpy()
    np.testing.assert_allclose(umap.chordal_distance(digits.normalized_trace_kernel(model, x)), expected, atol=1e-7)


def test_knn_accuracy_equals_sklearn_on_explicit_points():
    points = randn(30, 3, seed=2).numpy()
    labels = np.repeat([0, 1, 2], 10)
    points[labels == 1] += 1.5
    distance = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    expected = cross_val_score(KNeighborsClassifier(3), points, labels,
                               cv=StratifiedKFold(3, shuffle=True, random_state=4)).mean()
    assert umap.knn_accuracy(distance, labels, k=3, folds=3, seed=4) == pytest.approx(expected, abs=1e-12)


def test_anisotropic_maps_the_circle_task_onto_the_ellipse():
    z, y = pk.data.ball_sphere(50, r2=0.9, seed=0)
    x = svms.anisotropic(z, "ellipse")
    value = 100 * x[:, 0] ** 2 + x[:, 1] ** 2
    torch.testing.assert_close(value[y == 1], torch.ones(int((y == 1).sum()), dtype=torch.float64))
    assert torch.all(value[y == -1] <= 0.9)
    assert torch.equal(svms.anisotropic(z, "circle"), z)
    np.testing.assert_array_equal(neighbourhoods.disk_label(np.array([[0.0, 0.5], [0.0, 1.0]]), 0.8), [-1.0, 1.0])
    with pytest.raises(ValueError, match="task='square'"):
        svms.anisotropic(z, "square")


@pytest.mark.parametrize("call, match", [
    (lambda: dataclasses.replace(TINY, k=41), "k=41"),
    (lambda: dataclasses.replace(TINY, steps=1), "steps=1"),
    (lambda: dataclasses.replace(TINY_DIGITS, show=5), "show=5"),
    (lambda: ke.Config.from_scale("huge"), "scale='huge'"),
    (lambda: dataclasses.replace(neighbourhoods.Config.quick(), k=301), "k=301"),
    (lambda: dataclasses.replace(digits.Config.quick(), show=25), "show=25"),
    (lambda: dataclasses.replace(svms.Config.quick(), n_more=150), "n_more=150"),
])
def test_bad_configs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("scale", ["quick", "paper"])
def test_old_configs_split_into_the_studies_presets(scale):
    assert ke.Config.from_scale(scale).studies() == tuple(
        study.Config.from_scale(scale) for study in (neighbourhoods, waves, svms))
    assert kd.Config.from_scale(scale).studies() == (digits.Config.from_scale(scale), umap.Config.from_scale(scale))


@pytest.fixture(scope="module")
def planar():
    """The old entry point: the three studies' results, under their old field names too."""
    return ke.run(TINY, seed=0)


def test_old_result_reads_the_old_field_names(planar):
    assert planar.wave_kernel is planar.waves.kernel and planar.svm_decision is planar.svms.decision
    assert planar.x is planar.neighbourhoods.x and planar.svm_x is planar.svms.x
    assert planar.accuracies is planar.svms.accuracies
    assert (planar.neighbourhoods.config, planar.waves.config, planar.svms.config) == TINY.studies()
    with pytest.raises(AttributeError, match="wave_nothing"):
        planar.wave_nothing


def test_neighbourhoods_and_homogeneity_recomputed(planar):
    r = planar.neighbourhoods
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


def test_waves_and_svms(planar):
    r = planar.waves
    for kernel in r.kernel.reshape(-1, 12, 12):
        np.testing.assert_allclose(np.diag(kernel), 1.0, atol=1e-12)
        np.testing.assert_allclose(kernel, kernel.T, atol=1e-12)
    np.testing.assert_allclose(r.y[0], np.sin(r.x))
    np.testing.assert_allclose(r.truth[0], np.sin(r.grid))
    np.testing.assert_array_equal(r.truth[1], np.where(np.sin(r.grid) >= 0, 1.0, -1.0))
    np.testing.assert_allclose(r.rmse, np.sqrt(((r.prediction[:, 1] - r.truth) ** 2).mean(1)))
    r = planar.svms
    assert r.accuracies.shape == r.train_accuracy.shape == (2, 3)
    assert np.all(r.train_accuracy[:, 1] == 1.0)  # the hard-margin SVM separates its training set
    assert np.all(np.abs(r.x[1, :, 0]) <= 0.1 + 1e-12)
    assert r.decision.shape == (2, 2, 10, 10)


@pytest.fixture(scope="module")
def digit_result():
    """The old entry point of the digit studies: `digits` and `umap` results, old names too."""
    return kd.run(TINY_DIGITS, seed=0)


def test_old_digit_result_reads_the_old_field_names(digit_result):
    assert digit_result.class_kernel is digit_result.digits.class_kernel
    assert digit_result.umap_labels is digit_result.umap.labels
    assert digit_result.seen_test_accuracy == digit_result.umap.seen_test_accuracy
    assert kd.fit is digits.fit and kd.umap_embedding is umap.umap_embedding and kd.SEEN == umap.SEEN


def test_digit_kernels_and_printed_confusion(digit_result):
    r = digit_result.digits
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
    r = digit_result.umap
    seen = r.labels < 5
    assert r.embeddings.shape == (3, 120, 2)
    assert np.all(np.isfinite(r.embeddings[[0, 2]])) and np.all(np.isfinite(r.embeddings[1, seen]))
    assert np.all(np.isnan(r.embeddings[1, ~seen]))
    assert r.feature_silhouette.shape == r.feature_knn.shape == (3, 2)
    assert np.all((-1 <= r.feature_silhouette) & (r.feature_silhouette <= 1))
    assert np.all((0 <= r.embedding_knn) & (r.embedding_knn <= 1))


def test_umap_embedding_is_deterministic_and_keeps_torch_threads():
    points = randn(40, 3, seed=3).numpy()
    distance = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    threads = torch.get_num_threads()
    first = umap.umap_embedding(distance, n_neighbors=5, seed=0)
    assert torch.get_num_threads() == threads
    np.testing.assert_array_equal(first, umap.umap_embedding(distance, n_neighbors=5, seed=0))
    assert first.shape == (40, 2) and np.all(np.isfinite(first))
    with pytest.raises(ValueError, match=r"square \(n, n\).*\(40, 39\)"):
        umap.umap_embedding(distance[:, :39], n_neighbors=5, seed=0)
    with pytest.raises(ValueError, match="n_neighbors=41"):
        umap.umap_embedding(distance, n_neighbors=41, seed=0)


def test_numbers_cover_the_chapter_without_clashes(planar, digit_result):
    parts = [neighbourhoods.numbers(planar.neighbourhoods), waves.numbers(planar.waves), svms.numbers(planar.svms),
             digits.numbers(digit_result.digits), umap.numbers(digit_result.umap)]
    names = [name for part in parts for name in part]
    assert len(names) == len(set(names))
    chapter = (Path(__file__).parents[1] / "notebooks" / "kernel_evolution.md").read_text()
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) <= set(names)


def test_planar_numbers_recomputed(planar):
    r = planar.neighbourhoods
    numbers = neighbourhoods.numbers(r)
    assert (numbers["kernelevolution-scale"], numbers["kernelevolution-k"], numbers["kernelevolution-n"],
            numbers["kernelevolution-queries"]) == ("quick", "6", "40", "30")
    # the Euclidean homogeneity of the fresh points, from their k nearest training points by a sort
    q, qy = pk.data.ball_sphere(TINY.queries, r2=TINY.r2, seed=1)
    nearest = np.argsort(((q.numpy()[:, None] - r.x[None]) ** 2).sum(-1), 1)[:, :TINY.k]
    assert numbers["kernelevolution-euclid-h"] == f"{(r.y[nearest] == qy.numpy()[:, None]).mean():.0%}"
    assert [numbers[f"kernelevolution-h-{when}"] for when in ("init", "mid", "end")] == [
        f"{h:.0%}" for h in r.mean_homogeneity]
    assert (numbers["kernelevolution-depth"], numbers["kernelevolution-width"]) == ("3", "12")
    # the disk's radius^2 separates the labels of the training points
    radius2 = float(numbers["kernelevolution-r2"])
    assert radius2 == 0.8 and np.all(((r.x**2).sum(1) <= radius2) == (r.y == -1))
    # the accuracy on the fresh points, recounted with a retrained network
    x, y = pk.data.ball_sphere(TINY.n, r2=TINY.r2, seed=0)
    net = ke.fit(x, y, TINY.studies()[0], steps=TINY.steps, lr=TINY.lr, seed=0).model
    with torch.no_grad():
        accuracy = (torch.sign(net(q)[:, 0]) == qy).double().mean().item()
    assert numbers["kernelevolution-accuracy"] == f"{accuracy:.1%}"
    numbers = waves.numbers(planar.waves)
    rmse = [np.sqrt(np.mean((planar.waves.prediction[c, 1] - planar.waves.truth[c]) ** 2)) for c in range(2)]
    assert (numbers["kernelevolution-rmse-sine"], numbers["kernelevolution-rmse-square"]) == tuple(
        f"{e:.3f}" for e in rmse)
    r = planar.svms
    numbers = svms.numbers(r)
    assert (numbers["kernelevolution-svm-n"], numbers["kernelevolution-svm-n-more"],
            numbers["kernelevolution-svm-n-test"]) == ("40", "500", "50") and len(numbers) == 17
    radius2 = float(numbers["kernelevolution-svm-r2"])
    assert radius2 == 0.9 and np.all(((r.x[0] ** 2).sum(1) <= radius2) == (r.y[0] == -1))
    # the network's test accuracy on the ellipse, recounted from fresh points and a retrained network
    zt, yt = pk.data.ball_sphere(TINY.svm_test, r2=TINY.svm_r2, seed=1)
    x = svms.anisotropic(pk.data.ball_sphere(TINY.svm_n, r2=TINY.svm_r2, seed=0)[0], "ellipse")
    net = ke.fit(x, torch.from_numpy(r.y[1]), TINY.studies()[2], steps=TINY.svm_steps, lr=TINY.lr, seed=0).model
    with torch.no_grad():
        accuracy = (torch.sign(net(svms.anisotropic(zt, "ellipse"))[:, 0]) == yt).double().mean().item()
    assert numbers["kernelevolution-svm-ellipse-net"] == f"{accuracy:.1%}"
    assert numbers["kernelevolution-svm-circle-rbf"] == f"{r.accuracies[0, 2]:.1%}"
    # the RBF SVMs refitted with scikit-learn: on n_more points, and the two SVMs' difference on the ellipse
    xt = svms.anisotropic(zt, "ellipse").numpy()
    z_more, y_more = pk.data.ball_sphere(500, r2=TINY.svm_r2, seed=0)
    rbf = SVC(kernel="rbf", gamma="scale", C=TINY.C).fit(svms.anisotropic(z_more, "ellipse").numpy(), y_more.numpy())
    assert numbers["kernelevolution-svm-more-ellipse-rbf"] == f"{np.mean(rbf.predict(xt) == yt.numpy()):.1%}"
    rbf = SVC(kernel="rbf", gamma="scale", C=TINY.C).fit(x.numpy(), r.y[1])
    rbf_correct = int((rbf.predict(xt) == yt.numpy()).sum())
    tangent_correct = int(round(r.accuracies[1, 1] * TINY.svm_test))
    assert numbers["kernelevolution-svm-ellipse-diff"] == f"{abs(tangent_correct - rbf_correct)}"


def test_digit_numbers_recomputed(digit_result):
    r = digit_result.digits
    numbers = digits.numbers(r)
    assert numbers["kernelevolution-per-class"] == "6" and numbers["kernelevolution-printed-n"] == "4"
    assert (numbers["kernelevolution-show"], numbers["kernelevolution-digits-depth"]) == ("3", "3")
    assert numbers["kernelevolution-printed-acc"] == f"{np.trace(r.confusion) / r.confusion.sum():.0%}"
    led = sum(any(r.confusion[d, e] > r.confusion[d, d] for e in range(10) if e != d) for d in range(10))
    assert numbers["kernelevolution-confused-rows"] == f"{led}"
    assert digits.confused_rows(np.array([[1, 3, 0], [0, 2, 2], [1, 0, 0]])) == 2  # a tie is not led
    # handwritten-printed pairs of the same and of different digits, by a loop over the trained kernel
    n = len(r.mixed_labels)
    pairs = [(i, j) for i in range(n) for j in range(n) if r.mixed_printed[i] != r.mixed_printed[j]]
    same = [r.mixed_kernel[1, i, j] for i, j in pairs if r.mixed_labels[i] == r.mixed_labels[j]]
    different = [r.mixed_kernel[1, i, j] for i, j in pairs if r.mixed_labels[i] != r.mixed_labels[j]]
    assert numbers["kernelevolution-cross-same-end"] == f"{np.mean(same):.2f}"
    assert numbers["kernelevolution-cross-diff-end"] == f"{np.mean(different):.2f}"
    assert numbers["kernelevolution-within-init"] == f"{r.class_contrast[0, 0]:.2f}"
    r = digit_result.umap
    numbers = umap.numbers(r)
    assert numbers["kernelevolution-seen-acc"] == f"{r.seen_test_accuracy:.0%}"
    assert sorted(set(r.labels.tolist())) == list(range(10))  # every digit is embedded
    assert (numbers["kernelevolution-seen-digits"], numbers["kernelevolution-unseen-digits"],
            numbers["kernelevolution-all-digits"]) == ("0–4", "5–9", "0–9")
    assert (numbers["kernelevolution-knn"], numbers["kernelevolution-folds"]) == ("3", "3")
    assert numbers["kernelevolution-sil-end-unseen"] == f"{r.feature_silhouette[2, 1]:.2f}"
    assert numbers["kernelevolution-knn-raw-seen"] == f"{r.feature_knn[0, 0]:.0%}"
    assert numbers["kernelevolution-esil-init-unseen"] == f"{r.embedding_silhouette[0, 1]:.2f}"
    # the raw-pixel silhouette of the unseen digits, recomputed from the embedded digits' pixels
    trained = handwritten_digits(umap.SEEN, per_class=TINY_DIGITS.per_class, seed=0)[2]
    points, labels, _ = handwritten_digits(per_class=TINY_DIGITS.umap_per_class, exclude=trained, seed=1)
    unseen = labels.numpy() >= 5
    pixels = points.numpy()[unseen] / 16
    assert numbers["kernelevolution-sil-raw-unseen"] == f"{silhouette_score(pixels, labels.numpy()[unseen]):.2f}"


@pytest.mark.parametrize("name, part", [("neighbours", "neighbourhoods"), ("waves", "waves"), ("svm", "svms")])
def test_planar_plots_draw(planar, name, part):
    fig = getattr(plots.kernel_evolution, name)(getattr(planar, part))
    assert len(fig.axes) >= 4
    plt.close(fig)


@pytest.mark.parametrize("name, part", [("digits", "digits"), ("umap", "umap"), ("printed", "digits")])
def test_digit_plots_draw(digit_result, name, part):
    fig = getattr(plots.kernel_evolution, name)(getattr(digit_result, part))
    assert len(fig.axes) >= 2
    plt.close(fig)


def test_tables(planar, digit_result):
    frame = plots.kernel_evolution.svm_table(planar.svms).data
    assert frame.index.tolist() == list(svms.TASKS) and np.array_equal(frame.to_numpy(), planar.svms.accuracies)
    frame = plots.kernel_evolution.umap_table(digit_result.umap).data
    assert frame.index.tolist()[:3] == list(umap.FEATURE_SPACES) and len(frame) == 5
    assert frame["silhouette, unseen 5-9"].tolist()[3:] == digit_result.umap.embedding_silhouette[:, 1].tolist()
