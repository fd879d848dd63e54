import dataclasses
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel import plots
from pathkernel.experiments import separable as sp
from pathkernel.neighbours import kernel_neighbours

TINY = sp.Config(scale="quick", n=40, width=16, lr=0.2, steps=200, k=6, grid=9, probe=4, checkpoints=3,
                 queries=((0.0, 0.0), (0.5, 0.2)))


def test_frame_is_orthonormal_with_u_at_the_angle():
    u, v = sp.frame(30.0)
    torch.testing.assert_close(u, torch.tensor([math.sqrt(3) / 2, 0.5], dtype=torch.float64))
    assert abs(torch.dot(u, v).item()) < 1e-16 and math.isclose(v.norm().item(), 1.0)
    assert math.isclose(u[0].item() * v[1].item() - u[1].item() * v[0].item(), 1.0)  # v = u turned by +90 degrees


@pytest.mark.parametrize("angle", [0.0, 30.0, 117.0])
def test_anisotropy_of_a_cross_is_the_ratio_of_its_arms(angle):
    # neighbours at +-a along the boundary and +-b across it: RMS a and b, ratio a / b, in any orientation
    u, v = sp.frame(angle)
    q = torch.tensor([[0.2, -0.1]], dtype=torch.float64)
    a, b = 0.6, 0.15
    x = torch.stack([q[0] + a * v, q[0] - a * v, q[0] + b * u, q[0] - b * u, q[0] + a * v])
    # neighbours 0, 1, 2, 3: along^2 = (a^2 + a^2) / 4, across^2 = (b^2 + b^2) / 4
    found = sp.anisotropy(q, x, torch.tensor([[0, 1, 2, 3]]), u)
    assert found.item() == pytest.approx(a / b, rel=1e-12)
    with pytest.raises(ValueError, match="in the plane"):
        sp.anisotropy(torch.zeros(1, 3, dtype=torch.float64), x, torch.tensor([[0]]), u)


@pytest.fixture(scope="module")
def result():
    return sp.run(TINY, seed=0)


def test_run_trains_to_100_percent(result):
    assert result.accuracy == 1.0 and result.accuracy_curve[-1] == 1.0
    u = result.direction
    np.testing.assert_array_equal(result.y, np.where(result.x @ u >= 0, 1.0, -1.0))
    assert result.grid_network.shape == (9, 9)


