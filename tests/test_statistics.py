"""The mean over seeds and its Student-t interval, against scipy.stats.t.interval."""

import numpy as np
import pytest
import scipy.stats

from pathkernel.experiments.statistics import mean_interval


def test_mean_interval_is_scipys_t_interval_on_either_axis():
    values = np.random.default_rng(0).normal(size=(4, 7))
    mean, low, high = mean_interval(values, 0.95)
    reference = scipy.stats.t.interval(0.95, 6, loc=values.mean(1), scale=scipy.stats.sem(values, axis=1))
    np.testing.assert_allclose(np.stack([low, high]), np.stack(reference), rtol=1e-12)
    np.testing.assert_allclose(mean, values.mean(1), rtol=1e-15)
    columns = mean_interval(values.T, 0.95, axis=0)
    for a, b in zip(columns, (mean, low, high)):
        np.testing.assert_allclose(a, b, rtol=1e-15)


@pytest.mark.parametrize("values, level, match", [(np.ones((3, 1)), 0.95, "at least 2"),
                                                  (np.array([1.0, np.nan]), 0.95, "finite"),
                                                  (np.ones(3), 1.0, "level")])
def test_bad_input_is_refused(values, level, match):
    with pytest.raises(ValueError, match=match):
        mean_interval(values, level)
