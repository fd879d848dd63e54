"""The book's committed results store (pathkernel.runs.committed): every entry the book renders is
current or on the stale-list with a reason, every stored entry has its provenance and matches the
code that would compute it now; and the machinery that reads it (strict paper/large reads, the
stale-list, the CLI) on a store of our own."""

import dataclasses
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from pathkernel import book, figures, runs
from pathkernel.__main__ import main
from pathkernel.experiments import linear_regression
from pathkernel.runs import checkpoint, committed
from pathkernel.runs.store import Store

STORE = committed.default_store()
TINY = linear_regression.Config(scale="large", n=8, d=2, time=0.4, lrs=(0.2, 0.1), n_query=4, width=4,
                                fit_max_lr=0.2)


def test_the_committed_store_is_the_checkouts_results_folder():
    assert STORE is not None and STORE.name == "results" and (STORE.parent / "pyproject.toml").is_file()


def test_every_entry_the_book_renders_is_current_or_on_the_stale_list():
    listed = committed.stale_list()
    problems = [f"{entry.study} ({entry.scale}, seed {entry.seed}): {state}; refresh with "
                f"`{committed.refresh_command(entry.study, entry.scale, entry.seed)}`"
                for entry in committed.needed()
                if (state := committed.status(entry)) != "finished" and (entry.study, entry.scale, entry.seed) not in listed]
    assert not problems, "stored results out of date:\n" + "\n".join(problems)


def test_every_stored_entry_has_its_provenance_and_matches_the_current_code():
    """An entry run with another config (an orphan) or another source of its study is stale: it must
    be refreshed or listed; each record says what ran, where, on what and for how long."""
    listed = committed.stale_list()
    problems = []
    for folder, record in Store(STORE).records():
        missing = [field for field in committed.PROVENANCE_FIELDS if record.get(field) is None]
        assert not missing, f"{folder}: provenance lacks {missing} or leaves them empty"
        assert isinstance(record["git_dirty"], bool) and re.fullmatch(r"[0-9a-f]{64}", record["package_sha256"])
        assert record["run"]["wall_s"] > 0 and record["run"]["peak_rss_mb"] > 0 and record["machine"]["cpus"] >= 1
        assert re.fullmatch(r"[0-9a-f]{40}", record["git_commit"] or ""), f"{folder}: no git commit"
        try:
            module = runs.study_module(record["experiment"])
        except ValueError:
            problems.append(f"{folder}: {record['experiment']} is no longer a study; delete the entry")
            continue
        current = module.Config.from_scale(record["scale"])
        key = (record["experiment"], record["scale"], record["seed"])
        if record["config_sha256"] != runs.config_digest(current):
            problems.append(f"{folder}: run with another config than the current {record['scale']} preset; delete it")
        elif record["source_sha256"] != runs.source_digest(module) and key not in listed:
            problems.append(f"{folder}: the study's source changed since; refresh with "
                            f"`{committed.refresh_command(*key)}`")
    assert not problems, "\n".join(problems)


def test_the_store_holds_only_complete_entries():
    """Every folder of an entry has its arrays, the rest of its result and its provenance record. A
    partial folder is never committed (.gitignore keeps it and checkpoints out); an interrupted run's
    checkpoints are committed (forced) only for an entry on the stale-list, named by the study's
    current source digest, so that a clean clone resumes the run instead of starting it again."""
    tracked = subprocess.run(["git", "ls-files", "results"], capture_output=True, text=True, cwd=STORE.parent)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    assert not committed.tracked_problems(tracked.stdout.splitlines()), committed.tracked_problems(
        tracked.stdout.splitlines())
    leftovers = ["results/a/paper/seed0-0123456789abcdef.checkpoints-x/i.npz",
                 "results/a/paper/seed0-0123456789abcdef.partial-x/result.npz"]
    ignored = subprocess.run(["git", "check-ignore", *leftovers], capture_output=True, text=True, cwd=STORE.parent)
    assert ignored.stdout.split() == leftovers


