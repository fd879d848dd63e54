import math

import numpy as np
import pytest

from pathkernel.experiments import current_scale, discrete_theorem
from pathkernel import plots


def tiny_config(**changes):
    base = dict(scale="quick", n=16, width=16, time=2.0, lrs=(0.2, 0.1, 0.05), n_query=20, fit_max_lr=0.2)
    return discrete_theorem.Config(**{**base, **changes})


def test_scale_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("PATHKERNEL_SCALE", raising=False)
    assert current_scale() == "quick"
    assert discrete_theorem.Config.from_scale() == discrete_theorem.Config.quick()
    monkeypatch.setenv("PATHKERNEL_SCALE", "paper")
    assert discrete_theorem.Config.from_scale() == discrete_theorem.Config.paper()
    monkeypatch.setenv("PATHKERNEL_SCALE", "huge")
    with pytest.raises(ValueError, match="huge"):
        current_scale()
    with pytest.raises(ValueError, match="scale='big'"):
        discrete_theorem.Config.from_scale("big")


def test_discrete_theorem_run_measures_a_first_order_remainder():
    result = discrete_theorem.run(tiny_config(), seed=0)
    assert result.steps.tolist() == [10, 20, 40]
    assert 0.85 < result.slope < 1.15
    # the fit reproduces the measured residuals it was fitted on
    fitted = np.exp(result.intercept) * result.lrs**result.slope
    assert np.allclose(np.log(fitted), np.log(result.residual), atol=0.1)
    assert result.residual_exact.max() < 1e-12
    assert np.all(result.residual > 1e3 * result.residual_exact)


def test_run_is_deterministic():
    a, b = discrete_theorem.run(tiny_config(lrs=(0.1, 0.05)), seed=3), discrete_theorem.run(tiny_config(lrs=(0.1, 0.05)), seed=3)
    assert np.array_equal(a.residual, b.residual) and np.array_equal(a.final_loss, b.final_loss)


def test_config_needs_two_fitted_learning_rates():
    with pytest.raises(ValueError, match="fit_max_lr"):
        tiny_config(lrs=(0.4, 0.1), fit_max_lr=0.1)


def test_residual_figure_is_log_log():
    result = discrete_theorem.run(tiny_config(), seed=0)
    fig = plots.residual_vs_lr(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert any(f"slope {result.slope:.2f}" in t.get_text() for t in ax.get_legend().get_texts())
    assert math.isclose(min(ax.get_lines()[0].get_xdata()), 0.05)
