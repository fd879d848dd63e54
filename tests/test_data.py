import pytest
import torch

from pathkernel.data import ball_sphere, shapes_ood


@pytest.mark.parametrize("d", [2, 5])
def test_ball_sphere_geometry(d):
    x, y = ball_sphere(401, d=d, r2=0.6, seed=3)
    assert x.shape == (401, d) and y.shape == (401,)
    assert int((y == -1).sum()) == 200 and int((y == 1).sum()) == 201
    norms = x.norm(dim=1)
    torch.testing.assert_close(norms[y == 1], torch.ones(201, dtype=torch.float64))
    assert norms[y == -1].max() <= 0.6**0.5
    # uniform in the ball: P(||x|| <= r/2 * sqrt(r2)) = 2^-d (binomial, 6 standard deviations)
    inner = (norms[y == -1] <= 0.5 * 0.6**0.5).double().mean().item()
    assert abs(inner - 2.0**-d) < 6 * (2.0**-d * (1 - 2.0**-d) / 200) ** 0.5


def test_ball_sphere_is_seeded():
    assert torch.equal(ball_sphere(20, seed=1)[0], ball_sphere(20, seed=1)[0])
    assert not torch.equal(ball_sphere(20, seed=1)[0], ball_sphere(20, seed=2)[0])


@pytest.mark.parametrize("kwargs, match", [({"n": 1}, "n=1"), ({"n": 10, "r2": 1.0}, "r2"), ({"n": 10, "d": 0}, "d=0")])
def test_impossible_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ball_sphere(**kwargs)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 10, "r2": NAN}, "r2=nan"),          # `not 0 < nan < 1` happens to catch it; now by a named check
    ({"n": 10, "r2": INF}, "r2=inf"),
    ({"n": 10, "r2": True}, "r2=True"),
    ({"n": 10, "r2": 0.0}, r"r2=0.0 must be a finite number in \(0, 1\)"),
    ({"n": 10.0}, "n=10.0"),
    ({"n": True}, "n=True"),
    ({"n": 10, "d": 2.0}, "d=2.0"),
    ({"n": 10, "seed": -1}, "seed=-1"),
    ({"n": 10, "seed": 1.5}, "seed=1.5"),
    ({"n": 10, "seed": True}, "seed=True"),
])
def test_ball_sphere_rejects_non_finite_and_bool_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ball_sphere(**kwargs)


def test_numpy_integers_are_integers():
    np = pytest.importorskip("numpy")
    assert torch.equal(ball_sphere(np.int64(10), d=np.int32(2), seed=np.int64(1))[0], ball_sphere(10, seed=1)[0])


@pytest.mark.parametrize("call, match", [
    (lambda: shapes_ood.spiral_shape(64, NAN, seed=0), "turns=nan"),
    (lambda: shapes_ood.spiral_shape(64, INF, seed=0), "turns=inf"),
    (lambda: shapes_ood.spiral_shape(64, True, seed=0), "turns=True"),
    (lambda: shapes_ood.spiral_shape(64.0, 2, seed=0), "size=64.0"),
    (lambda: shapes_ood.nested_shape(64, 2, seed=-3), "seed=-3"),
    (lambda: shapes_ood.nested_shape(64, 2, seed=0, margin=-1), "margin=-1"),
    (lambda: shapes_ood.maze_shape(64, 3, seed=0, margin=40), "margin=40"),
    (lambda: shapes_ood.several_shapes(8, 1, seed=0), "size=8"),
    (lambda: shapes_ood.training_shape(64, seed=NAN), "seed=nan"),
    (lambda: shapes_ood.suite_shape("maze", NAN, 64, seed=0), "complexity=nan"),
    (lambda: shapes_ood.suite_shape("maze", 2.5, 64, seed=0), "complexity=2.5.*whole number"),
    (lambda: shapes_ood.suite_shape("nesting", True, 64, seed=0), "complexity=True"),
    (lambda: shapes_ood.suite_shape("size", -1.0, 64, seed=0), "complexity=-1.0.*> 0"),
    (lambda: shapes_ood.suite_shape("size", INF, 64, seed=0), "complexity=inf"),
    (lambda: shapes_ood.dataset("spiral", NAN, 1000, 32, seed=0), "complexity=nan"),
    (lambda: shapes_ood.dataset("training", 0, 1000, 32, seed=-1), "seed=-1"),
])
def test_shapes_ood_rejects_bad_numbers_before_drawing(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_shapes_ood_accepts_whole_float_complexities():
    assert np_equal(shapes_ood.suite_shape("maze", 2.0, 64, seed=0), shapes_ood.suite_shape("maze", 2, 64, seed=0))
    assert shapes_ood.dataset("training", 0, 1, 16, seed=0)[0].shape == (1, 1, 16, 16)


def np_equal(a, b):
    return a.shape == b.shape and bool((a == b).all())
