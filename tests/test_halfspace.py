import math

import numpy as np
import pytest
import torch

from pathkernel.data import halfspace
from pathkernel.data.halfspace import unit_direction


@pytest.mark.parametrize("direction", [(1.0, 0.0), (math.cos(0.5), math.sin(0.5)), (1.0, -2.0, 0.5)])
def test_labels_are_the_side_of_the_hyperplane(direction):
    x, y = halfspace(500, direction=direction, seed=1)
    d = len(direction)
    assert x.shape == (500, d) and y.shape == (500,) and x.dtype == y.dtype == torch.float64
    assert x.abs().max() <= 1
    u = np.asarray(direction) / np.linalg.norm(direction)
    np.testing.assert_array_equal(y.numpy(), np.where(x.numpy() @ u >= 0, 1.0, -1.0))
    # uniform in the cube: each coordinate has mean 0 and variance 1/3 (6 standard errors)
    assert np.all(np.abs(x.numpy().mean(0)) < 6 * (1 / 3 / 500) ** 0.5)
    assert np.all(np.abs(x.numpy().var(0) - 1 / 3) < 6 * (4 / 45 / 500) ** 0.5)


def test_scaling_the_direction_changes_nothing_and_seeds_are_explicit():
    a = halfspace(50, direction=(2.0, 2.0), seed=3)
    b = halfspace(50, direction=(0.5, 0.5), seed=3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], halfspace(50, direction=(2.0, 2.0), seed=4)[0])
    torch.testing.assert_close(unit_direction((3.0, 4.0)), torch.tensor([0.6, 0.8], dtype=torch.float64))


@pytest.mark.parametrize("kwargs, match", [({"n": 0}, "n=0"), ({"n": 5, "direction": (0.0, 0.0)}, "non-zero"),
                                           ({"n": 5, "direction": (float("nan"), 1.0)}, "finite")])
def test_impossible_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        halfspace(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 5, "direction": (1.0, float("inf"))}, "finite"),
    ({"n": 5.0}, "n=5.0"),
    ({"n": True}, "n=True"),
    ({"n": 5, "seed": -1}, "seed=-1"),
    ({"n": 5, "seed": float("nan")}, "seed=nan"),
])
def test_non_finite_and_bool_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        halfspace(**kwargs)


@pytest.mark.parametrize("direction", [(True, False), torch.tensor([True, False]), "ab"])
def test_bool_or_string_directions_are_refused(direction):
    with pytest.raises(ValueError, match="must be a vector of numbers"):
        halfspace(5, direction=direction)
