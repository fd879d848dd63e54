import pytest
import torch

from pathkernel.data import ball_sphere


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
