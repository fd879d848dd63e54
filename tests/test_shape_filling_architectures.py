"""The architecture comparison of the shape-filling chapter: one budget rule, the chapter's data and suites."""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from pathkernel import figures, plots
from pathkernel.experiments import shape_filling, shape_filling_architectures as study
from pathkernel.segmentation import iou, train_segmentation
from pathkernel.shape_nets import NAMES

TINY = study.Config(scale="quick", size=32, n_train=12, n_test=4, epochs=1, lr=1e-2, optimizer="adam", width=8,
                    depth=2, deep_depth=3, unet_width=2, unet_max_width=4, n_ood=2,
                    suites=(("nesting", (1, 2)), ("spiral", (1.0,))))


@pytest.fixture(scope="module")
def tiny():
    return study.run(TINY, seed=0)


def test_result_shapes(tiny):
    a = len(NAMES)
    assert tiny.names == NAMES and tiny.parameters.shape == tiny.seconds.shape == (a,)
    assert tiny.loss.shape == (a, 1) and tiny.test_iou.shape == (a, 4)
    assert tiny.ood_iou.shape == (a, 2, 2, 2) and np.isnan(tiny.ood_iou[:, 1, 1]).all()
    finite = tiny.ood_iou[~np.isnan(tiny.ood_iou)]
    assert np.all((0 <= finite) & (finite <= 1))


def test_parameters_and_test_iou_of_each_network_recomputed(tiny):
    """Rebuild each network, train it alone with the same rule on the chapter's data: the same
    parameter count and the same test IoU (thresholds at 1/2, `segmentation.iou`)."""
    filling = shape_filling.Config(**{**shape_filling.Config.quick().__dict__, "n_train": 12, "n_test": 4,
                                      "n_examples": 1})
    x, y, _ = shape_filling.network_data(filling, "training", 0, 12, 0)
    xt, yt, _ = shape_filling.network_data(filling, "training", 0, 4, 1)
    for a in (0, len(NAMES) - 1):
        model = study.network(TINY, NAMES[a], seed=0)
        assert sum(p.numel() for p in model.parameters()) == tiny.parameters[a]
        train_segmentation(model, torch.from_numpy(x), torch.from_numpy(y), epochs=1, lr=1e-2, optimizer="adam",
                           seed=0, show_progress=False)
        with torch.no_grad():
            prediction = torch.sigmoid(model(torch.from_numpy(xt))).numpy()[:, 0] > 0.5
        np.testing.assert_allclose(iou(prediction, yt[:, 0] > 0.5), tiny.test_iou[a])


def test_same_seed_same_result(tiny):
    assert figures.result_digest(study.run(TINY, seed=0)) == figures.result_digest(tiny)


def test_an_interrupted_store_run_resumes_at_the_next_architecture(tiny, tmp_path, monkeypatch):
    """Each architecture is a checkpoint item: after an interruption in the third network, a rerun
    in the same folder trains only the networks not yet kept, and the result is the uninterrupted
    one bit for bit."""
    from pathkernel.runs import checkpoint

    built = []
    real = study.network

    def interrupted(config, name, seed):
        if len(built) == 2:
            raise KeyboardInterrupt
        built.append(name)
        return real(config, name, seed)

    monkeypatch.setattr(study, "network", interrupted)
    with checkpoint.checkpointing(tmp_path), pytest.raises(KeyboardInterrupt):
        study.run(TINY, seed=0)
    assert built == list(NAMES[:2])
    built.clear()
    monkeypatch.setattr(study, "network", lambda config, name, seed: built.append(name) or real(config, name, seed))
    with checkpoint.checkpointing(tmp_path):
        resumed = study.run(TINY, seed=0)
    assert built == list(NAMES[2:])
    assert figures.result_digest(resumed) == figures.result_digest(tiny)


def test_numbers_are_read_from_the_result(tiny):
    numbers = study.numbers(tiny)
    chapter = (Path(__file__).parents[1] / "notebooks" / "shape_filling.md").read_text()
    assert set(re.findall(r"\{glue:text\}`(shapearch-[\w-]+)`", chapter)) <= set(numbers)
    hard = []
    for a, name in enumerate(NAMES):
        key = study.KEYS[name]
        scores = [tiny.ood_iou[a, 0, 1].mean(), tiny.ood_iou[a, 1, 0].mean()]  # each suite's last level
        hard.append(sum(scores) / 2)
        assert numbers[f"shapearch-{key}-hard"] == f"{hard[-1]:.0%}"
        assert numbers[f"shapearch-{key}-parameters"] == f"{tiny.parameters[a]:,}"
        assert numbers[f"shapearch-{key}-test"] == f"{tiny.test_iou[a].mean():.1%}"
    assert numbers["shapearch-best"] == NAMES[int(np.argmax(hard))]
    assert numbers["shapearch-steps"] == "1"  # 12 images, batches of 32, one epoch


def test_figure_and_table(tiny):
    plt.close(plots.shape_filling.architectures(tiny))
    table = plots.shape_filling.architectures_table(tiny)
    assert list(table.index) == list(NAMES) and list(table["parameters"]) == list(tiny.parameters)


def test_presets_and_bad_configs():
    paper = study.Config.paper()
    assert (paper.size, paper.n_train, paper.n_test, paper.epochs, paper.batch_size) == (128, 1_115, 140, 150, 32)
    assert paper.deep_depth == paper.size // 2 and study.Config.quick().deep_depth == study.Config.quick().size // 2
    with pytest.raises(ValueError, match="'mlp'"):
        study.Config(**{**TINY.__dict__, "architectures": ("local", "mlp")})
    with pytest.raises(ValueError, match="size=48"):
        study.Config(**{**TINY.__dict__, "size": 48})
    with pytest.raises(ValueError, match="'mazes'"):
        study.Config(**{**TINY.__dict__, "suites": (("mazes", (1,)),)})
