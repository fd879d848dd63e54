import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from pathkernel import figures, plots
from pathkernel.data import shapes_ood
from pathkernel.data.planar2d import boundary, fill_depth, network_pair
from pathkernel.experiments import shape_filling
from reference import naive_outside

TINY = shape_filling.Config(
    scale="quick", size=32, n_train=16, n_test=6, epochs=1, width=2, max_width=4, lr=1e-2, optimizer="adam",
    n_ood=3, scales=3, n_examples=2,
    suites=(("shapes", (1, 4)), ("nesting", (1, 2)), ("spiral", (1.0,)), ("size", (1, 2))),
)


def _pieces(mask):
    """Number of 4-connected pieces of a bool mask, by a plain search."""
    left, count = {tuple(p) for p in np.argwhere(mask)}, 0
    while left:
        count += 1
        queue = [left.pop()]
        while queue:
            i, j = queue.pop()
            for q in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if q in left:
                    left.remove(q)
                    queue.append(q)
    return count


def _off_border(shape, margin=2):
    return not (shape[:margin].any() or shape[-margin:].any() or shape[:, :margin].any() or shape[:, -margin:].any())


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_several_shapes_are_that_many_pieces(count):
    for seed in range(3):
        image = shapes_ood.several_shapes(64, count, seed)
        assert _pieces(image) == count and _off_border(image)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_nested_shapes_have_depth_minus_one_holes_and_islands(depth):
    """depth curves: ceil(depth / 2) pieces of shape and floor(depth / 2) holes (background
    pieces not reached from the border)."""
    shape = shapes_ood.nested_shape(96, depth, seed=1)
    holes = (~shape).sum() - len(naive_outside(~shape))
    assert _pieces(shape) == (depth + 1) // 2 and _off_border(shape)
    assert _pieces(~shape) - 1 == depth // 2 and (holes > 0) == (depth > 1)


@pytest.mark.parametrize("turns", [0.5, 1.0, 2.0, 3.0])
def test_a_spiral_is_one_corridor_crossed_once_per_turn(turns):
    """A ray from the centre crosses the stroke about once per turn (+-1), and the stroke is
    one connected piece without holes that keeps off the border."""
    shape = shapes_ood.spiral_shape(128, turns, seed=0)
    assert _pieces(shape) == 1 and _off_border(shape) and len(naive_outside(~shape)) == (~shape).sum()
    for row in (shape[64, 64:], shape[64, :64][::-1], shape[64:, 64], shape[:64, 64][::-1]):
        runs = np.count_nonzero(np.diff(row.astype(int)) == 1) + row[0]
        assert abs(runs - turns) <= 1


@pytest.mark.parametrize("cells", [1, 2, 5])
def test_a_maze_is_one_tree_of_corridors_through_every_cell(cells):
    """A spanning tree of the grid: one piece, no hole (no loop of corridors), every cell
    centre on a corridor, off the border."""
    size = 96
    shape = shapes_ood.maze_shape(size, cells, seed=3)
    assert _pieces(shape) == 1 and _off_border(shape) and len(naive_outside(~shape)) == (~shape).sum()
    cell = (size - 2 * 2 - 2) / cells
    centres = (2 + 1 + (np.arange(cells) + 0.5) * cell).round().astype(int)
    assert shape[np.ix_(centres, centres)].all()
    with pytest.raises(ValueError, match="cells=12"):
        shapes_ood.maze_shape(96, 12, seed=0)


def test_dataset_pairs_and_the_size_suite():
    inputs, targets, shapes = shapes_ood.dataset("branches", 6, 3, 16, seed=2)
    assert inputs.shape == targets.shape == (3, 1, 16, 16) and shapes.shape == (3, 32, 32)
    for k in range(3):
        x, y = network_pair(shapes[k])
        assert np.array_equal(inputs[k, 0], x) and np.array_equal(targets[k, 0], y)
        assert np.array_equal(fill_depth(boundary(shapes[k])), shapes[k])
    assert shapes_ood.dataset("size", 2, 1, 16, seed=0)[0].shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="suite='mazes'"):
        shapes_ood.dataset("mazes", 1, 1, 16, seed=0)
    with pytest.raises(ValueError, match="depth=9"):
        shapes_ood.nested_shape(64, 9, seed=0)


@pytest.fixture(scope="module")
def tiny():
    return shape_filling.run(TINY, seed=0)


def test_result_shapes_and_ranges(tiny):
    s, levels = len(TINY.suites), 2
    assert tiny.test_iou.shape == tiny.test_interior_iou.shape == tiny.train_iou.shape == (6,)
    assert tiny.loss.shape == tiny.lr.shape == (1,)
    assert tiny.examples_input.shape == tiny.examples_prediction.shape == (2, 32, 32)
    assert tiny.ood_iou.shape == tiny.ood_interior_iou.shape == (s, levels, 3)
    assert tiny.oracle_iou.shape == (s, levels, 3) and tiny.worst_input.shape == (s, 32, 32)
    assert np.isnan(tiny.complexity[2, 1]) and np.isnan(tiny.ood_iou[2, 1]).all()
    finite = tiny.ood_iou[~np.isnan(tiny.ood_iou)]
    assert np.all((0 <= finite) & (finite <= 1))