def test_committed_checkpoints_are_allowed_only_for_a_listed_unfinished_entry_of_the_current_code(own_store):
    entry = committed.Entry("linear_regression", TINY, 0)
    store = Store(own_store)
    kept = store.checkpoints(entry.study, TINY, 0).relative_to(own_store.parent).as_posix()
    item, root = "0123456789abcdef01234567.npz", own_store.name
    folder = store.entry(entry.study, TINY, 0).relative_to(own_store.parent).as_posix()
    complete = [f"{folder}/{name}" for name in ("result.npz", "result.json", "provenance.json")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linear_regression.Config, "large", classmethod(lambda cls: TINY))
        assert committed.tracked_problems([f"{root}/README.md", f"{root}/stale.txt", *complete], own_store) == []
        assert "not on the stale-list" in committed.tracked_problems([f"{kept}/{item}"], own_store)[0]
        (own_store / "stale.txt").write_text("linear_regression large 0 | interrupted, resumes\n")
        assert committed.tracked_problems([f"{kept}/{item}"], own_store) == []
        older = kept[:-16] + "0" * 16
        assert "another version" in committed.tracked_problems([f"{older}/{item}"], own_store)[0]
        assert "not all checkpoint items" in committed.tracked_problems([f"{kept}/.partial-x.npz"], own_store)[0]
        assert "holds" in committed.tracked_problems(complete[:2], own_store)[0]
        assert "not in an entry" in committed.tracked_problems([f"{root}/a/b.npz"], own_store)[0]
        result = linear_regression.run(TINY, seed=0)
        store.save(linear_regression, TINY, 0, result,
                   {**runs.provenance(linear_regression, TINY, 0, "cpu", result), "run": {"wall_s": 1.0}})
        assert "finished" in committed.tracked_problems([f"{kept}/{item}"], own_store)[0]


def test_stored_arrays_match_their_recorded_digests():
    for entry in committed.needed():
        if committed.status(entry) == "finished":
            result = Store(STORE).load(entry.study, entry.config, entry.seed)  # raises on a damaged entry
            assert result.config == entry.config


def test_the_stale_list_names_only_entries_that_are_not_current():
    for (study, scale, seed), reason in committed.stale_list().items():
        entry = committed.Entry(study, runs.study_module(study).Config.from_scale(scale), seed)
        assert committed.status(entry) != "finished", f"{study} {scale} {seed} is current: drop it from the stale-list"
        assert len(reason) > 10


def test_committed_store_is_small():
    size = sum(path.stat().st_size for path in STORE.rglob("*") if path.is_file())
    assert size < 60 * 2**20, f"the committed store holds {size / 2**20:.0f} MiB"


@pytest.fixture
def own_store(tmp_path, monkeypatch):
    monkeypatch.setenv("PATHKERNEL_STORE", str(tmp_path))
    runs.clear()
    yield tmp_path
    runs.clear()


def test_a_paper_or_large_config_is_read_never_computed_unless_asked(own_store, monkeypatch):
    calls = []
    real_run = linear_regression.run
    monkeypatch.setattr(linear_regression, "run", lambda config, seed=0, *, device="cpu": calls.append(seed)
                        or real_run(config, seed=seed, device=device))
    with pytest.raises(committed.StoredResultError,
                       match=r"python -m pathkernel run linear_regression --scale large --seeds 0 --store"):
        runs.result(linear_regression, config=TINY)
    assert calls == []
    computed = runs.result(linear_regression, config=TINY, recompute=True)
    assert calls == [0]
    Store(own_store).save(linear_regression, TINY, 0, computed,
                          {**runs.provenance(linear_regression, TINY, 0, "cpu", computed), "run": {"wall_s": 1.0}})
    runs.clear()
    read = runs.result(linear_regression, config=TINY)
    assert calls == [0] and runs.result_digest(read) == runs.result_digest(computed)


