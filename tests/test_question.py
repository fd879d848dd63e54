import importlib
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from pathkernel import plots
from pathkernel.data.planar2d import boundary, fill_flood, fill_parity, random_shape
from pathkernel.experiments import question

TINY = question.Config(scale="quick", size=32, n_shapes=6, thin_size=20)


def test_run_scores_the_two_fills():
    result = question.run(TINY, seed=1)
    assert np.array_equal(result.shape, random_shape(32, seed=6))  # seed * n_shapes
    assert result.flood_exact == 1.0
    assert np.array_equal(result.flood, result.shape)
    assert result.parity_wrong[0] == np.sum(result.parity != result.shape) > 0
    assert result.parity_exact == 0.0 and result.parity_wrong.shape == (6,)
    assert np.all(result.parity_wrong <= 32 * 32) and np.all(result.shape_area > 0)


def test_thin_outlines_one_right_one_wrong_on_its_tangent_rows():
    result = question.run(TINY)
    assert np.array_equal(result.diamond_parity, result.diamond_shape)
    rows, cols = np.nonzero(result.rectangle_shape)
    top, bottom, right = rows.min(), rows.max(), cols.max()
    assert (right - cols.min() + 1) % 2 == 1, "an odd width flips the parity on the tangent rows"
    expected = np.zeros_like(result.rectangle_shape)
    expected[[top, bottom], right + 1 :] = True
    assert np.array_equal(result.rectangle_parity != result.rectangle_shape, expected)
    # the outlines are 1 pixel thin: every pixel of the outline has a 4-neighbour outside the filling
    for name in ("diamond", "rectangle"):
        edge, filled = getattr(result, f"{name}_edge"), getattr(result, f"{name}_shape")
        assert np.all(filled[edge]) and edge.sum() < filled.sum() / 2


def test_run_is_deterministic():
    a, b = question.run(TINY, seed=2), question.run(TINY, seed=2)
    assert np.array_equal(a.parity_wrong, b.parity_wrong) and np.array_equal(a.shape, b.shape)


def test_presets_and_bad_configs(monkeypatch):
    monkeypatch.setenv("PATHKERNEL_SCALE", "paper")
    assert question.Config.from_scale() == question.Config.paper()
    assert question.Config.from_scale("quick").size == 64
    with pytest.raises(ValueError, match="n_shapes=0"):
        question.Config(scale="quick", size=32, n_shapes=0)


def test_figures_show_the_wrong_pixels():
    result = question.run(TINY)
    for plot in (plots.question.fill, plots.question.thin):
        fig = plot(result)
        assert len(fig.axes) == 4
        assert any("wrong" in ax.get_title() for ax in fig.axes)
        plt.close(fig)


def test_old_module_name_is_the_study():
    assert importlib.import_module("pathkernel.experiments.planar_fill") is question
    from pathkernel.experiments import planar_fill

    assert planar_fill is question and planar_fill.run is question.run


def test_numbers_and_wrong_fraction():
    result = question.run(TINY, seed=1)
    numbers = question.numbers(result)
    chapter = (Path(__file__).parents[1] / "notebooks" / "question.md").read_text()
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == set(numbers)
    assert (numbers["question-scale"], numbers["question-n"]) == ("quick", 6)
    # recomputed shape by shape from the fills of the random shapes
    fractions, thin_fractions, exact = [], [], []
    for k in range(TINY.n_shapes):
        shape = random_shape(TINY.size, seed=TINY.n_shapes + k)
        edge, thin = boundary(shape), boundary(shape, neighbours=4)
        fractions.append((fill_parity(edge) != shape).sum() / shape.sum())
        thin_fractions.append((fill_parity(thin) != shape).sum() / shape.sum())
        exact.append(np.array_equal(fill_flood(edge), shape))
    assert question.wrong_fraction(result) == pytest.approx(np.mean(fractions), rel=1e-12)
    assert question.wrong_fraction(result, thin=True) == pytest.approx(np.mean(thin_fractions), rel=1e-12)
    assert numbers["question-wrong"] == f"{100 * np.mean(fractions):.0f}%"
    assert numbers["question-flood"] == f"{100 * np.mean(exact):.0f}%" == "100%"
    assert numbers["question-parity"] == "0%"


def test_table():
    result = question.run(TINY)
    frame = plots.question.table(result).data
    assert frame["boundary"].tolist() == ["8-neighbour (thick)", "4-neighbour (thin)"]
    assert frame["parity scan exact"].tolist() == [result.parity_exact, result.parity_exact_thin]
    assert frame["parity: wrong pixels / shape area"].tolist() == [question.wrong_fraction(result),
                                                                   question.wrong_fraction(result, thin=True)]
