"""The budget rule of the multi-peak comparison (experiments/two_peaks/budget.py), checked against plain
torch.optim loops, and the intervals over seeds against scipy."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from pathkernel.data import planar1d
from pathkernel.experiments.two_peaks import budget, multi_peak, sizes
from pathkernel.models import MLP
from pathkernel.training import TrainingDivergedError

X = planar1d.omega_all(8, 3)
Y = 2 * planar1d.centre_label(X) - 1
SEEN = [torch.from_numpy(np.random.default_rng(s).permutation(len(X))[:16]) for s in range(2)]
NETS = [MLP(8, 8, 3, seed=s, dtype=X.dtype) for s in range(2)]
THETA0 = torch.stack([torch.nn.utils.parameters_to_vector(net.parameters()).detach() for net in NETS])
XS, YS = torch.stack([X[i] for i in SEEN]), torch.stack([Y[i] for i in SEEN])
LRS, TARGET, CAP = (0.2, 0.05, 0.01), 0.35, 150


def reference_losses(run: int, optimizer: str, lr: float, steps: int) -> tuple[list[float], torch.Tensor]:
    """L(theta_0) .. L(theta_steps) of a plain torch.optim loop on run `run` (an independent reference)."""
    net = MLP(8, 8, 3, seed=run, dtype=X.dtype)
    opt = torch.optim.SGD(net.parameters(), lr=lr) if optimizer == "gd" else torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for k in range(steps + 1):
        opt.zero_grad()
        loss = 0.5 * (net(XS[run])[:, 0] - YS[run]).pow(2).mean()
        losses.append(loss.item())
        if k < steps:
            loss.backward()
            opt.step()
    return losses, torch.nn.utils.parameters_to_vector(net.parameters()).detach()


def first_hit(losses: list[float]) -> int | None:
    return next((k for k, value in enumerate(losses) if value <= TARGET), None)


@pytest.mark.parametrize("optimizer", budget.OPTIMIZERS)
def test_both_optimizers_stop_by_the_same_rule(optimizer):
    """For every run: the losses returned are those of a plain torch.optim loop with the kept learning
    rate; the stop T is the first step where L <= target, or the cap; and no grid learning rate
    reaches the target in fewer steps (each checked by its own plain loop)."""
    fit = budget.fit(NETS[0], THETA0, XS, YS, optimizer=optimizer, lrs=LRS, target=TARGET, max_steps=CAP)
    for r in range(2):
        steps = int(fit.steps[r])
        losses = fit.losses[r]
        assert np.all(losses[:steps] > TARGET) and np.all(np.isnan(losses[steps + 1:]))
        assert fit.reached[r] == (losses[steps] <= TARGET)
        assert fit.reached[r] or steps == CAP
        reference, theta = reference_losses(r, optimizer, float(fit.lr[r]), steps)
        np.testing.assert_allclose(losses[: steps + 1], reference, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(fit.theta[r], theta, rtol=1e-8, atol=1e-10)
        hits = [first_hit(reference_losses(r, optimizer, lr, steps)[0]) for lr in LRS]  # None: not by step T
        assert all(h is None or h == steps for h in hits)
        assert hits[int(fit.lr_index[r])] == (steps if fit.reached[r] else None)
        assert LRS[int(fit.lr_index[r])] == fit.lr[r]


def test_at_the_cap_the_lowest_training_loss_is_kept():
    threads = torch.get_num_threads()
    fit = budget.fit(NETS[0], THETA0, XS, YS, optimizer="adam", lrs=LRS, target=1e-9, max_steps=5)
    assert torch.get_num_threads() == threads  # fit's one thread is given back
    assert fit.steps.tolist() == [5, 5] and not fit.reached.any()
    for r in range(2):
        finals = [reference_losses(r, "adam", lr, 5)[0][-1] for lr in LRS]
        assert fit.lr[r] == LRS[int(np.argmin(finals))]
        np.testing.assert_allclose(fit.grid_losses[r], finals, rtol=1e-9)


def test_a_diverging_learning_rate_is_dropped_and_all_diverging_is_an_error():
    fit = budget.fit(NETS[0], THETA0, XS, YS, optimizer="gd", lrs=(1e6, 0.2), target=TARGET, max_steps=CAP)
    assert np.all(np.isnan(fit.grid_losses[:, 0])) and np.all(fit.lr == 0.2)
    with pytest.raises(TrainingDivergedError, match="every copy of run 0 diverged"):
        budget.fit(NETS[0], THETA0, XS, YS, optimizer="gd", lrs=(1e6,), target=TARGET, max_steps=CAP)


def test_the_sweep_and_the_decomposition_study_apply_the_rule():
    """sizes and multi_peak: a run stops at the target (its final training loss below it) or at the cap."""
    config = sizes.Config(scale="quick", multi_n=8, multi_k=3, train_sizes=(12, 24), lrs=(0.5, 0.05), max_steps=40,
                          seeds=2, width=8, target_loss=0.3)
    result = sizes.run(config)
    assert np.array_equal(result.reached, result.final_loss <= config.target_loss)
    assert np.all(result.reached | (result.steps == config.max_steps))
    assert set(result.lr.ravel()) <= set(config.lrs)
    decomposed = multi_peak.run(multi_peak.Config(scale="quick", width=8, multi_n=8, multi_k=3, multi_train=20,
                                                  lrs=(0.5, 0.05), target_loss=0.3, max_steps=40, checkpoints=3,
                                                  decomposition_queries=2))
    for j in range(2):
        steps = decomposed.steps[j]
        assert np.all(decomposed.losses[j, :steps] > 0.3)
        assert decomposed.reached[j] == (decomposed.losses[j, steps] <= 0.3)
        # the path recorded by pathkernel.train ends where the rule stopped
        assert decomposed.final_loss[j] == pytest.approx(decomposed.losses[j, steps], rel=1e-9)


def test_interval_against_scipy():
    rng = np.random.default_rng(0)
    values = rng.uniform(0.3, 0.7, size=(3, 4, 6))
    got = budget.interval(values)
    for index in np.ndindex(3, 4):
        sample = values[index]
        low, high = scipy.stats.t.interval(0.95, len(sample) - 1, loc=sample.mean(), scale=scipy.stats.sem(sample))
        np.testing.assert_allclose(got[index], [np.mean(sample), low, high], rtol=1e-12)
    # two samples: t_{0.975, 1} = 12.706..., the half-width of the interval of 0.4 and 0.6 is 12.706 * 0.1
    assert budget.interval(np.array([0.4, 0.6]), low=-10, high=10)[2] == pytest.approx(0.5 + 12.7062047 * 0.1)
    # clipped to the range of an accuracy; a constant sample has a zero-width interval
    assert budget.interval(np.array([1.0, 0.9, 1.0]))[2] == 1.0
    assert budget.interval(np.array([0.25] * 5)).tolist() == [0.25, 0.25, 0.25]


def test_bad_input_is_refused_with_the_value():
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        budget.fit(NETS[0], THETA0, XS, YS, optimizer="sgd", lrs=LRS, target=TARGET, max_steps=CAP)
    for lrs, match in (((), r"lrs=\(\) must be a non-empty"), ((0.1, 0.0), "a learning rate in lrs=0.0"),
                       ((0.1, 0.1), "repeated"), ("0.1", "lrs='0.1'")):
        with pytest.raises(ValueError, match=match):
            budget.fit(NETS[0], THETA0, XS, YS, optimizer="gd", lrs=lrs, target=TARGET, max_steps=CAP)
    with pytest.raises(ValueError, match="target_loss=nan"):
        budget.fit(NETS[0], THETA0, XS, YS, optimizer="gd", lrs=LRS, target=math.nan, max_steps=CAP)
    with pytest.raises(ValueError, match="max_steps=0"):
        budget.fit(NETS[0], THETA0, XS, YS, optimizer="gd", lrs=LRS, target=TARGET, max_steps=0)
    with pytest.raises(ValueError, match=r"R = 2 runs"):
        budget.fit(NETS[0], THETA0, XS[:1], YS[:1], optimizer="gd", lrs=LRS, target=TARGET, max_steps=CAP)
    with pytest.raises(ValueError, match="at least 2 samples"):
        budget.interval(np.array([0.5]))
    with pytest.raises(ValueError, match="finite"):
        budget.interval(np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match="level=1.5"):
        budget.interval(np.array([0.5, 0.6]), level=1.5)