def test_stale_entries_are_read_only_when_listed(own_store, monkeypatch):
    result = linear_regression.run(TINY, seed=0)
    Store(own_store).save(linear_regression, TINY, 0, result,
                          {**runs.provenance(linear_regression, TINY, 0, "cpu", result), "run": {"wall_s": 1.0}})
    entry = committed.Entry("linear_regression", TINY, 0)
    assert committed.status(entry) == "finished" and committed.load(entry).status == "finished"
    monkeypatch.setattr("pathkernel.runs.store.source_digest", lambda study: "0" * 64)
    assert committed.status(entry) == "stale" and committed.load(entry) is None
    (own_store / "stale.txt").write_text("# reason for each\nlinear_regression large 0 | needs a GPU we did not have\n")
    assert committed.stale_list() == {("linear_regression", "large", 0): "needs a GPU we did not have"}
    stored = committed.load(entry)
    assert stored.status == "stale" and runs.result_digest(stored.result) == runs.result_digest(result)
    runs.clear()  # a strict read takes a listed stale entry too, as the Stored run tab does
    assert runs.result_digest(runs.result(linear_regression, config=TINY)) == runs.result_digest(result)
    note = book.stored_note(entry, {**stored.record, "run": {"wall_s": 1.0}}, stored.status)
    assert "**Stale**" in note and "needs a GPU we did not have" in note and "provenance record" in note
    # the caption says when the commit is not the whole story, and counts a resumed run's earlier time
    for dirty, said in ((False, "1 s at commit"), (True, "(from a modified tree)"), (None, "(tree state not recorded)")):
        note = book.stored_note(entry, {**stored.record, "git_dirty": dirty, "run": {"wall_s": 1.0}}, "finished")
        assert said in note and ("modified" in note) == (dirty is True) and ("not recorded" in note) == (dirty is None)
    resumed = {**stored.record, "git_dirty": False, "run": {"wall_s": 1.0, "resumed_items": 2, "resumed_s": 40.0}}
    assert "in 41 s at commit" in book.stored_note(entry, resumed, "finished")
    # prose numbers read from it say so too
    monkeypatch.setattr(linear_regression.Config, "large", classmethod(lambda cls: TINY))
    runs.clear()
    glued = book.numbers(linear_regression, scale="large")
    assert glued == {name: f"{value} (stale)" for name, value in linear_regression.numbers(result).items()}


@pytest.mark.parametrize("line", ["linear_regression large 0", "linear_regression large x | why", "a b | why",
                                  "linear_regression large 0 |   "])
def test_a_malformed_stale_list_line_is_named(own_store, line):
    (own_store / "stale.txt").write_text(line + "\n")
    with pytest.raises(ValueError, match="expected '<study> <scale> <seed> | <reason>'"):
        committed.stale_list()


def test_a_missing_entry_is_drawn_as_a_placeholder_naming_the_command(own_store):
    fig, note = book.stored_figure("fig-linear-residual")
    assert "python -m pathkernel run linear_regression --scale paper --seeds 0 --store results" in note
    assert any("python -m pathkernel run linear_regression" in text.get_text() for text in fig.axes[0].texts)
    assert "Not run" not in note and "Stale" not in note
    (own_store / "stale.txt").write_text("linear_regression paper 0 | needs a GPU we did not have\n")
    _, note = book.stored_figure("fig-linear-residual")
    assert "**Not run** (listed in results/stale.txt): needs a GPU we did not have" in note and "Stale" not in note