def test_examples_are_the_test_set(tiny):
    inputs, targets, _ = shapes_ood.dataset("training", 0, TINY.n_test, TINY.size, seed=1)
    assert np.array_equal(tiny.examples_input, inputs[:2, 0]) and np.array_equal(tiny.examples_target, targets[:2, 0])


def test_oracles(tiny):
    """Nesting depth recovers every target; flood fill only fails with holes (nesting 2);
    the naive parity scan of the thick boundary is wrong everywhere."""
    depth, flood, parity = np.moveaxis(tiny.oracle_iou, -1, 0)
    known = ~np.isnan(depth)
    assert np.all(depth[known] == 1.0)
    nesting = TINY.suites.index(("nesting", (1, 2)))
    assert flood[nesting, 1] < 0.95 and np.all(np.delete(flood, nesting, axis=0)[np.delete(known, nesting, axis=0)] == 1)
    assert np.all(parity[known] < 0.9)


def test_same_seed_same_result(tiny):
    again = shape_filling.run(TINY, seed=0)
    assert figures.result_digest(again) == figures.result_digest(tiny)


def test_highest_is_the_last_complexity_of_each_suite(tiny):
    assert shape_filling.highest(tiny).tolist() == [len(levels) - 1 for _, levels in TINY.suites]


def test_numbers_are_read_from_the_result(tiny):
    numbers = shape_filling.numbers(tiny)
    chapter = (Path(__file__).parents[1] / "notebooks" / "shape_filling.md").read_text()
    missing = {f"shapefilling-{suite}-{what}" for suite in ("maze", "branches") for what in ("level", "iou")}
    glued = set(re.findall(r"\{glue:text\}`(shapefilling-[\w-]+)`", chapter))
    assert glued - missing == set(numbers)  # TINY has no maze, branches
    for name, levels in TINY.suites:  # the highest level of each suite and the mean IoU there, by a plain loop
        k = [suite for suite, _ in TINY.suites].index(name)
        scores = [tiny.ood_iou[k, len(levels) - 1, j] for j in range(TINY.n_ood)]
        assert numbers[f"shapefilling-{name}-level"] == f"{levels[-1]:g}"
        assert numbers[f"shapefilling-{name}-iou"] == f"{sum(scores) / len(scores):.0%}"
    oracle = [tiny.oracle_iou[k, j] for k, (_, levels) in enumerate(TINY.suites) for j in range(len(levels))]
    assert numbers["shapefilling-depth-min"] == f"{min(o[0] for o in oracle):.0%}" == "100%"
    assert numbers["shapefilling-parity-max"] == f"{max(o[2] for o in oracle):.0%}"
    assert numbers["shapefilling-flood-nesting"] == f"{min(tiny.oracle_iou[1, :2, 1]):.0%}"
    assert numbers["shapefilling-interior-share"] == f"{np.mean([v >= 0.99 for v in tiny.test_interior_iou]):.0%}"
    assert (numbers["shapefilling-size"], numbers["shapefilling-paper-images"]) == ("32 x 32", f"{10_000 / 512:.0f}")
    assert (numbers["shapefilling-paper-store"], numbers["shapefilling-paper-size"]) == ("256 x 256", "128 x 128")
    assert (numbers["shapefilling-paper-resolution"], numbers["shapefilling-train-branches"]) == ("4", "1 to 4")


def test_figures_and_table(tiny):
    for draw in (plots.shape_filling.examples, plots.shape_filling.complexity, plots.shape_filling.failures):
        plt.close(draw(tiny))
    frame = plots.shape_filling.table(tiny).data
    assert frame["suite"].tolist() == [name for name, _ in TINY.suites]
    assert frame["complexities"].tolist() == ["1, 4", "1, 2", "1", "1, 2"]
    assert frame["U-Net IoU, highest"].tolist() == [tiny.ood_iou[k, len(levels) - 1].mean()
                                                    for k, (_, levels) in enumerate(TINY.suites)]


def test_presets_and_bad_configs():
    assert shape_filling.Config.from_scale("paper") == shape_filling.Config.paper()
    paper = shape_filling.Config.paper()
    assert (paper.n_train, paper.n_test, paper.epochs, paper.store_size, paper.size, paper.scales,
            paper.batch_size) == (10_000, 1_000, 150, 256, 128, 6, 32)
    quick = shape_filling.Config.quick()
    assert quick.scales == 6 and quick.size % 32 == 0
    with pytest.raises(ValueError, match="size=48"):
        shape_filling.Config(**{**TINY.__dict__, "size": 48, "scales": 6})
    with pytest.raises(ValueError, match="'mazes'"):
        shape_filling.Config(**{**TINY.__dict__, "suites": (("mazes", (1,)),)})
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        shape_filling.Config(**{**TINY.__dict__, "optimizer": "sgd"})


def test_ranger_mse_run_reloads_its_final_checkpoint(tmp_path):
    """The paper's optimizer and loss; a second run finds the finished checkpoint, trains no
    further epoch and gives the same result as the first."""
    config = shape_filling.Config(**{**TINY.__dict__, "optimizer": "ranger", "loss": "mse", "epochs": 2,
                                     "suites": (("branches", (2,)),)})
    path = tmp_path / "unet.pt"
    first = shape_filling.run(config, seed=1, checkpoint=path)
    assert path.exists() and first.loss.shape == (2,)
    assert figures.result_digest(shape_filling.run(config, seed=1, checkpoint=path)) == figures.result_digest(first)
