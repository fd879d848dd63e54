import dataclasses
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.metrics.pairwise import polynomial_kernel, rbf_kernel as sklearn_rbf
from sklearn.svm import SVC

from pathkernel import plots
from pathkernel.experiments import kernel_machines as km

TINY = km.Config(scale="quick", n_svm=30, n_rff=40, feature_counts=(10, 100, 1000), repeats=3, grid=21,
                 degrees=(1, 3))


@pytest.mark.parametrize("d, degree, c", [(1, 4, 1.0), (2, 2, 1.0), (3, 3, 0.5), (4, 2, 0.0)])
def test_polynomial_features_reproduce_sklearn_polynomial_kernel(d, degree, c):
    x = np.random.default_rng(d).normal(size=(15, d))
    phi = km.polynomial_features(x, degree, c)
    assert phi.shape == (15, math.comb(d + degree, degree))  # monomials of degree p in the d + 1 variables (x, sqrt(c))
    expected = polynomial_kernel(x, degree=degree, gamma=1.0, coef0=c)
    np.testing.assert_allclose(phi @ phi.T, expected, rtol=1e-12, atol=1e-12)


def test_random_fourier_features_converge_at_the_monte_carlo_rate():
    x = np.random.default_rng(1).normal(size=(30, 2))
    kernel = sklearn_rbf(x, x, gamma=1.5)
    errors = {}
    for count in (100, 10000):
        errors[count] = np.mean([np.sqrt(np.mean((z @ z.T - kernel) ** 2))
                                 for z in (km.random_fourier_features(x, count, 1.5, seed=s) for s in range(8))])
    assert 5 < errors[100] / errors[10000] < 20  # sqrt(10000 / 100) = 10
    assert errors[10000] < 0.03
    assert np.array_equal(km.random_fourier_features(x, 5, 1.5, seed=3), km.random_fourier_features(x, 5, 1.5, seed=3))


def test_svm_decision_by_hand_matches_sklearn():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 2))
    y = np.where(x[:, 0] * x[:, 1] > 0, 1, -1)
    svm = SVC(kernel="rbf", gamma=0.8, C=3.0).fit(x, y)
    xq = rng.normal(size=(50, 2))
    np.testing.assert_allclose(km.svm_decision(svm, xq, 0.8), svm.decision_function(xq), rtol=0, atol=1e-10)


def test_run_checks_the_kernels_and_the_svm():
    result = km.run(TINY, seed=0)
    assert np.all(result.poly_error < 1e-13)
    assert result.poly_dims.tolist() == [3, 10]
    assert -0.7 < result.rff_slope < -0.3
    assert result.by_hand_error < 1e-10
    assert result.train_accuracy == 1.0  # the ball and the sphere are separated by a gap
    # dual constraints of the soft-margin SVM: sum_i y_i alpha_i = 0 and 0 < alpha_i <= C
    assert abs(result.dual_coef.sum()) < 1e-8
    assert np.all(np.abs(result.dual_coef) <= TINY.C + 1e-12)
    assert np.all(np.sign(result.dual_coef) == result.y[result.support])
    assert result.decision.shape == (21, 21) and result.rff_gram.shape == (3, 40 * 40)


@pytest.mark.parametrize("call, match", [
    (lambda x: km.polynomial_features(x, 0), "degree=0"),
    (lambda x: km.polynomial_features(x, 2, c=-1.0), "c=-1.0"),
    (lambda x: km.random_fourier_features(x, 0, 1.0), "n_features=0"),
    (lambda x: km.random_fourier_features(x, 10, 0.0), "gamma=0.0"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.zeros((3, 2)))


def test_numbers_are_read_from_the_result():
    result = km.run(TINY, seed=0)
    numbers = km.numbers(result)
    chapter = (Path(__file__).parents[1] / "notebooks" / "kernel_machines.md").read_text()
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == set(numbers)
    assert numbers["kernelmachines-scale"] == "quick"
    # the degrees, recovered from the numbers of explicit features C(2 + p, p) in the plane
    degrees = [next(p for p in range(1, 20) if math.comb(2 + p, p) == dim) for dim in result.poly_dims]
    assert numbers["kernelmachines-degrees"] == ", ".join(map(str, degrees)) == "1, 3"
    consecutive = dataclasses.replace(result, config=dataclasses.replace(TINY, degrees=(1, 2, 3)))
    assert km.numbers(consecutive)["kernelmachines-degrees"] == "1 to 3"
    # the slope refitted from the errors, the support counted from the dual coefficients
    slope = np.polyfit(np.log(TINY.feature_counts), np.log(result.rff_error.mean(1)), 1)[0]
    assert numbers["kernelmachines-slope"] == f"{slope:.2f}"
    assert numbers["kernelmachines-n-support"] == np.count_nonzero(result.dual_coef) == len(result.support)
    assert float(numbers["kernelmachines-by-hand"]) == float(f"{result.by_hand_error:.0e}") < 1e-10


def test_figures_and_table():
    result = km.run(TINY)
    fig = plots.kernel_machines.features(result)
    right = fig.axes[1]
    assert right.get_xscale() == right.get_yscale() == "log"
    assert any(f"slope {result.rff_slope:.2f}" in t.get_text() for t in right.get_legend().get_texts())
    plt.close(fig)
    fig = plots.kernel_machines.svm(result)
    assert any(f"support vectors ({len(result.support)})" in t.get_text() for t in fig.legends[0].get_texts())
    plt.close(fig)
    frame = plots.kernel_machines.table(result).data
    assert frame["degree p"].tolist() == list(TINY.degrees) and frame["features"].tolist() == [3, 10]
