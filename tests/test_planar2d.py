import numpy as np
import pytest

from pathkernel.data.planar2d import (
    boundary,
    branched_shape,
    fill_depth,
    fill_flood,
    fill_parity,
    lanczos_downsample,
    network_pair,
    random_shape,
    rasterize_strokes,
)
from pathkernel.data.shapes_ood import nested_shape
from reference import naive_boundary, naive_outside


def outline(filled, neighbours=4):
    return np.array(naive_boundary(filled.tolist(), neighbours))


@pytest.mark.parametrize("size", [16, 64])
def test_random_shapes_are_simply_connected_and_keep_off_the_border(size):
    for seed in range(30):
        shape = random_shape(size, seed=seed, margin=2)
        assert shape.shape == (size, size) and shape.dtype == bool
        assert not shape[:2].any() and not shape[-2:].any() and not shape[:, :2].any() and not shape[:, -2:].any()
        # one 4-connected piece: a search from one shape pixel reaches all of them
        piece = _component(shape, tuple(np.argwhere(shape)[0]))
        assert len(piece) == shape.sum()
        # no hole: every background pixel is 4-connected to the border
        assert len(naive_outside(~shape)) == (~shape).sum()


def _component(mask, start):
    seen, queue = {start}, [start]
    while queue:
        i, j = queue.pop()
        for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if 0 <= a < mask.shape[0] and 0 <= b < mask.shape[1] and mask[a, b] and (a, b) not in seen:
                seen.add((a, b))
                queue.append((a, b))
    return seen


def test_random_shape_is_seeded_and_varied():
    assert np.array_equal(random_shape(32, seed=5), random_shape(32, seed=5))
    assert not np.array_equal(random_shape(32, seed=5), random_shape(32, seed=6))
    areas = [random_shape(64, seed=s).mean() for s in range(20)]
    assert 0.05 < min(areas) and max(areas) < 0.6


@pytest.mark.parametrize("neighbours", [8, 4])
def test_boundary_against_a_neighbour_loop(neighbours):
    shape = random_shape(24, seed=1)
    assert np.array_equal(boundary(shape, neighbours=neighbours), outline(shape, neighbours))
    # a shape touching the image border: pixels beyond the border count as outside
    full = np.ones((5, 6), dtype=bool)
    expected = np.ones((5, 6), dtype=bool)
    expected[1:-1, 1:-1] = False
    assert np.array_equal(boundary(full, neighbours=neighbours), expected)


@pytest.mark.parametrize("neighbours", [8, 4])
def test_flood_fill_of_a_boundary_returns_the_shape(neighbours):
    for seed in range(40):
        shape = random_shape(48, seed=seed)
        assert np.array_equal(fill_flood(boundary(shape, neighbours=neighbours)), shape), seed


def test_flood_fill_against_a_breadth_first_search():
    rng = np.random.default_rng(0)
    for _ in range(5):
        edge = rng.random((20, 20)) < 0.3
        expected = np.ones((20, 20), dtype=bool)
        for i, j in naive_outside(~edge):
            expected[i, j] = False
        assert np.array_equal(fill_flood(edge), expected)


def test_flood_fill_fills_the_hole_of_an_annulus():
    """Documented limit: a shape with a hole comes back without it."""
    i, j = np.mgrid[0:32, 0:32]
    r = np.hypot(i - 15.5, j - 15.5)
    annulus = (r < 12) & (r > 6)
    assert np.array_equal(fill_flood(boundary(annulus)), r < 12)


def test_parity_scan_against_a_toggle_loop():
    """Eq. (10) written as a loop: toggle the state at each boundary pixel of the row."""
    edge = np.random.default_rng(1).random((12, 30)) < 0.2
    expected = np.zeros_like(edge)
    for i in range(edge.shape[0]):
        inside = False
        for j in range(edge.shape[1]):
            inside ^= bool(edge[i, j])
            expected[i, j] = inside or edge[i, j]
    assert np.array_equal(fill_parity(edge), expected)


def test_parity_is_exact_on_a_thin_diamond():
    """Every row crosses the outline in two 1-pixel runs, and the two tips are runs of 2
    pixels (a tangent run of even length leaves the parity unchanged)."""
    i, j = np.mgrid[0:24, 0:24]
    filled = np.abs(i - 11) + np.abs(j - 11.5) <= 9
    edge = outline(filled)
    runs = [np.flatnonzero(row) for row in edge if row.any()]
    assert len(runs[0]) == len(runs[-1]) == 2 and all(len(r) == 2 and r[1] - r[0] > 1 for r in runs[1:-1])
    assert np.array_equal(fill_parity(edge), filled)
    assert np.array_equal(fill_flood(edge), filled)


