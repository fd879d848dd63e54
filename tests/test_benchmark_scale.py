"""The scale-out benchmark's smoke mode (``python -m benchmarks.scale --quick``): its JSON's structure,
the exactness of every distributed decomposition and sweep, the projection's labels and cost model
(recomputed here from its stated formula and constants), and the Performance page's tables of it.
Timings are not checked."""

import json
import math
from pathlib import Path

import pytest

from benchmarks import scale
from pathkernel.plots import performance

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale") / "scale.json"
    assert scale.main(["--quick", "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_the_record_says_when_where_and_what(bench):
    assert bench["quick"] is True and bench["date"] and "commit" in bench
    assert {"processor", "cores", "torch", "distributed", "pathkernel", "worker_environment"} <= bench["machine"].keys()


def test_every_distributed_decomposition_equals_the_in_process_one(bench):
    attribution = bench["attribution"]
    assert attribution["tolerance"] == 1e-12 and attribution["workload"]["dtype"] == "float64"
    assert {(r["workers"], r["split"]) for r in attribution["runs"]} == {(w, s) for w in (1, 2) for s in ("queries", "steps")}
    for run in attribution["runs"]:
        assert set(run["fields"]) == {"prediction", "initial", "rhs", "per_sample", "path_kernel", "residual",
                                      "weights x path_kernel"}
        assert run["max_rel_diff"] == max(run["fields"].values()) <= 1e-12 and run["equal"] is True
        assert run["seconds"] > 0


def test_the_sweep_gives_the_same_numbers_on_every_client(bench):
    sweep = bench["sweep"]
    assert [r["workers"] for r in sweep["runs"]] == [0, 1, 2] and sweep["seeds"] == [0, 1, 2, 3]
    assert all(r["same_numbers_as_in_process"] for r in sweep["runs"][1:])


def test_measured_costs_are_positive_and_the_result_size_matches_its_shapes(bench):
    costs, work = bench["attribution"]["costs"], bench["attribution"]["workload"]
    c = work["outputs"]  # per_sample (n, c), path_kernel and weights (n, c, c) in float64 per query
    assert costs["result_bytes_formula_per_query"] == 8 * work["n"] * (c + 2 * c * c)
    assert 1 <= costs["result_bytes_per_query"] / costs["result_bytes_formula_per_query"] < 1.2
    assert costs["rows_read_per_step"] >= 1
    for value in (costs["compute_seconds_per_step_per_query"], costs["disk"]["bandwidth_bytes_per_s"],
                  costs["network"]["bandwidth_bytes_per_s"], costs["network"]["task_round_trip_seconds"]):
        assert value > 0


def test_the_projection_is_labelled_and_follows_its_stated_formula(bench):
    projection = bench["projection"]
    assert projection["projected"] is True and set(projection["formula"]) == {"queries", "steps"}
    assert all("T(W) =" in formula for formula in projection["formula"].values())
    source = json.loads((ROOT / projection["source"]["file"]).read_text())["scale"]["float64"]["measured"][-1]
    k = projection["constants"]
    assert k["c"] == source["exact_seconds_per_step"] / source["queries"] and source["parameters"] > 10**6
    assert k["b"] == source["disk_bytes"] / source["steps"]
    rows = projection["rows"]
    assert {(r["queries"], r["split"], r["workers"]) for r in rows} == \
        {(m, s, w) for m in (1, 1000) for s in ("queries", "steps") for w in (8, 64, 512)}
    T = projection["steps"]
    for r in rows:
        assert r["projected"] is True
        m, W = r["queries"], r["workers"]
        if r["split"] == "queries":  # every worker reads the whole path; at most m blocks
            compute, reading = T * k["c"] * math.ceil(m / W), k["R"] * T * k["b"] / k["beta_disk"]
            communication = m * k["B"] / k["beta_net"] + min(W, m) * k["o"]
        else:  # a worker reads its ceil(T / W) steps; the client receives W whole results
            compute, reading = math.ceil(T / W) * k["c"] * m, k["R"] * math.ceil(T / W) * k["b"] / k["beta_disk"]
            communication = W * (m * k["B"] / k["beta_net"] + k["o"])
        assert r["compute_seconds"] == pytest.approx(compute) and r["reading_seconds"] == pytest.approx(reading)
        assert r["communication_seconds"] == pytest.approx(communication)
        assert r["total_seconds"] == pytest.approx(compute + reading + communication)


def test_the_performance_page_tables(bench):
    measured = performance.scale_table(bench)
    assert len(measured) == 5 and measured.loc[("-", "in this process"), "seconds"] > 0
    assert measured["within 1e-12"].iloc[1:].all()
    assert list(performance.sweep_table(bench).index) == ["in this process", "1", "2"]
    constants = performance.constants_table(bench)
    assert set(constants.index) == set(bench["projection"]["constants"])
    projected = performance.projection_table(bench)
    assert len(projected) == 12 and all("projected" in column for column in projected.columns)
    assert performance.run_line(bench).startswith(f"run of {bench['date']}")


def test_the_page_finds_the_committed_results_and_refuses_an_installed_copy(tmp_path):
    assert performance.results_file("scale") == ROOT / "benchmarks" / "results" / "scale.json"
    with pytest.raises(FileNotFoundError, match="not installed with the package"):
        performance.results_file("scale", tmp_path / "site-packages" / "pathkernel")
    with pytest.raises(FileNotFoundError, match="python -m benchmarks.nope"):
        performance.results_file("nope")
