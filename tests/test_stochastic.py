import dataclasses
import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from pathkernel import plots, runs
from pathkernel.data import ball_sphere
from pathkernel.experiments import stochastic
from pathkernel.experiments.discrete_exact.theorem import query_points
from pathkernel.experiments.stochastic import expectation, per_sample, residual
from reference import load_flat, naive_jacobian


def tiny_config(**changes):
    base = dict(scale="quick", n=8, width=6, batch_size=4, time=0.2, base_lrs=(0.1, 0.05, 0.025), n_query=5,
                seeds=8, expectation_lr=0.1, expectation_steps=3, compare_lr=0.1, compare_steps=4, fit_max_lr=0.1)
    return stochastic.Config(**{**base, **changes})


@pytest.fixture(scope="module")
def tiny():
    """The old entry point: the three studies of the tiny config, seed 1."""
    return tiny_config(), stochastic.run(tiny_config(), seed=1)


def naive_contributions(path, queries):
    """(m, n) -sum_k lr_k chi_k(i) l'_{k,i} K_k(x, x_i) and (m, n) sum_k lr_k chi_k(i) K_k(x, x_i) for an
    SGD path on the squared error, with one backward pass per example (no package kernels)."""
    n = path.x.shape[0]
    contribution = torch.zeros(queries.shape[0], n, dtype=queries.dtype)
    kernel = torch.zeros_like(contribution)
    for k in range(path.steps):
        model = load_flat(path.model, path.params[k])
        rows = path.batches[k].tolist()
        J_train = naive_jacobian(model, path.x[rows])[:, 0]
        J_query = naive_jacobian(model, queries)[:, 0]
        with torch.no_grad():
            lprime = (model(path.x[rows])[:, 0] - path.y[rows]) / len(rows)
        K = J_query @ J_train.T
        contribution[:, rows] -= path.lrs[k] * K * lprime
        kernel[:, rows] += path.lrs[k] * K
    return contribution, kernel


def test_block_mean_error_follows_the_square_root_law():
    samples = np.random.default_rng(0).normal(size=(4096, 3))
    counts = np.array([1, 4, 16, 64])
    error = stochastic.block_mean_error(samples, counts)
    np.testing.assert_allclose(error, 1 / np.sqrt(counts), rtol=0.15)


