import json
import re
from pathlib import Path

import pytest

from pathkernel import figures
from pathkernel.__main__ import main
from pathkernel.experiments import discrete_theorem

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
TINY = discrete_theorem.Config(scale="quick", n=12, width=8, time=1.0, lrs=(0.2, 0.1), n_query=10, fit_max_lr=0.2)


def test_registry_and_chapters_agree():
    labelled = {}
    for notebook in NOTEBOOKS.glob("*.md"):
        for name in re.findall(r"^:name: (fig-[\w-]+)$", notebook.read_text(), flags=re.M):
            labelled[name] = notebook.stem
    assert labelled == {spec.id: spec.chapter for spec in figures.FIGURES.values()}
    for spec in figures.FIGURES.values():
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