def test_cli_build_at_paper_reads_the_store_or_names_the_command(own_store, tmp_path, capsys):
    out = tmp_path / "figures"
    assert main(["figures", "build", "fig-linear-residual", "--scale", "paper", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "python -m pathkernel run linear_regression --scale paper --seeds 0 --store results" in err
    assert err.count("\n") == 1 and not (out / "fig-linear-residual.png").exists()


def test_cli_build_of_several_figures_names_every_missing_one_and_a_stored_large_preset(own_store, tmp_path, capsys,
                                                                                       monkeypatch):
    """Every figure is checked before anything is drawn: the one-line error names the first missing
    entry's command, the other figures without a stored run, and the large preset stored instead."""
    monkeypatch.setattr(linear_regression.Config, "large", classmethod(lambda cls: TINY))
    result = linear_regression.run(TINY, seed=0)
    Store(own_store).save(linear_regression, TINY, 0, result,
                          {**runs.provenance(linear_regression, TINY, 0, "cpu", result), "run": {"wall_s": 1.0}})
    out = tmp_path / "figures"
    assert main(["figures", "build", "fig-linear-residual", "fig-linear-kernels", "--scale", "paper",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 more without a stored run: fig-linear-kernels" in err
    assert "--scale large reads the stored large preset of linear_regression" in err and not list(out.glob("*.png"))
    assert main(["figures", "build", "fig-linear-residual", "--scale", "large", "--out", str(out)]) == 0
    assert (out / "fig-linear-residual.png").exists()


def test_cli_build_from_the_committed_store_carries_the_runs_provenance(tmp_path):
    entry = committed.Entry("linear_regression", linear_regression.Config.paper(), 0)
    if committed.status(entry) != "finished":
        pytest.skip("linear_regression's paper entry is listed as stale")
    record = figures.build("fig-linear-residual", scale="paper", out=tmp_path)
    stored = Store(STORE).record("linear_regression", entry.config, 0)
    assert record["git_commit"] == stored["git_commit"] and record["run"] == stored["run"]
    assert record["stored_entry"].endswith(Store("results").entry("linear_regression", entry.config, 0).as_posix())
    assert json.loads((tmp_path / "fig-linear-residual.json").read_text()) == record
    assert record["stored_status"] == "finished"


def test_a_figure_built_from_a_stale_listed_entry_says_so(own_store, tmp_path, monkeypatch, capsys):
    paper = dataclasses.replace(TINY, scale="paper")
    monkeypatch.setattr(linear_regression.Config, "paper", classmethod(lambda cls: paper))
    result = linear_regression.run(paper, seed=0)
    Store(own_store).save(linear_regression, paper, 0, result,
                          {**runs.provenance(linear_regression, paper, 0, "cpu", result), "run": {"wall_s": 1.0}})
    monkeypatch.setattr("pathkernel.runs.store.source_digest", lambda study: "0" * 64)
    (own_store / "stale.txt").write_text("linear_regression paper 0 | changed on purpose\n")
    runs.clear()
    assert main(["figures", "build", "fig-linear-residual", "--scale", "paper", "--out", str(tmp_path)]) == 0
    assert "stored run STALE" in capsys.readouterr().out
    assert json.loads((tmp_path / "fig-linear-residual.json").read_text())["stored_status"] == "stale"
    runs.clear()


def test_store_status_lists_every_needed_entry():
    done = subprocess.run([sys.executable, "-m", "pathkernel", "store", "status"], capture_output=True, text=True,
                          timeout=120)
    lines = done.stdout.splitlines()
    assert len(lines) == len(committed.needed()), done.stderr
    for line in lines:
        assert line.split()[4] in ("finished", "stale", "missing")
    assert done.returncode == (1 if any("refresh:" in line for line in lines) else 0)


def test_store_status_says_when_an_unfinished_entry_resumes_from_kept_items(tmp_path, capsys):
    """An entry with finished checkpoint items for the current code says how many a rerun reads back."""
    entry = next(entry for entry in committed.needed() if entry.study == "linear_regression")
    folder = Store(tmp_path).checkpoints(entry.study, entry.config, entry.seed)
    with checkpoint.checkpointing(folder):
        for i in range(3):
            checkpoint.item(f"part {i}", lambda i=i: np.full(2, float(i)))
    (folder / ".partial-cut.npz").write_bytes(b"")  # an item being written when the run stopped is not counted
    assert main(["store", "status", "--store", str(tmp_path)]) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("linear_regression "))
    assert f"(resumes from 3 finished items in {folder.name})" in line and "refresh:" in line


def test_large_is_paper_unless_a_study_says_why_not():
    for entry in committed.needed():
        config_class = type(entry.config)
        if config_class.has_large():
            assert config_class.large_reason, f"{entry.study} has a large preset without large_reason"
            assert config_class.large() != config_class.paper()
        else:
            assert entry.config == config_class.paper() and not config_class.large_reason
        assert dataclasses.is_dataclass(entry.config)


def test_an_explicit_store_is_read_too_never_computed_for_a_paper_or_large_config(own_store, tmp_path, monkeypatch):
    monkeypatch.setattr(linear_regression, "run", lambda *a, **k: pytest.fail("a large config ran"))
    with pytest.raises(committed.StoredResultError, match="python -m pathkernel run linear_regression"):
        runs.result(linear_regression, config=TINY, store=tmp_path / "other")


def test_a_quick_figure_read_from_a_store_carries_the_stored_provenance(tmp_path):
    quick = dataclasses.replace(TINY, scale="quick")
    result = linear_regression.run(quick, seed=0)
    record = {**runs.provenance(linear_regression, quick, 0, "cpu", result), "run": {"wall_s": 7.0}}
    Store(tmp_path / "store").save(linear_regression, quick, 0, result, record)
    runs.clear()
    built = figures.build("fig-linear-residual", config=quick, out=tmp_path / "out", store=tmp_path / "store")
    assert built["run"] == {"wall_s": 7.0} and built["stored_entry"].endswith(
        Store("x").entry(linear_regression, quick, 0).relative_to("x").as_posix())
    runs.clear()
    computed = figures.build("fig-linear-residual", config=quick, out=tmp_path / "out2")
    assert "run" not in computed and "stored_entry" not in computed
    runs.clear()


def test_every_paper_value_names_a_number_of_its_study():
    """The results rows of the preset tables (pathkernel.paper_values): each names a study the book shows
    and a number its numbers() gives for the stored run (checked where the store has one; the chapters,
    executed in CI, check the quick runs)."""
    from pathkernel.paper_values import PAPER_VALUES

    shown = {entry.study: entry for entry in committed.needed()}
    for study, values in PAPER_VALUES.items():
        assert study in shown, f"{study} is not shown by any figure"
        assert values and len({value.number for value in values}) == len(values)
        stored = committed.load(shown[study])
        if stored is not None:
            numbers = runs.study_module(study).numbers(stored.result)
            assert {value.number for value in values} <= numbers.keys(), study


def test_provenance_links_point_at_the_books_repository():
    """The provenance links of stored captions use the repository the book's configuration names."""
    import yaml

    config = yaml.safe_load((committed.checkout_root() / "_config.yml").read_text())
    assert committed.REPOSITORY == config["repository"]["url"]
    entry = committed.needed()[0]
    assert committed.provenance_url(entry).startswith(config["repository"]["url"] + "/blob/main/results/")


def test_numbers_a_note_names_are_numbers_of_its_study_and_are_shown_with_our_values():
    """A results row's note names numbers of its study in parentheses; the table shows our values
    there (book.with_values), never the glue name, and a name the study lacks is an error."""
    from pathkernel.paper_values import PAPER_VALUES

    shown = {entry.study: entry for entry in committed.needed()}
    for study, values in PAPER_VALUES.items():
        stored = committed.load(shown[study])
        if stored is None:
            continue
        numbers = runs.study_module(study).numbers(stored.result)
        for value in values:
            named = re.findall(r"\(([a-z0-9]+(?:-[a-z0-9]+)+)\)", value.note)
            text = book.with_values(value.note, numbers, {}, "paper")
            assert all(f"(ours: {numbers[name]} at quick)" in text and name not in text for name in named), text
    assert book.with_values("compare (a-b) with (c-d).", {"a-b": "1", "c-d": "2"}, {"a-b": "3"}, "large") \
        == "compare (ours: 1 at quick, 3 at large) with (ours: 2 at quick)."
    with pytest.raises(KeyError, match="a-c"):
        book.with_values("see (a-c)", {"a-b": "1"}, {}, "paper")
