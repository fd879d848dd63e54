import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pathkernel import figures
from pathkernel.__main__ import main
from pathkernel.experiments import discrete_theorem

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
TINY = discrete_theorem.Config(scale="quick", n=12, width=8, time=1.0, lrs=(0.2, 0.1), n_query=10, fit_max_lr=0.2)


def test_registry_and_chapters_agree():
    """Every declared figure is shown by its chapter through book.show and labelled there; a chapter
    shows and labels only declared figures of its own: the chapter and the CLI draw with one call."""
    labelled, shown = {}, {}
    for notebook in NOTEBOOKS.glob("*.md"):
        text = notebook.read_text()
        for name in re.findall(r"^:name: (fig-[\w-]+)$", text, flags=re.M):
            labelled[name] = notebook.stem
        for name in re.findall(r"^book\.show\(\"(fig-[\w-]+)\"\)$", text, flags=re.M):
            shown[name] = notebook.stem
    declared = {spec.id: spec.chapter for spec in figures.FIGURES.values()}
    assert labelled == declared
    assert shown == declared
    for spec in figures.FIGURES.values():
        assert spec.draw.__module__ == f"pathkernel.plots.{spec.chapter}"
        assert spec.plot == f"{spec.chapter}.{spec.draw.__name__}"
        assert re.fullmatch(r"fig-[a-z0-9]+(-[a-z0-9]+)+", spec.id)
        module = figures.experiment_module(spec)
        assert hasattr(module.Config, "quick") and hasattr(module.Config, "paper")
        chapter = (NOTEBOOKS / f"{spec.chapter}.md").read_text()
        assert f"**{spec.id}**" in chapter, "the caption shows the ID"


def test_build_is_byte_identical_and_records_provenance(tmp_path):
    first = figures.build("fig-discrete-residual-lr", out=tmp_path / "a", config=TINY)
    second = figures.build("fig-discrete-residual-lr", out=tmp_path / "b", config=TINY)
    for suffix in ("png", "pdf", "json"):
        a = (tmp_path / "a" / f"fig-discrete-residual-lr.{suffix}").read_bytes()
        assert a == (tmp_path / "b" / f"fig-discrete-residual-lr.{suffix}").read_bytes(), suffix
    assert first == second == json.loads((tmp_path / "a" / "fig-discrete-residual-lr.json").read_text())
    assert first["scale"] == "quick" and first["seed"] == 0 and len(first["result_sha256"]) == 64
    other = figures.build("fig-discrete-residual-lr", out=tmp_path / "c", config=TINY, seed=1)
    assert other["result_sha256"] != first["result_sha256"]


def test_digest_sees_every_array_value():
    result = discrete_theorem.run(TINY, seed=0)
    before = figures.result_digest(result)
    result.residual[0] = 0.0
    assert figures.result_digest(result) != before


def test_cli_lists_and_rejects_unknown_ids(capsys):
    assert main(["figures", "list"]) == 0
    assert "fig-discrete-residual-lr" in capsys.readouterr().out
    assert main(["figures", "build", "fig-nope"]) == 2
    assert "unknown figure 'fig-nope'" in capsys.readouterr().err
    with pytest.raises(KeyError, match="known:"):
        figures.spec("fig-nope")


@pytest.mark.parametrize("case", ["file", "under-file", "scale-env", "second-id"])
def test_cli_rejects_bad_arguments_before_running(case, tmp_path, monkeypatch, capsys, no_experiment):
    afile = tmp_path / "taken"
    afile.write_text("not a folder")
    argv = ["figures", "build", "fig-discrete-residual-lr", "--out", str(tmp_path / "out")]
    expected = {
        "file": f"--out '{afile}' is an existing file, not a folder",
        "under-file": f"--out '{afile / 'sub'}' cannot be used as the output folder: Not a directory",
        "scale-env": "PATHKERNEL_SCALE='huge'; expected one of ('quick', 'paper', 'large')",
        "second-id": "unknown figure 'fig-nope'",
    }[case]
    if case == "file":
        argv[-1] = str(afile)
    elif case == "under-file":
        argv[-1] = str(afile / "sub")
    elif case == "scale-env":
        monkeypatch.setenv("PATHKERNEL_SCALE", "huge")
    else:
        argv.insert(3, "fig-nope")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err
    assert afile.read_text() == "not a folder"


