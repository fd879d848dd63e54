import dataclasses
import importlib
import inspect
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from pathkernel import figures, plots
from pathkernel.__main__ import main
from pathkernel.experiments import DEVICES, check_device, current_scale, discrete_theorem


def tiny_config(**changes):
    base = dict(scale="quick", n=16, width=16, time=2.0, lrs=(0.2, 0.1, 0.05), n_query=20, fit_max_lr=0.2)
    return discrete_theorem.Config(**{**base, **changes})


def test_scale_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("PATHKERNEL_SCALE", raising=False)
    assert current_scale() == "quick"
    assert discrete_theorem.Config.from_scale() == discrete_theorem.Config.quick()
    monkeypatch.setenv("PATHKERNEL_SCALE", "paper")
    assert discrete_theorem.Config.from_scale() == discrete_theorem.Config.paper()
    monkeypatch.setenv("PATHKERNEL_SCALE", "huge")
    with pytest.raises(ValueError, match="huge"):
        current_scale()
    with pytest.raises(ValueError, match="scale='big'"):
        discrete_theorem.Config.from_scale("big")


def test_discrete_theorem_run_measures_a_first_order_remainder():
    result = discrete_theorem.run(tiny_config(), seed=0)
    assert result.steps.tolist() == [10, 20, 40]
    assert 0.85 < result.slope < 1.15
    # the fit reproduces the measured residuals it was fitted on
    fitted = np.exp(result.intercept) * result.lrs**result.slope
    assert np.allclose(np.log(fitted), np.log(result.residual), atol=0.1)
    assert result.residual_exact.max() < 1e-12
    assert np.all(result.residual > 1e3 * result.residual_exact)


def test_run_is_deterministic():
    a, b = discrete_theorem.run(tiny_config(lrs=(0.1, 0.05)), seed=3), discrete_theorem.run(tiny_config(lrs=(0.1, 0.05)), seed=3)
    assert np.array_equal(a.residual, b.residual) and np.array_equal(a.final_loss, b.final_loss)


def test_config_needs_two_fitted_learning_rates():
    with pytest.raises(ValueError, match="fit_max_lr"):
        tiny_config(lrs=(0.4, 0.1), fit_max_lr=0.1)


