"""Seed sweeps into a store (pathkernel.runs.sweep), the Dask client (runs.cluster) and ``python -m pathkernel run``."""

import dataclasses
import os
import signal
import threading
import time

import pytest

from pathkernel import runs
from pathkernel.__main__ import main
from pathkernel.experiments import linear_regression
from pathkernel.runs import sweep
from pathkernel.runs.store import Store

TINY = linear_regression.Config(scale="quick", n=8, d=2, time=0.4, lrs=(0.2, 0.1), n_query=4, width=4, fit_max_lr=0.2)


@pytest.mark.parametrize("text, seeds", [("3", [3]), ("0-3", [0, 1, 2, 3]), ("5,0-1,1", [0, 1, 5]), (" 2 - 4 ", [2, 3, 4])])
def test_parse_seeds(text, seeds):
    assert sweep.parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "-1", "3-1", "a", "1.5", "0-"])
def test_parse_seeds_names_the_bad_text(text):
    with pytest.raises(ValueError, match=f"seeds={text!r}"):
        sweep.parse_seeds(text)


def test_a_sweep_lands_entries_a_rerun_skips_them_and_a_new_config_reruns(tmp_path, monkeypatch):
    ran = []
    original = linear_regression.run
    monkeypatch.setattr(linear_regression, "run", lambda c, seed=0, *, device="cpu": ran.append(seed) or original(c, seed, device=device))
    first = sweep.sweep(linear_regression, seeds=[0, 1], store=tmp_path, config=TINY, progress=False)
    assert [(o.seed, o.status) for o in first] == [(0, "ran"), (1, "ran")] and ran == [0, 1]
    for outcome in first:
        assert outcome.record["run"]["wall_s"] >= 0 and outcome.record["run"]["peak_rss_mb"] > 0
        assert outcome.numbers == linear_regression.numbers(Store(tmp_path).load(linear_regression, TINY, outcome.seed))
    again = sweep.sweep(linear_regression, seeds=[0, 1, 2], store=tmp_path, config=TINY, progress=False)
    assert [o.status for o in again] == ["skipped", "skipped", "ran"] and ran == [0, 1, 2]
    changed = dataclasses.replace(TINY, width=5)
    assert [o.status for o in sweep.sweep(linear_regression, seeds=[0], store=tmp_path, config=changed, progress=False)] == ["ran"]
    table = sweep.summary(again)
    assert table.splitlines()[0].split()[:4] == ["seed", "status", "wall", "s"] and "skipped" in table


def test_sweep_checks_everything_before_running(tmp_path, monkeypatch):
    monkeypatch.setattr(linear_regression, "run", lambda *a, **k: pytest.fail("ran"))
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(NotADirectoryError):
        sweep.sweep(linear_regression, seeds=[0], store=afile, config=TINY)
    with pytest.raises(ValueError, match="device='tpu'"):
        sweep.sweep(linear_regression, seeds=[0], store=tmp_path, config=TINY, device="tpu")
    with pytest.raises(ValueError, match="expected at least one seed"):
        sweep.sweep(linear_regression, seeds=[], store=tmp_path, config=TINY)
    with pytest.raises(ValueError, match="study='nope'"):
        sweep.sweep("nope", seeds=[0], store=tmp_path)


@pytest.mark.parametrize("argv, message", [
    (["run", "nope"], "experiment 'nope' is not an experiment study"),
    (["run", "linear_regression", "--seeds", "2-1"], "--seeds '2-1': expected seeds >= 0"),
    (["run", "linear_regression", "--device", "tpu"], "--device 'tpu' is not a device; expected 'cpu' or 'cuda'"),
    (["run", "linear_regression", "--scheduler", "tcp://127.0.0.1:9"], "--scheduler 'tcp://127.0.0.1:9': no Dask scheduler answered"),
])
def test_cli_run_refuses_bad_input_in_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(linear_regression, "run", lambda *a, **k: pytest.fail("ran"))
    from pathkernel.runs import cluster

    monkeypatch.setitem(cluster.connect.__kwdefaults__, "timeout", 2.0)
    assert main([*argv, "--store", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_cli_run_refuses_an_unwritable_store(tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("")
    assert main(["run", "linear_regression", "--store", str(afile / "below")]) == 2
    assert "--store" in capsys.readouterr().err


def test_cli_run_in_process(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(linear_regression.Config, "quick", classmethod(lambda cls: TINY))
    assert main(["run", "linear_regression", "--seeds", "0-1", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("seed  status") and out.count(" ran ") == 2
    assert Store(tmp_path).status(linear_regression, TINY, 1) == "finished"


@pytest.fixture(scope="module")
def client():
    from pathkernel.runs import cluster

    client = cluster.connect("local", workers=2)
    yield client
    client.close()
    client.cluster.close()


def test_a_local_cluster_sweep_equals_the_in_process_one(client, tmp_path):
    threads = client.run(lambda: __import__("torch").get_num_threads())
    assert len(threads) == 2 and set(threads.values()) == {1}, "torch threads follow the workers' threads"
    remote = sweep.sweep(linear_regression, seeds=[0, 1, 2], store=tmp_path / "remote", config=TINY, client=client,
                         progress=False)
    local = sweep.sweep(linear_regression, seeds=[0, 1, 2], store=tmp_path / "local", config=TINY, progress=False)
    assert [o.record["result_sha256"] for o in remote] == [o.record["result_sha256"] for o in local]
    assert [o.status for o in sweep.sweep(linear_regression, seeds=[0, 1, 2], store=tmp_path / "remote", config=TINY,
                                          client=client, progress=False)] == ["skipped"] * 3


def test_a_killed_worker_loses_no_seed(client, tmp_path):
    slow = dataclasses.replace(TINY, time=4.0, n=32, width=16)
    expected = sweep.sweep(linear_regression, seeds=[0, 1, 2, 3], store=tmp_path / "local", config=slow, progress=False)
    pids = client.run(os.getpid)

    def kill_one():
        time.sleep(1.0)
        os.kill(next(iter(pids.values())), signal.SIGKILL)

    killer = threading.Thread(target=kill_one)
    killer.start()
    outcomes = sweep.sweep(linear_regression, seeds=[0, 1, 2, 3], store=tmp_path / "remote", config=slow, client=client,
                           progress=False)
    killer.join()
    assert [o.record["result_sha256"] for o in outcomes] == [o.record["result_sha256"] for o in expected]
    assert all(Store(tmp_path / "remote").status(linear_regression, slow, s) == "finished" for s in range(4))
    runs.clear()


def test_a_study_edited_while_it_runs_is_not_saved(tmp_path, monkeypatch):
    """The record names the code a run started with; a study whose source changed meanwhile is refused."""
    from pathkernel.runs import sweep as sweep_module

    digests = iter(["a" * 64, "b" * 64])
    monkeypatch.setattr(sweep_module, "code_state", lambda module: {"source_sha256": next(digests)})
    monkeypatch.setattr(sweep_module, "source_digest", lambda module: next(digests))
    with pytest.raises(RuntimeError, match="changed while it ran"):
        sweep_module.run_one("linear_regression", TINY, 0, "cpu")