@pytest.mark.parametrize("seed", ["-1", "1.5", "x"])
def test_cli_rejects_a_negative_seed(seed, capsys, no_experiment):
    with pytest.raises(SystemExit) as exit_info:
        main(["figures", "build", "fig-discrete-residual-lr", "--seed", seed])
    assert exit_info.value.code == 2
    assert f"invalid seed '{seed}': expected an integer >= 0" in capsys.readouterr().err


def test_cli_rejects_an_unwritable_folder(tmp_path, monkeypatch, capsys, no_experiment):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() != 0:                      # root writes through chmod: simulate the refusal instead
        locked.chmod(0o500)
    else:
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(figures.tempfile, "NamedTemporaryFile", refuse)
    try:
        assert main(["figures", "build", "fig-discrete-residual-lr", "--out", str(locked)]) == 2
    finally:
        locked.chmod(0o700)
    assert f"--out '{locked}' cannot be used as the output folder: Permission denied" in capsys.readouterr().err
    assert list(locked.iterdir()) == []


def test_output_folder_is_created_and_checked(tmp_path):
    afile = tmp_path / "taken"
    afile.write_text("")
    with pytest.raises(NotADirectoryError, match="is an existing file"):
        figures.output_folder(afile)
    assert figures.output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert (tmp_path / "new" / "deeper").is_dir() and list((tmp_path / "new" / "deeper").iterdir()) == []


def test_build_api_rejects_bad_seed_and_out_first(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "experiment_module", lambda *a: pytest.fail("the experiment was loaded"))
    afile = tmp_path / "taken"
    afile.write_text("")
    with pytest.raises(NotADirectoryError, match="out='.*taken' is an existing file"):
        figures.build("fig-discrete-residual-lr", out=afile, config=TINY)
    with pytest.raises(ValueError, match="seed=-1"):
        figures.build("fig-discrete-residual-lr", out=tmp_path, config=TINY, seed=-1)
    with pytest.raises(ValueError, match="seed=True"):
        figures.build("fig-discrete-residual-lr", out=tmp_path, config=TINY, seed=True)


def test_bad_scale_environment_is_one_line_exit_2(tmp_path):
    env = {**os.environ, "PATHKERNEL_SCALE": "huge", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pathkernel", "figures", "build", "fig-discrete-residual-lr",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "PATHKERNEL_SCALE='huge'; expected one of ('quick', 'paper', 'large')" in done.stderr
    assert not (tmp_path / "out").exists()


def test_declarations_are_checked_when_imported():
    from pathkernel.plots._declare import figure
    from pathkernel.experiments import linear_regression

    def undocumented(result):
        return None

    def documented(result):
        """A figure."""

    before = dict(figures.FIGURES)
    with pytest.raises(ValueError, match="'fig_bad' must look like 'fig-<chapter>-<what>'"):
        figure("fig_bad", linear_regression)
    with pytest.raises(ValueError, match="study=.* must be a pathkernel.experiments module"):
        figure("fig-test-thing", figures)
    with pytest.raises(ValueError, match="needs a docstring"):
        figure("fig-test-thing", linear_regression)(undocumented)
    with pytest.raises(ValueError, match="fig-linear-residual is declared twice"):
        figure("fig-linear-residual", linear_regression)(documented)
    assert figures.FIGURES == before


def test_build_draws_through_the_declaration(tmp_path, monkeypatch):
    drawn = []
    spec = figures.spec("fig-discrete-residual-lr")
    original = spec.draw
    monkeypatch.setitem(figures.FIGURES, spec.id, dataclasses.replace(spec, draw=lambda r: drawn.append(r) or original(r)))
    record = figures.build(spec.id, out=tmp_path, config=TINY)
    assert len(drawn) == 1 and record["plot"] == spec.plot and record["experiment"] == spec.experiment
