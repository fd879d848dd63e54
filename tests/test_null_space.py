"""The null-space chapter's studies, against independent references: the closed-form dynamics of a fixed
kernel (`linearized.gd_residuals`) and Domingos' first-order path kernel from `pk.domingos`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import pathkernel as pk
from pathkernel.experiments.null_space import task, theorem, training
from pathkernel.linearized import gd_residuals


def test_tasks_train_inside_the_grid_and_ood_only_left_of_zero():
    sample, target, indices = task("sine-ood", 33, 2)
    assert sample.shape == (33, 1) and target.shape == (33,)
    assert (sample[indices, 0] < 0).all() and len(indices) == 8
    torch.testing.assert_close(target, torch.sin(torch.pi * sample[:, 0]))
    _, square, every = task("square", 32, 4)
    assert set(square.tolist()) <= {-1.0, 0.0, 1.0} and every.tolist() == list(range(0, 32, 4))
    with pytest.raises(ValueError, match="task='cosine'"):
        task("cosine", 10, 2)
    with pytest.raises(ValueError, match="task='square-ood'"):
        task("square-ood", 10, 2)
    with pytest.raises(ValueError, match="train_every=0"):
        task("sine", 10, 0)


@pytest.fixture(scope="module")
def theorem_result():
    return theorem.run(dataclasses.replace(theorem.Config.quick(), m=24, width=16, steps=60))


def test_theorem_study_errors_on_the_whole_grid_are_the_closed_form_dynamics(theorem_result):
    """errors_full against u_k = (I - lr K / n)^k u_0 with K the tangent kernel at w_0 on the grid."""
    config = theorem_result.config
    sample, target, _ = task(config.target, config.m, config.train_every)
    model = pk.MLP(1, config.width, config.depth, activation="gelu", seed=0, dtype=torch.float64)
    with torch.no_grad():
        u0 = (model(sample)[:, 0] - target).numpy()
    residuals = gd_residuals(pk.tangent_kernel(model, sample).numpy(), u0, lr=config.lr, steps=config.steps)
    np.testing.assert_allclose(theorem_result.errors_full, (residuals**2).mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(theorem_result.formula_full, theorem_result.errors_full, rtol=1e-9)


def test_theorem_study_bound_holds_and_learned_counts_grow(theorem_result):
    assert (theorem_result.errors_subset >= theorem_result.bound - 1e-12).all()
    assert theorem_result.bound > 0
    assert (np.diff(theorem_result.learned) >= 0).all() and theorem_result.learned[0] == 0
    assert theorem_result.energy_outside[0] == pytest.approx(theorem_result.errors_full[0], rel=1e-12)
    numbers = theorem.numbers(theorem_result)
    assert numbers["nullspace-n"] == len(range(0, 24, 4)) and numbers["nullspace-m"] == 24


@pytest.fixture(scope="module")
def training_config():
    return dataclasses.replace(training.Config.quick(), m=20, width=12, steps=12, checkpoints=(3, 12), kernel_stride=3,
                               tasks=("square", "sine-ood"), exact_tasks=("square",))


def test_training_study_path_kernel_is_domingos_first_order_path_kernel(training_config):
    """The unreachable energy of the accumulated path kernel at the last checkpoint, recomputed from the
    (m, n) path kernel that pk.domingos returns for the same training run."""
    result = training.run(training_config)
    for t, name in enumerate(training_config.tasks):
        sample, target, indices = task(name, training_config.m, training_config.train_every)
        model = pk.MLP(1, training_config.width, training_config.depth, activation="gelu", seed=0, dtype=torch.float64)
        with torch.no_grad():
            todo = target - model(sample)[:, 0]
        path = pk.train(model, sample[indices], target[indices, None], lr=training_config.lr, steps=training_config.steps)
        kernel = pk.domingos(path, sample, per_sample=True, stride=training_config.kernel_stride).path_kernel
        expected = pk.unreachable_energy(kernel, todo)
        assert result.unreachable[t, -1, training.KERNELS.index("path")] == pytest.approx(expected, rel=1e-8, abs=1e-14)
        with torch.no_grad():
            assert result.test_error[t, -1] == pytest.approx(float(((model(sample)[:, 0] - target) ** 2).mean()), rel=1e-12)
    assert np.isnan(result.exact_unreachable[1]) and result.exact_residual[0] < 1e-10
    numbers = training.numbers(result)
    assert "nullspace-square-exact" in numbers and "nullspace-sine-ood-exact" not in numbers


def test_training_config_is_checked():
    with pytest.raises(ValueError, match="checkpoints"):
        dataclasses.replace(training.Config.quick(), checkpoints=(5, 3, 400))
    with pytest.raises(ValueError, match="kernel_stride"):
        dataclasses.replace(training.Config.quick(), checkpoints=(5, 400))
    with pytest.raises(ValueError, match="exact_tasks"):
        dataclasses.replace(training.Config.quick(), tasks=("sine",))


def test_a_rate_at_which_gradient_descent_diverges_is_refused_before_training():
    """The threshold 2 / lambda_1 against the closed-form dynamics u_k = (I - lr K / m)^k u_0
    (`gd_residuals`): just below it the residual shrinks, just above it grows, and only the rate
    above it is refused, by both studies, before any training step."""
    config = dataclasses.replace(theorem.Config.quick(), m=24, width=16, steps=60)
    sample, target, _ = task(config.target, config.m, config.train_every)
    model = pk.MLP(1, config.width, config.depth, activation="gelu", seed=0, dtype=torch.float64)
    kernel = pk.tangent_kernel(model, sample).numpy()
    threshold = 2 / np.linalg.eigvalsh(kernel / config.m).max()
    with torch.no_grad():
        u0 = (model(sample)[:, 0] - target).numpy()
    for factor, grows in ((0.98, False), (1.02, True)):
        residuals = gd_residuals(kernel, u0, lr=factor * threshold, steps=2000)
        assert (np.linalg.norm(residuals[-1]) > np.linalg.norm(u0)) == grows
    theorem.run(dataclasses.replace(config, lr=0.98 * threshold, steps=2))
    with pytest.raises(ValueError, match=r"lr=.*expected lr < 2 / lambda_1"):
        theorem.run(dataclasses.replace(config, lr=1.02 * threshold))
    too_fast = dataclasses.replace(training.Config.quick(), m=24, width=16, tasks=("square",), lr=1.02 * threshold)
    with pytest.raises(ValueError, match=r"lr=.*expected lr < 2 / lambda_1"):
        training.run(too_fast)
