import matplotlib.pyplot as plt
import numpy as np
import pytest

from pathkernel import plots
from pathkernel.data.planar2d import random_shape
from pathkernel.experiments import planar_fill

TINY = planar_fill.Config(scale="quick", size=32, n_shapes=6, thin_size=20)


def test_run_scores_the_two_fills():
    result = planar_fill.run(TINY, seed=1)
    assert np.array_equal(result.shape, random_shape(32, seed=6))  # seed * n_shapes
    assert result.flood_exact == 1.0
    assert np.array_equal(result.flood, result.shape)
    assert result.parity_wrong[0] == np.sum(result.parity != result.shape) > 0
    assert result.parity_exact == 0.0 and result.parity_wrong.shape == (6,)
    assert np.all(result.parity_wrong <= 32 * 32) and np.all(result.shape_area > 0)


def test_thin_outlines_one_right_one_wrong_on_its_tangent_rows():
    result = planar_fill.run(TINY)
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
    a, b = planar_fill.run(TINY, seed=2), planar_fill.run(TINY, seed=2)
    assert np.array_equal(a.parity_wrong, b.parity_wrong) and np.array_equal(a.shape, b.shape)


def test_presets_and_bad_configs(monkeypatch):
    monkeypatch.setenv("PATHKERNEL_SCALE", "paper")
    assert planar_fill.Config.from_scale() == planar_fill.Config.paper()
    assert planar_fill.Config.from_scale("quick").size == 64
    with pytest.raises(ValueError, match="n_shapes=0"):
        planar_fill.Config(scale="quick", size=32, n_shapes=0)


def test_figures_show_the_wrong_pixels():
    result = planar_fill.run(TINY)
    for plot in (plots.question_fill, plots.question_thin):
        fig = plot(result)
        assert len(fig.axes) == 4
        assert any("wrong" in ax.get_title() for ax in fig.axes)
        plt.close(fig)