def test_snapshots_are_the_neighbours_of_the_initial_and_trained_networks(result):
    x = torch.from_numpy(result.x)
    queries = torch.from_numpy(result.queries)
    initial = pk.MLP(2, TINY.width, TINY.depth, seed=0, dtype=torch.float64)  # the same initialization, untrained
    np.testing.assert_array_equal(result.kernel_neighbours[0], kernel_neighbours(initial, queries, x, TINY.k).numpy())
    pk.train(initial, x, torch.from_numpy(result.y), lr=TINY.lr, steps=TINY.steps)
    np.testing.assert_array_equal(result.kernel_neighbours[-1], kernel_neighbours(initial, queries, x, TINY.k).numpy())
    assert list(result.snapshot_steps) == [0, TINY.steps // 2, TINY.steps]
    assert set(result.snapshot_steps) <= set(result.checkpoint_steps)


def test_homogeneity_and_anisotropy_scores_agree_with_their_definitions(result):
    u, v = result.direction, np.array([-result.direction[1], result.direction[0]])
    for j, q in enumerate(result.queries):
        offsets = result.x[result.euclidean_neighbours[j]] - q
        expected = np.sqrt(((offsets @ v) ** 2).mean() / ((offsets @ u) ** 2).mean())
        assert result.euclidean_query_anisotropy[j] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(result.probe_labels, np.where(result.probes @ u >= 0, 1.0, -1.0))
    last = list(result.checkpoint_steps).index(TINY.steps)
    assert result.homogeneity_curve[last] == pytest.approx(result.probe_homogeneity[-1].mean(), abs=1e-15)
    band = np.abs(result.probe_offset) < TINY.band
    assert result.band_homogeneity_curve[last] == pytest.approx(result.probe_homogeneity[-1][band].mean(), abs=1e-15)
    geometric = np.exp(np.log(result.probe_anisotropy[0]).mean())
    assert result.anisotropy_curve[0] == pytest.approx(geometric, rel=1e-12)
    assert np.all((result.probe_homogeneity >= 0) & (result.probe_homogeneity <= 1))


def test_run_is_deterministic():
    config = dataclasses.replace(TINY, steps=10)
    a, b = sp.run(config, seed=2), sp.run(config, seed=2)
    for field in ("grid_network", "kernel_neighbours", "probe_anisotropy", "homogeneity_curve"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize("changes, match", [({"k": 41}, "k=41"), ({"mid_step": 200}, "mid_step=200"),
                                            ({"checkpoints": 1}, "checkpoints=1")])
def test_bad_configs(changes, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TINY, **changes)


def test_presets():
    assert sp.Config.quick().scale == "quick" and sp.Config.paper().scale == "paper"
    assert sp.Config.paper().n > sp.Config.quick().n and sp.Config.paper().steps > sp.Config.quick().steps


def test_geometric_mean_and_the_band():
    assert sp.geometric_mean(np.array([0.5, 2.0])) == pytest.approx(1.0, rel=1e-15)
    assert sp.geometric_mean(np.array([1.0, 4.0, 16.0])) == pytest.approx(4.0, rel=1e-15)


def test_numbers_against_the_result(result):
    numbers = sp.numbers(result)
    chapter = (Path(__file__).parents[1] / "notebooks" / "separable.md").read_text()
    names = set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter))
    assert {name for name in names if not name.startswith("separable-profile-")} == set(numbers)
    near = [abs(offset) < TINY.band for offset in result.probe_offset]
    assert sp.near_boundary(result).tolist() == near
    end = result.probe_anisotropy[-1]

    def geometric(values):
        return math.exp(sum(math.log(v) for v in values) / len(values))

    assert float(numbers["separable-aniso-end"]) == pytest.approx(geometric(end), abs=0.0051)
    assert float(numbers["separable-aniso-near"]) == pytest.approx(
        geometric([a for a, n in zip(end, near) if n]), abs=0.0051)
    assert float(numbers["separable-aniso-far"]) == pytest.approx(
        geometric([a for a, n in zip(end, near) if not n]), abs=0.0051)
    mid = [h for h, n in zip(result.probe_homogeneity[1], near) if n]
    assert float(numbers["separable-hom-band-mid"]) == pytest.approx(sum(mid) / len(mid), abs=0.0051)
    assert numbers["separable-hom-end"] == f"{result.probe_homogeneity[2].mean():.2f}"
    assert numbers["separable-mid-step"] == str(TINY.steps // 2) and numbers["separable-n"] == "40"
    assert numbers["separable-first-step"] == str(result.checkpoint_steps[1])


@pytest.mark.parametrize("name, panels", [("decision", 1), ("neighbours", 4), ("anisotropy", 4),
                                          ("snapshots", 3 * 2 + 2)])
def test_figures(result, name, panels):
    fig = getattr(plots.separable, name)(result)
    assert len(fig.axes) == panels
    plt.close(fig)


def test_anisotropy_table(result):
    frame = plots.separable.anisotropy_table(result).data
    assert frame["neighbours"].tolist()[0] == "Euclidean" and len(frame) == 4
    assert frame["all probes"].tolist()[-1] == sp.geometric_mean(result.probe_anisotropy[-1])
    near = sp.near_boundary(result)
    assert frame[f"|u·q| < {TINY.band:g}"].tolist()[0] == sp.geometric_mean(result.euclidean_anisotropy[near])


def test_registered_figures_build_byte_identical(tmp_path):
    from pathkernel import figures

    config = dataclasses.replace(TINY, steps=10, grid=5)
    figure_id = "fig-separable-snapshots"  # the figure of most panels (one figure: the test stays fast)
    first = figures.build(figure_id, out=tmp_path / "a", config=config)
    second = figures.build(figure_id, out=tmp_path / "b", config=config)
    first.pop("git_commit"), second.pop("git_commit")  # HEAD may move between the builds in a shared tree
    assert first == second and first["chapter"] == "separable"
    for suffix in ("png", "pdf"):
        assert (tmp_path / "a" / f"{figure_id}.{suffix}").read_bytes() == \
            (tmp_path / "b" / f"{figure_id}.{suffix}").read_bytes()