def test_residual_figure_is_log_log():
    result = discrete_theorem.run(tiny_config(), seed=0)
    fig = plots.discrete_exact.residual_lr(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert any(f"slope {result.slope:.2f}" in t.get_text() for t in ax.get_legend().get_texts())
    assert math.isclose(min(ax.get_lines()[0].get_xdata()), 0.05)


# --- devices (issue 19): every run(config, seed, *, device="cpu") --------------------------------

# every study a figure is drawn from (one Config/Result each), named after its chapter
STUDIES = ("attribution", "ball_sphere.network", "ball_sphere.residual", "discrete_exact.theorem",
           "discrete_exact.vector_outputs", "generative.ddpm", "generative.gan", "gradient_flow",
           "kernel_evolution.digits", "kernel_evolution.neighbourhoods", "kernel_evolution.svms",
           "kernel_evolution.umap", "kernel_evolution.waves", "kernel_machines", "kernel_regime.lazy_training",
           "kernel_regime.ntk_limit", "kernel_regime.output_scale", "last_layer", "linear_regression",
           "null_space.theorem", "null_space.training", "parity_1d", "parity_rates", "question", "separable",
           "separable_profile", "shape_filling", "shape_filling_architectures", "stochastic.expectation",
           "stochastic.per_sample", "stochastic.residual", "stochastic_kernel.ito_term",
           "stochastic_kernel.momentum", "stochastic_kernel.weak_order", "two_peaks.multi_peak", "two_peaks.sizes",
           "two_peaks.two_peak")
# the experiments' former names: aliases of a study, or the chapter package's combined entry points
FORMER = ("ball_sphere", "discrete_theorem", "kernel_evolution", "kernel_evolution_digits", "lazy_training", "ntk_limit",
          "output_scale", "parity_training", "planar_fill", "stochastic", "two_peaks", "vector_outputs")
EXPERIMENTS = STUDIES + FORMER

# the quick presets shrunk to a fraction of a second each (kernel_evolution_digits is left out of the
# run below: its UMAP fits cost seconds even on tiny inputs, and its device handling is that of the others)
SHRUNK = {
    "attribution": dict(n_train=60, n_test=60, epochs=2, batch_size=20, channels=(2, 3), checkpoint_counts=(1, 3, 6),
                        correct=2, mistakes=1, k=3),
    "ball_sphere": dict(n=40, width=16, steps=20, k=6, grid=15, sweep_n=12, r2=0.5, sweep_lrs=(0.05, 0.1),
                        sweep_widths=(8, 16), sweep_steps=(4, 8), base_lr=0.05, base_width=8, base_steps=4, n_query=10,
                        angles=36),
    "discrete_theorem": dict(n=12, width=8, time=1.0, lrs=(0.2, 0.1), n_query=10, fit_max_lr=0.2),
    "gradient_flow": dict(n=16, width=8, time=2.0, lrs=(0.1, 0.05, 0.025), n_query=10, contribution_lr=0.05,
                          time_pieces=8, n_times=11),
    "kernel_evolution": dict(n=40, queries=30, k=6, steps=30, wave_n=12, wave_steps=30, svm_n=40, svm_test=50,
                             svm_steps=60, width=12, grid=10, wave_grid=25),
    "kernel_machines": dict(n_svm=30, n_rff=40, feature_counts=(10, 100, 1000), repeats=3, grid=21, degrees=(1, 3)),
    "last_layer": dict(n=24, width=16, steps=20, grid=12, early_steps=5),
    "lazy_training": dict(widths=(8, 64), seeds=1, steps=20, every=10, alphas=(1.0, 30.0), alpha_width=16,
                          n_functions=3, function_widths=(8,), grid=21, power_iterations=5),
    "linear_regression": dict(n=12, d=2, time=1.0, lrs=(0.4, 0.2, 0.1), n_query=8, width=8, fit_max_lr=0.4),
    "ntk_limit": dict(widths=(8, 64), seeds=2, regression_widths=(16, 64), regression_seeds=1, steps=30, grid=15),
    "output_scale": dict(width=24, steps=60, alphas=(0.3, 3.0, 30.0), kernels=3, lr=0.1, toy_grid=41),
    "parity_training": dict(n=8, n_train=16, steps=6, seeds=2, k_train=2, k_eval=(2, 4), sigmas=(1e-4, 0.5),
                            extra_width=4, optimizer="gd", lr=0.005),
    "parity_rates": dict(n=8, n_train=8, steps=4, seeds=2, k_train=2, k_eval=(2, 4), sigma=1e-4, extra_width=3,
                         optimizer="gd", lr=0.002, together=2),
    "planar_fill": dict(size=32, n_shapes=6, thin_size=20),
    "separable": dict(n=40, width=16, steps=20, k=6, grid=9, probe=4, checkpoints=3,
                      queries=((0.0, 0.0), (0.5, 0.2))),
    "separable_profile": dict(seeds=2, n=40, width=16, steps=20, k=6, probe=5, bins=3),
    "generative.ddpm": dict(n=6, width=8, steps=4, queries=2, near=2, bins=3),
    "generative.gan": dict(n=8, width=8, steps=4, b=4, queries=2, phases=2, grid=3),
    "null_space.theorem": dict(m=16, width=8, steps=5),
    "null_space.training": dict(m=16, width=8, steps=6, checkpoints=(2, 6), kernel_stride=2, tasks=("sine", "sine-ood"),
                                exact_tasks=("sine",)),
    "shape_filling": dict(n_train=16, n_test=6, epochs=1, width=2, max_width=4, n_ood=3, scales=3, n_examples=2,
                          suites=(("shapes", (1, 4)), ("nesting", (1, 2)), ("spiral", (1.0,)), ("size", (1, 2)))),
    "shape_filling_architectures": dict(n_train=12, n_test=4, epochs=1, width=8, depth=2, deep_depth=3, unet_width=2,
                                        unet_max_width=4, n_ood=2, suites=(("nesting", (1, 2)), ("spiral", (1.0,)))),
    "stochastic.residual": dict(n=8, width=6, batch_size=4, time=0.2, base_lrs=(0.1, 0.05, 0.025), n_query=5,
                                fit_max_lr=0.1),
    "stochastic.expectation": dict(n=8, width=6, batch_size=4, n_query=5, seeds=8, expectation_lr=0.1,
                                   expectation_steps=3),
    "stochastic_kernel.weak_order": dict(walkers=20, lrs=(0.5, 0.25), exact_lrs=(0.5, 0.25), substeps=2),
    "stochastic_kernel.momentum": dict(walkers=4, lrs=(0.5,), time=0.2, dt=0.1, width=4),
    "stochastic_kernel.ito_term": dict(walkers=4, lrs=(0.5,), batch_sizes=(1, 4), time=0.2, dt=0.1, width=4),
    "stochastic.per_sample": dict(n=8, width=6, batch_size=4, compare_lr=0.1, compare_steps=4),
    "two_peaks.sizes": dict(width=8, multi_n=8, multi_k=3, train_sizes=(10, 20), seeds=2, max_steps=8),
    "two_peaks.two_peak": dict(n=8, n_train=12, width=8, steps=20, perplexity=5.0, k_max=3),
    "two_peaks.multi_peak": dict(width=8, multi_n=8, multi_k=3, multi_train=20, max_steps=8, checkpoints=3,
                                 decomposition_queries=4),
    "stochastic": dict(n=8, width=6, batch_size=4, time=0.2, base_lrs=(0.1, 0.05, 0.025), n_query=5, seeds=8,
                       expectation_lr=0.1, expectation_steps=3, compare_lr=0.1, compare_steps=4, fit_max_lr=0.1),
    "two_peaks": dict(n=8, n_train=12, width=8, steps=20, multi_n=8, multi_k=3, multi_train=20, max_steps=8,
                      checkpoints=3, decomposition_queries=4, perplexity=5.0, k_max=3),
    "vector_outputs": dict(n=15, width=8, time=1.0, lrs=(0.2, 0.1, 0.05), n_query=8, grid=12),
}


def experiment(name):
    return importlib.import_module(f"pathkernel.experiments.{name}")


def assert_bit_identical(a, b):
    """Every field of two Results equal bit for bit (arrays by dtype, shape and bytes, so NaN == NaN),
    the wall-clock fields marked volatile left out (as in the figure digest)."""
    for field in dataclasses.fields(a):
        if field.metadata.get("volatile"):
            continue
        x, y = getattr(a, field.name), getattr(b, field.name)
        assert type(x) is type(y), field.name
        if isinstance(x, np.ndarray):
            assert (x.dtype, x.shape) == (y.dtype, y.shape), field.name
            assert np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes(), field.name
        else:
            assert repr(x) == repr(y), field.name


def test_every_experiment_takes_a_device_keyword():
    assert set(STUDIES) == {spec.experiment for spec in figures.FIGURES.values()}
    for name in EXPERIMENTS:
        parameter = inspect.signature(experiment(name).run).parameters.get("device")
        assert parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY, name
        assert parameter.default == "cpu", name


@pytest.mark.parametrize("name", sorted(SHRUNK))
def test_explicit_cpu_device_is_the_default_bit_for_bit(name):
    module = experiment(name)
    config = dataclasses.replace(module.Config.quick(), **SHRUNK[name])
    default = module.run(config, seed=1)
    on_cpu = module.run(config, seed=1, device=torch.device("cpu"))
    assert_bit_identical(default, on_cpu)
    for field in dataclasses.fields(on_cpu):  # results are numpy and Python values, never tensors
        assert not isinstance(getattr(on_cpu, field.name), torch.Tensor), field.name


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_run_refuses_a_bad_device_before_any_work(name):
    run = experiment(name).run  # config=None: reading the config first would raise another error
    with pytest.raises(ValueError, match="device='gpu' is not a device"):
        run(None, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda': CUDA is not available"):
            run(None, device="cuda")


def test_check_device():
    assert check_device("cpu") == torch.device("cpu") and check_device(torch.device("cpu")) == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "", None, True, 3.5):
        with pytest.raises(ValueError, match="is not a device"):
            check_device(bad)
    with pytest.raises(ValueError, match="'meta' is not supported here; expected 'cpu' or 'cuda'"):
        check_device("meta", types=DEVICES)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda:0': CUDA is not available on this machine"):
            check_device("cuda:0")
    else:
        with pytest.raises(ValueError, match="CUDA device"):
            check_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.parametrize("device, message", [
    ("gpu", "--device 'gpu' is not a device; expected 'cpu' or 'cuda' (or 'cuda:N')"),
    ("meta", "--device 'meta' is not supported here; expected 'cpu' or 'cuda' (or 'cuda:N')"),
    ("cuda:x", "--device 'cuda:x' is not a device"),
])
def test_cli_refuses_an_unknown_device_before_running(device, message, tmp_path, capsys, no_experiment):
    out = tmp_path / "out"
    assert main(["figures", "build", "fig-discrete-residual-lr", "--device", device, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_refuses_cuda_without_cuda(tmp_path, capsys, no_experiment):
    out = tmp_path / "out"
    assert main(["figures", "build", "fig-discrete-residual-lr", "--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--device 'cuda': CUDA is not available on this machine" in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_cuda_refusal_is_one_line_exit_2_in_a_fresh_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PATHKERNEL_SCALE", None)
    done = subprocess.run([sys.executable, "-m", "pathkernel", "figures", "build", "fig-discrete-residual-lr",
                           "--device", "cuda", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "--device 'cuda': CUDA is not available on this machine" in done.stderr
    assert not (tmp_path / "out").exists()


def test_build_api_checks_the_device_first_and_records_it(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(figures, "experiment_module", lambda *a: pytest.fail("the experiment was loaded"))
        with pytest.raises(ValueError, match="device='tpu' is not a device"):
            figures.build("fig-discrete-residual-lr", out=tmp_path / "bad", config=tiny_config(), device="tpu")
        if not torch.cuda.is_available():
            with pytest.raises(ValueError, match="CUDA is not available"):
                figures.build("fig-discrete-residual-lr", out=tmp_path / "bad", config=tiny_config(), device="cuda")
    assert not (tmp_path / "bad").exists()
    config = tiny_config(n=12, width=8, time=1.0, lrs=(0.2, 0.1), n_query=10)
    record = figures.build("fig-discrete-residual-lr", out=tmp_path, config=config, device="cpu")
    assert record["device"] == "cpu" and "device_name" not in record
    assert json.loads((tmp_path / "fig-discrete-residual-lr.json").read_text())["device"] == "cpu"
    assert record["result_sha256"] == figures.result_digest(discrete_theorem.run(config, seed=0))