def test_parity_fails_on_the_tangent_rows_of_an_odd_rectangle():
    """The top and bottom rows of a rectangle outline are tangent runs: of odd length they
    flip the parity, and everything to the right of the rectangle on those rows comes out
    inside. Every other row crosses the outline in two 1-pixel runs and is right."""
    filled = np.zeros((20, 20), dtype=bool)
    filled[4:15, 3:12] = True  # width 9
    edge = outline(filled)
    wrong = fill_parity(edge) != filled
    expected = np.zeros_like(wrong)
    expected[[4, 14], 12:] = True
    assert np.array_equal(wrong, expected)
    assert np.array_equal(fill_flood(edge), filled)
    # the same outline with an even width is filled right: the two flips cancel
    filled[4:15, 12] = True
    assert np.array_equal(fill_parity(outline(filled)), filled)


def test_parity_fails_on_the_thick_boundaries_of_random_shapes():
    """The 8-neighbour boundary is two pixels wide where the curve runs diagonally, so
    some rows cross it in runs of even length: the parity scan is wrong on every shape."""
    for seed in range(10):
        shape = random_shape(48, seed=seed)
        assert (fill_parity(boundary(shape)) != shape).any()


@pytest.mark.parametrize("function", [boundary, fill_parity, fill_flood])
def test_bad_images(function):
    with pytest.raises(TypeError, match="list"):
        function([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"\(4, 4, 3\)"):
        function(np.zeros((4, 4, 3), dtype=bool))
    with pytest.raises(ValueError, match="the value 2"):
        function(np.array([[0, 2], [1, 0]]))
    assert np.array_equal(function(np.zeros((4, 4), dtype=int)), function(np.zeros((4, 4), dtype=bool)))


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 4}, "size=4"),
    ({"harmonics": 0}, "harmonics=0"),
    ({"amplitude": (0.2, 1.0)}, "amplitude"),
    ({"size": 32, "margin": 9}, "margin=9"),
])
def test_bad_shape_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_shape(**kwargs)


def test_bad_neighbourhood():
    with pytest.raises(ValueError, match="neighbours=6"):
        boundary(np.ones((3, 3), dtype=bool), neighbours=6)


# --- branched shapes, the nesting-depth oracle, the Lanczos pipeline -------------


@pytest.mark.parametrize("size", [32, 96])
def test_branched_shapes_are_connected_without_holes_and_keep_off_the_border(size):
    for seed in range(12):
        shape = branched_shape(size, seed=seed, branches=1 + seed % 6, margin=3)
        assert shape.shape == (size, size) and shape.dtype == bool and shape.sum() > 20
        assert not shape[:3].any() and not shape[-3:].any() and not shape[:, :3].any() and not shape[:, -3:].any()
        assert len(_component(shape, tuple(np.argwhere(shape)[0]))) == shape.sum()
        assert len(naive_outside(~shape)) == (~shape).sum()


def test_branched_shape_is_seeded_and_the_same_at_any_size():
    assert np.array_equal(branched_shape(48, seed=2), branched_shape(48, seed=2))
    assert not np.array_equal(branched_shape(48, seed=2), branched_shape(48, seed=3))
    # the same seed at twice the size is the same drawing: 2x2 block means agree on most pixels
    small, large = branched_shape(64, seed=4), branched_shape(128, seed=4)
    blocks = large.reshape(64, 2, 64, 2).mean(axis=(1, 3))
    assert np.mean((blocks > 0.5) == small) > 0.97
    with pytest.raises(ValueError, match="thickness"):
        branched_shape(32, thickness=(0.1, 0.3))
    with pytest.raises(ValueError, match="branches=0"):
        branched_shape(32, branches=0)


def test_the_three_oracles_agree_on_one_pixel_boundaries():
    """On the thin (4-neighbour) outline of a digital diamond every row crosses the curve in
    1-pixel runs (its tips are 2-pixel runs): parity, flood fill and nesting depth all
    return the shape."""
    i, j = np.mgrid[0:24, 0:24]
    filled = np.abs(i - 11) + np.abs(j - 11.5) <= 9
    edge = outline(filled)
    assert np.array_equal(fill_parity(edge), filled)
    assert np.array_equal(fill_flood(edge), filled)
    assert np.array_equal(fill_depth(edge), filled)


@pytest.mark.parametrize("neighbours", [8, 4])
def test_depth_equals_flood_fill_on_simply_connected_shapes(neighbours):
    for seed in range(20):
        shape = branched_shape(64, seed=seed, branches=4) if seed % 2 else random_shape(64, seed=seed)
        edge = boundary(shape, neighbours=neighbours)
        assert np.array_equal(fill_depth(edge), shape) and np.array_equal(fill_flood(edge), shape)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_depth_recovers_nested_shapes_where_flood_fill_fills_the_holes(depth):
    """nested_shape builds the truth by counting the curves around each pixel, independently."""
    for seed in range(3):
        shape = nested_shape(128, depth, seed)
        edge = boundary(shape)
        assert np.array_equal(fill_depth(edge), shape)
        assert np.array_equal(fill_flood(edge), shape) == (depth == 1)