def test_block_mean_error_and_block_rms_against_loops():
    samples = np.random.default_rng(1).normal(size=(12, 2)) + 3.0
    grand = samples.mean(0)
    for count in (1, 2, 3, 6):
        blocks = [samples[b * count : (b + 1) * count].mean(0) for b in range(12 // count)]
        squares = [((block - grand) ** 2).mean() for block in blocks]
        expected = math.sqrt(sum(squares) / len(squares) / (1 - count / 12))
        assert stochastic.block_mean_error(samples, np.array([count]))[0] == pytest.approx(expected, rel=1e-12)
        rms = math.sqrt(sum((block**2).mean() for block in blocks) / len(blocks))
        assert stochastic.block_rms(samples, np.array([count]))[0] == pytest.approx(rms, rel=1e-12)
    with pytest.raises(ValueError, match="count=7"):
        stochastic.block_mean_error(samples, np.array([7]))


def test_rank_correlations_match_scipy_spearman_with_ties():
    rng = np.random.default_rng(2)
    contribution = rng.normal(size=(3, 2, 30))
    contribution[1] = contribution[0] + 0.3 * rng.normal(size=(2, 30))
    contribution[2, :, :10] = 0.0  # ties
    rho = stochastic.rank_correlations(contribution)
    assert rho.shape == (2, 3, 3)
    for j in range(2):
        for a in range(3):
            for b in range(3):
                assert rho[j, a, b] == pytest.approx(spearmanr(contribution[a, j], contribution[b, j]).statistic, abs=1e-12)


def test_fit_order_recovers_a_power_law():
    lrs = np.array([0.4, 0.2, 0.1, 0.05])
    slope, intercept = stochastic.fit_order(lrs, 3.0 * lrs**1.5, max_lr=0.2)
    assert slope == pytest.approx(1.5, abs=1e-12) and intercept == pytest.approx(math.log(3.0), abs=1e-12)


def test_learning_rates_are_tied_to_the_base_rate():
    config = tiny_config()
    assert [stochastic.learning_rate(config, o, 0.2) for o in stochastic.OPTIMIZERS] == pytest.approx(
        [0.2, 0.2, 0.2 * (1 - config.momentum), 0.2 * config.adam_scale])
    with pytest.raises(ValueError, match="'rmsprop'"):
        stochastic.learning_rate(config, "rmsprop", 0.1)


@pytest.mark.parametrize("changes, match", [
    (dict(batch_size=8), "batch_size=8"),
    (dict(seeds=4), "seeds=4"),
    (dict(base_lrs=(0.4, 0.2), fit_max_lr=0.2), "fit_max_lr"),
    (dict(momentum=1.0), "momentum=1.0"),
    (dict(compare_lr=-0.1), "compare_lr=-0.1"),
])
def test_config_rejects_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        tiny_config(**changes)


def test_residual_study_against_a_per_step_reference(tiny):
    config, result = tiny
    x, y = ball_sphere(config.n, seed=1)
    xq = query_points(config.n_query, config.query_radius, 2)
    a = stochastic.OPTIMIZERS.index("adam")
    path = stochastic.train_path(config, x, y, "adam", stochastic.learning_rate(config, "adam", 0.1), 2,
                                 init_seed=1, batch_seed=1)
    assert result.steps.tolist() == [2, 4, 8]
    first_order = torch.zeros(config.n_query, dtype=x.dtype)
    for k in range(path.steps):
        first_order += naive_jacobian(load_flat(path.model, path.params[k]), xq)[:, 0] @ (path.params[k + 1] - path.params[k])
    with torch.no_grad():
        change = load_flat(path.model, path.params[-1])(xq)[:, 0] - load_flat(path.model, path.params[0])(xq)[:, 0]
    assert result.residual[a, 0] == pytest.approx((change - first_order).abs().max().item(), rel=1e-9)
    assert result.residual_exact.max() < 1e-13
    assert np.all(result.residual > 1e3 * result.residual_exact)


def test_expectation_study_against_naive_per_seed_loops(tiny):
    config, result = tiny
    x, y = ball_sphere(config.n, seed=1)
    queries = torch.tensor(config.queries, dtype=x.dtype)
    contributions, kernels, predictions = [], [], []
    for s in range(config.seeds):
        path = stochastic.train_path(config, x, y, "sgd", config.expectation_lr, config.expectation_steps,
                                     init_seed=1, batch_seed=1 * config.seeds + s)
        contribution, kernel = naive_contributions(path, queries)
        contributions.append(contribution)
        kernels.append(kernel)
        with torch.no_grad():
            predictions.append(load_flat(path.model, path.params[-1])(queries)[:, 0])
    np.testing.assert_allclose(result.expected_contribution, torch.stack(contributions).mean(0).numpy(), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(result.expected_path_kernel, torch.stack(kernels).mean(0).numpy(), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(result.expected_prediction, torch.stack(predictions).mean(0).numpy(), rtol=1e-12, atol=1e-14)
    # the expectation theorem: mean prediction = mean exact kernel machine; the first-order one is off by E R
    mean = result.seed_prediction.mean(0)
    assert np.abs(mean - result.seed_rhs_exact.mean(0)).max() < 1e-13
    assert np.abs(mean - result.seed_rhs.mean(0)).max() > 1e3 * np.abs(mean - result.seed_rhs_exact.mean(0)).max()
    assert result.seed_counts.tolist() == [1, 2]  # blocks of up to seeds / 4


def test_comparison_and_recovery(tiny):
    config, result = tiny
    assert result.contribution.shape == (4, len(config.queries), config.n)
    # exact form: contributions add up to the change of each optimizer's prediction
    np.testing.assert_allclose(result.contribution.sum(2), result.prediction - result.initial, atol=1e-13)
    np.testing.assert_allclose(np.diagonal(result.spearman, axis1=1, axis2=2), 1.0)
    np.testing.assert_allclose(result.spearman, np.swapaxes(result.spearman, 1, 2))
    y = ball_sphere(config.n, seed=1)[1].numpy()
    within = [[spearmanr(result.contribution[0, j, y == c], result.contribution[3, j, y == c]).statistic
               for c in (-1, 1)] for j in range(len(config.queries))]
    np.testing.assert_allclose(result.spearman_within[:, 0, 3], np.mean(within, 1), atol=1e-12)
    assert len(result.recovery_names) == 3
    assert result.recovery_params.max() < 1e-14 and result.recovery_contribution.max() < 1e-13


def test_zero_momentum_differs_from_momentum():
    """The recovery check can fail: a non-zero momentum does not reproduce SGD."""
    config = tiny_config()
    x, y = ball_sphere(config.n, seed=1)
    sgd = stochastic.train_path(config, x, y, "sgd", 0.1, 4, init_seed=1, batch_seed=1)
    heavy = stochastic.train_path(config, x, y, "momentum", 0.1, 4, init_seed=1, batch_seed=1, momentum=0.5)
    torch.testing.assert_close(sgd.params[:2], heavy.params[:2], rtol=0, atol=0)  # no memory yet after one step
    assert (sgd.params[-1] - heavy.params[-1]).abs().max() > 1e-4


def test_run_is_deterministic(tiny):
    config, result = tiny
    again = stochastic.run(config, seed=1)
    for name in ("residual", "seed_prediction", "expected_contribution", "contribution", "spearman"):
        assert np.array_equal(getattr(result, name), getattr(again, name)), name


def test_figures_draw_their_study(tiny):
    _, result = tiny
    fig = plots.stochastic.residual(result.residual_study)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(f"slope {result.slopes[3]:.2f}" in t for t in texts)
    assert len(plots.stochastic.expectation(result.expectation_study, shown=3).axes) == 3
    assert len(plots.stochastic.expectation(result.expectation_study).axes[0].get_xticks()) == result.seed_prediction.shape[1]
    assert len(plots.stochastic.per_sample(result.per_sample_study).axes) >= 4
    plt.close("all")
    declared = {figure_id: plots.FIGURES[figure_id].experiment for figure_id in
                ("fig-stochastic-residual", "fig-stochastic-expectation", "fig-stochastic-per-sample")}
    assert declared == {"fig-stochastic-residual": "stochastic.residual",
                        "fig-stochastic-expectation": "stochastic.expectation",
                        "fig-stochastic-per-sample": "stochastic.per_sample"}


def test_tables(tiny):
    config, result = tiny
    frame = plots.stochastic.residual_table(result.residual_study).data
    assert frame["optimizer"].tolist() == list(stochastic.OPTIMIZERS)
    assert frame["lr at the smallest base rate"].tolist() == pytest.approx(
        [0.025, 0.025, 0.025 * (1 - config.momentum), 0.025 * config.adam_scale])
    assert frame["fitted slope"].tolist() == result.slopes.tolist()
    assert frame["max |R|, exact"].tolist() == [max(row) for row in result.residual_exact]
    frame = plots.stochastic.per_sample_table(result.per_sample_study).data
    assert frame["f(w_T, x) at (0.6, 0.8)"].tolist() == result.prediction[:, 1].tolist()
    assert frame["Spearman with GD"].tolist() == pytest.approx(result.spearman[:, 0].mean(0).tolist())
    frame = plots.stochastic.recovery_table(result.per_sample_study).data
    assert frame["special case -> optimizer"].tolist() == list(result.recovery_names)


def test_residual_numbers(tiny):
    config, result = tiny
    numbers = residual.numbers(result.residual_study)
    assert numbers["stochastic-scale"] == "quick" and numbers["stochastic-fit-max"] == "0.1"
    assert numbers["stochastic-memory"] == "10"
    assert numbers["stochastic-depth"] == str(config.depth)
    assert float(numbers["stochastic-query-radius"]) == config.query_radius
    for a, name in enumerate(stochastic.OPTIMIZERS):
        assert float(numbers[f"stochastic-slope-{name}"]) == round(float(result.slopes[a]), 2)
        assert float(numbers[f"stochastic-local-{name}"]) == round(float(result.local_slopes[a]), 2)
    assert float(numbers["stochastic-exact-max"]) == float(f"{max(map(max, result.residual_exact)):.0e}")
    paper = residual.Config.paper()
    assert (numbers["stochastic-paper-n"], numbers["stochastic-paper-width"], numbers["stochastic-paper-rates"]) == (
        str(paper.n), str(paper.width), str(len(paper.base_lrs)))


def test_expectation_numbers_against_loops(tiny):
    config, result = tiny
    study = result.expectation_study
    numbers = expectation.numbers(study)
    S, m = study.seed_prediction.shape
    mean = [sum(study.seed_prediction[s, j] for s in range(S)) / S for j in range(m)]
    exact = [sum(study.seed_rhs_exact[s, j] for s in range(S)) / S for j in range(m)]
    plain = [sum(study.seed_rhs[s, j] for s in range(S)) / S for j in range(m)]
    gaps = expectation.mean_gaps(study)
    assert gaps["exact"] == pytest.approx(max(abs(a - b) for a, b in zip(mean, exact)), rel=1e-6, abs=1e-15)
    assert gaps["plain"] == pytest.approx(max(abs(a - b) for a, b in zip(mean, plain)), rel=1e-9)
    assert gaps["gd"] == pytest.approx(max(abs(a - b) for a, b in zip(mean, study.gd_prediction)), rel=1e-9)
    spread = sum(math.sqrt(sum((study.seed_prediction[s, j] - mean[j]) ** 2 for s in range(S)) / (S - 1))
                 for j in range(m)) / m
    assert expectation.seed_spread(study) == pytest.approx(spread, rel=1e-12)
    assert float(numbers["stochastic-standard-error"]) == round(spread / math.sqrt(S), 3)
    correlation = expectation.expected_gd_correlation(study)
    assert correlation.shape == (len(config.queries),)
    for j in range(len(config.queries)):
        expected = np.corrcoef(study.expected_contribution[j], study.gd_contribution[j])[0, 1]
        assert correlation[j] == pytest.approx(expected, rel=1e-12)
    assert numbers["stochastic-seeds"] == "8" and numbers["stochastic-paper-seeds"] == str(expectation.Config.paper().seeds)
    assert float(numbers["stochastic-expected-gd-corr"]) == round(float(correlation.min()), 4)
    # the largest block of the Monte Carlo fit: the largest power of two up to S / 4, and the slope is fitted up to it
    block = int(numbers["stochastic-block-max"])
    assert block == max(study.seed_counts) and block & (block - 1) == 0 and 4 * block <= S < 8 * block
    fitted = study.seed_counts <= block
    slope = np.polyfit(np.log(study.seed_counts[fitted]), np.log(study.mc_error[fitted]), 1)[0]
    assert float(numbers["stochastic-mc-slope"]) == round(float(slope), 2)


def test_per_sample_numbers(tiny):
    _, result = tiny
    study = result.per_sample_study
    numbers = per_sample.numbers(study)
    for a, name in enumerate(study.optimizers):
        norm = math.sqrt(sum(v * v for v in study.contribution[a].ravel()))
        gd = math.sqrt(sum(v * v for v in study.contribution[0].ravel()))
        assert per_sample.relative_sizes(study)[name] == pytest.approx(norm / gd, rel=1e-12)
        if name != "gd":
            rho = [spearmanr(study.contribution[0, j], study.contribution[a, j]).statistic
                   for j in range(len(study.queries))]
            assert per_sample.with_gd(study)[name] == pytest.approx(sum(rho) / len(rho), abs=1e-12)
            assert numbers[f"stochastic-within-{name}"] == f"{study.spearman_within[:, 0, a].mean():.2f}"
    assert per_sample.with_gd(study)["gd"] == pytest.approx(1.0)
    assert numbers["stochastic-size-gd"] == "1.00"
    assert float(numbers["stochastic-recovery-max"]) == float(
        f"{max(max(study.recovery_params), max(study.recovery_contribution)):.0e}")


def test_every_glued_name_comes_from_one_study(tiny):
    _, result = tiny
    parts = [residual.numbers(result.residual_study), expectation.numbers(result.expectation_study),
             per_sample.numbers(result.per_sample_study)]
    names = [name for part in parts for name in part]
    assert len(names) == len(set(names))
    chapter = (Path(__file__).parents[1] / "notebooks" / "stochastic.md").read_text()
    used = set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter))
    assert used <= set(names)  # the slopes and sizes are glued for every optimizer; the prose cites some
    assert set(names) - used == {"stochastic-local-gd", "stochastic-local-sgd", "stochastic-size-gd"}
    assert "glue(" not in chapter and "remove-output" not in chapter


def test_old_entry_points_run_the_three_studies(tiny):
    config, result = tiny
    assert isinstance(result, stochastic.Result) and result.config == config
    for study, part in zip(stochastic.STUDIES, (result.residual_study, result.expectation_study, result.per_sample_study)):
        alone = runs.result(study, config=stochastic.study_config(config, study), seed=1)
        assert part.config == alone.config == stochastic.study_config(config, study)
        for field in dataclasses.fields(part):
            value = getattr(part, field.name)
            if field.name != "config":  # a name two studies share (queries, optimizers) reads the first one's
                assert np.array_equal(getattr(result, field.name), value), field.name
            if isinstance(value, np.ndarray):
                assert np.array_equal(value, getattr(alone, field.name)), field.name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        result.nothing
    with pytest.raises(ValueError, match="disagree on scale: .quick. and .paper."):
        stochastic.Config.combine(residual.Config.quick(), expectation.Config.paper())
    assert stochastic.Config.quick() == stochastic.Config.combine(*(s.Config.quick() for s in stochastic.STUDIES))


def test_study_configs_check_their_own_fields():
    with pytest.raises(ValueError, match="seeds=4"):
        dataclasses.replace(expectation.Config.quick(), seeds=4)
    with pytest.raises(ValueError, match="compare_lr=0"):
        dataclasses.replace(per_sample.Config.quick(), compare_lr=0)
    with pytest.raises(ValueError, match="batch_size=64"):
        dataclasses.replace(residual.Config.quick(), batch_size=64)
    with pytest.raises(ValueError, match="time=0"):
        dataclasses.replace(residual.Config.quick(), time=0)


def test_presets_are_valid_and_scaled(monkeypatch):
    quick, paper = stochastic.Config.quick(), stochastic.Config.paper()
    assert (quick.scale, paper.scale) == ("quick", "paper")
    assert paper.n > quick.n and paper.seeds > quick.seeds and len(paper.base_lrs) > len(quick.base_lrs)
    monkeypatch.setenv("PATHKERNEL_SCALE", "paper")
    assert stochastic.Config.from_scale() == paper
    for study in stochastic.STUDIES:
        assert study.Config.from_scale() == study.Config.paper() == stochastic.study_config(paper, study)
