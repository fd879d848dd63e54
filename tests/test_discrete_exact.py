"""The chapter package `pathkernel.experiments.discrete_exact`: the study `theorem` (its run is
tested in test_experiments.py), the chapter's numbers, the old module names, the residual table."""

import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from pathkernel import plots
from pathkernel.experiments.discrete_exact import theorem, vector_outputs

TINY = theorem.Config(scale="quick", n=12, width=8, time=1.0, lrs=(0.2, 0.1), n_query=10, fit_max_lr=0.2)


@pytest.fixture(scope="module")
def result():
    return theorem.run(TINY, seed=0)


def test_old_module_names_are_aliases():
    import pathkernel.experiments.vector_outputs as old_vector
    from pathkernel.experiments import discrete_theorem
    from pathkernel.experiments.discrete_theorem import query_points

    assert discrete_theorem is theorem and old_vector is vector_outputs
    assert query_points is theorem.query_points
    assert theorem.__name__ == "pathkernel.experiments.discrete_exact.theorem"


def test_query_points_fill_the_disk():
    points = theorem.query_points(500, 1.5, seed=3)
    radius = np.linalg.norm(points.numpy(), axis=1)
    assert points.shape == (500, 2) and radius.max() <= 1.5 and radius.min() < 0.2
    assert np.array_equal(points.numpy(), theorem.query_points(500, 1.5, seed=3).numpy())


def test_numbers_are_read_from_the_result_and_the_preset(result):
    numbers = theorem.numbers(result)
    assert numbers["discrete-scale"] == "quick" and numbers["discrete-fit-max"] == "0.2"
    assert float(numbers["discrete-slope"]) == round(result.slope, 2)
    assert float(numbers["discrete-exact-max"]) == float(f"{max(result.residual_exact):.1e}")
    relative = max(r / p for r, p in zip(result.residual_exact, result.prediction_max))
    assert math.isclose(float(numbers["discrete-exact-relative"]), float(f"{relative:.0e}"))
    paper = theorem.Config.paper()
    assert (numbers["discrete-paper-n"], numbers["discrete-paper-width"], numbers["discrete-paper-lrs"]) == (
        paper.n, paper.width, len(paper.lrs))


def test_every_glued_name_of_the_chapter_comes_from_a_numbers_function(result):
    chapter = (Path(__file__).parents[1] / "notebooks" / "discrete_exact.md").read_text()
    vresult = vector_outputs.run(vector_outputs.Config(scale="quick", n=15, width=8, time=1.0, lrs=(0.2, 0.1),
                                                        n_query=8, grid=12), seed=0)
    names = set(theorem.numbers(result)) | set(vector_outputs.numbers(vresult))
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == names
    assert not set(theorem.numbers(result)) & set(vector_outputs.numbers(vresult))
    assert "book.glue_numbers(theorem, vector_outputs)" in chapter and "glue(" not in chapter


def test_residual_figure_and_table(result):
    fig = plots.discrete_exact.residual_lr(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert any(f"slope {result.slope:.2f}" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)
    frame = plots.discrete_exact.residual_table(result).data
    assert frame["lr"].tolist() == list(TINY.lrs) and frame["steps"].tolist() == [5, 10]
    assert frame["max |R|, Theorem 2"].tolist() == result.residual.tolist()
    assert frame["max |f|"].tolist() == result.prediction_max.tolist()


def test_figures_are_declared_on_the_studies():
    assert plots.FIGURES["fig-discrete-residual-lr"].experiment == "discrete_exact.theorem"
    assert plots.FIGURES["fig-discrete-vector-outputs"].experiment == "discrete_exact.vector_outputs"