def test_depth_on_a_hand_made_target_with_two_holes_and_an_island():
    i, j = np.mgrid[0:60, 0:60]
    r = np.hypot(i - 29.5, j - 29.5)
    disc = r < 27
    hole = (r < 10) | (np.hypot(i - 29.5, j - 48) < 3)  # walls of about 5 pixels
    island = r < 4
    shape = (disc & ~hole) | island
    assert np.array_equal(fill_depth(boundary(shape)), shape)
    assert np.array_equal(fill_flood(boundary(shape)), disc)


def test_depth_fills_a_hole_behind_a_thin_wall():
    """Documented limit: an annulus 2 pixels wide is all boundary, one curve touching both the
    outside and the hole, so the hole gets depth 1 and comes back filled, as with flood fill."""
    i, j = np.mgrid[0:32, 0:32]
    r = np.hypot(i - 15.5, j - 15.5)
    thin = (r < 10) & (r >= 8)
    assert boundary(thin).sum() == thin.sum()
    assert np.array_equal(fill_depth(boundary(thin)), r < 10)


def _lanczos3(x):
    return np.sinc(x) * np.sinc(x / 3) * (np.abs(x) < 3)


def test_lanczos_downsample_against_a_separable_lanczos3_sum():
    """Output pixel k covers input pixels 2k and 2k+1 (centre 2k + 1 in pixel-edge coordinates);
    its value is sum_j w_j x_j / sum_j w_j with w_j = L3((j + 1/2 - (2k + 1)) / 2), L3 the
    Lanczos-3 kernel stretched by the factor 2, applied to rows then columns. Compared away
    from the border (where PIL renormalizes the clipped kernel)."""
    image = np.random.default_rng(0).random((32, 32)) * 0.6 + 0.2
    j = np.arange(32)
    weights = _lanczos3((j[None, :] + 0.5 - (2 * np.arange(16)[:, None] + 1)) / 2)
    weights /= weights.sum(axis=1, keepdims=True)
    expected = weights @ image @ weights.T
    got = lanczos_downsample(image)
    assert got.shape == (16, 16) and got.dtype == np.float32
    np.testing.assert_allclose(got[3:-3, 3:-3], expected[3:-3, 3:-3], atol=2e-4)
    assert np.all(lanczos_downsample(np.ones((8, 8))) == 1.0)
    with pytest.raises(ValueError, match="not divisible"):
        lanczos_downsample(np.ones((9, 8)))


def test_network_pair_is_the_filtered_boundary_and_shape():
    shape = branched_shape(64, seed=1)
    x, y = network_pair(shape)
    assert x.shape == y.shape == (32, 32) and 0 <= x.min() and x.max() <= 1 and y.max() == pytest.approx(1, abs=1e-3)
    # the target is the smoothed shape: > 1/2 where most of the 2x2 block is inside
    blocks = shape.reshape(32, 2, 32, 2).mean(axis=(1, 3))
    assert np.mean((y > 0.5) == (blocks > 0.5)) > 0.97
    np.testing.assert_array_equal(x, lanczos_downsample(boundary(shape)))


@pytest.mark.parametrize("call, match", [
    (lambda: random_shape(32, amplitude=(float("nan"), 0.3)), r"amplitude\[0\]=nan"),
    (lambda: random_shape(32, amplitude=(0.2, float("inf"))), r"amplitude\[1\]=inf"),
    (lambda: random_shape(32, amplitude=(0.4, 0.2)), "low <= high"),
    (lambda: random_shape(32, amplitude=0.3), "must be a pair"),
    (lambda: random_shape(32, seed=-1), "seed=-1"),
    (lambda: random_shape(32.0), "size=32.0"),
    (lambda: random_shape(32, harmonics=True), "harmonics=True"),
    (lambda: branched_shape(32, thickness=(float("nan"), 0.1)), r"thickness\[0\]=nan"),
    (lambda: branched_shape(32, thickness=(0.05, True)), r"thickness\[1\]=True"),
    (lambda: branched_shape(32, seed=1.5), "seed=1.5"),
    (lambda: lanczos_downsample(np.zeros((4, 4)), factor=2.0), "factor=2.0"),
    (lambda: lanczos_downsample(np.full((4, 4), np.nan)), "image holds a non-finite value"),
    (lambda: rasterize_strokes(8, np.zeros((1, 2)), np.full((1, 2), np.nan), np.ones(1)), "end holds a non-finite"),
    (lambda: rasterize_strokes(8, np.zeros((1, 2)), np.ones((1, 2)), np.array([np.inf])), "radius holds a non-finite"),
])
def test_non_finite_and_bool_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
