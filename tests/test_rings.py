import pytest
import torch

from pathkernel.data import rings


def test_rings_geometry_and_class_counts():
    x, y = rings(301, radii=(0.2, 0.5, 0.9), thickness=0.1, seed=3)
    assert x.shape == (301, 2) and x.dtype == torch.float64 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [101, 100, 100]
    assert torch.all(y[:-1] <= y[1:]), "class order"
    norms = x.norm(dim=1)
    for label, radius in enumerate((0.2, 0.5, 0.9)):
        ring = norms[y == label]
        assert ring.min() >= radius - 0.05 - 1e-12 and ring.max() <= radius + 0.05 + 1e-12
    # uniform in area: half the points of a ring below the radius that halves its area (6 sigma)
    ring = norms[y == 2]
    median = ((0.85**2 + 0.95**2) / 2) ** 0.5
    assert abs((ring <= median).double().mean().item() - 0.5) < 6 * (0.25 / 100) ** 0.5


def test_rings_are_seeded():
    assert torch.equal(rings(30, seed=1)[0], rings(30, seed=1)[0])
    assert not torch.equal(rings(30, seed=1)[0], rings(30, seed=2)[0])


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 2}, "n=2"),
    ({"n": 10, "radii": (1.0,)}, "two classes"),
    ({"n": 10, "radii": (0.5, 0.55)}, "overlap"),
    ({"n": 10, "radii": (0.6, 0.3)}, "increase"),
    ({"n": 10, "thickness": 0.0}, "thickness=0.0"),
    ({"n": 10.0}, "n=10.0"),
])
def test_impossible_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rings(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 10, "radii": (0.3, float("nan"), 1.0)}, r"radii\[1\]=nan"),   # NaN compares False: used to pass
    ({"n": 10, "radii": (0.3, 0.65, float("inf"))}, r"radii\[2\]=inf"),
    ({"n": 10, "radii": (0.3, True)}, r"radii\[1\]=True"),
    ({"n": 10, "radii": "123"}, "radii='123' must be a sequence"),
    ({"n": 10, "radii": 0.5}, "radii=0.5 must be a sequence"),
    ({"n": 10, "thickness": float("nan")}, "thickness=nan"),
    ({"n": 10, "thickness": float("inf")}, "thickness=inf"),
    ({"n": 10, "thickness": True}, "thickness=True"),
    ({"n": True}, "n=True"),
    ({"n": 10, "seed": -2}, "seed=-2"),
])
def test_non_finite_and_bool_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rings(**kwargs)
