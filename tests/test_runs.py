import json

import numpy as np
import pytest

from pathkernel import runs
from pathkernel.experiments import linear_regression

TINY = linear_regression.Config(scale="quick", n=8, d=2, time=0.4, lrs=(0.2, 0.1), n_query=4, width=4, fit_max_lr=0.2)


def test_result_runs_once_per_study_config_seed_and_device(monkeypatch):
    runs.clear()
    calls = []
    original = linear_regression.run

    def counted(config, seed=0, *, device="cpu"):
        calls.append((config, seed, str(device)))
        return original(config, seed, device=device)

    monkeypatch.setattr(linear_regression, "run", counted)
    first = runs.result(linear_regression, config=TINY, seed=0)
    assert runs.result("linear_regression", config=TINY, seed=0) is first
    other = runs.result(linear_regression, config=TINY, seed=1)
    assert other is not first and not np.array_equal(other.residual_mlp, first.residual_mlp)
    assert [c[1] for c in calls] == [0, 1]
    runs.clear()
    assert runs.result(linear_regression, config=TINY, seed=0) is not first
    assert len(calls) == 3


def test_result_reads_the_scale(monkeypatch):
    seen = []
    monkeypatch.setattr(linear_regression, "run", lambda config, seed=0, *, device="cpu": seen.append(config) or config)
    runs.clear()
    monkeypatch.setenv("PATHKERNEL_SCALE", "paper")
    assert runs.result(linear_regression, recompute=True) == linear_regression.Config.paper()
    monkeypatch.setenv("PATHKERNEL_SCALE", "large")
    assert runs.result(linear_regression, recompute=True) == linear_regression.Config.paper()  # large is paper here
    assert runs.result(linear_regression, scale="quick") == linear_regression.Config.quick()
    runs.clear()


@pytest.mark.parametrize("study", ["nope", "validation", 3, "runs"])
def test_study_module_names_the_bad_value(study):
    with pytest.raises(ValueError, match=f"study={study!r} is not an experiment study"):
        runs.study_module(study)


def test_bad_seed_and_device_fail_before_running(monkeypatch):
    monkeypatch.setattr(linear_regression, "run", lambda *a, **k: pytest.fail("the study ran"))
    with pytest.raises(ValueError, match="seed=-2"):
        runs.result(linear_regression, config=TINY, seed=-2)
    with pytest.raises(ValueError, match="device='tpu'"):
        runs.result(linear_regression, config=TINY, device="tpu")


def test_provenance_records_what_ran_and_digests_the_arrays():
    result = linear_regression.run(TINY, seed=0)
    record = runs.provenance(linear_regression, TINY, 0, "cpu", result)
    assert json.loads(json.dumps(record)) == record
    assert record["experiment"] == "linear_regression" and record["scale"] == "quick" and record["seed"] == 0
    assert record["config"] == repr(TINY) and record["device"] == "cpu"
    assert record["result_sha256"] == runs.result_digest(result) and len(record["source_sha256"]) == 64
    result.residual_mlp[0] += 1e-12
    assert runs.result_digest(result) != record["result_sha256"]
