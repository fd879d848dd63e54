"""The results store (pathkernel.runs.store), its encoding and in-run checkpoints."""

import dataclasses
import json
import os
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch

from pathkernel import runs
from pathkernel.experiments import linear_regression
from pathkernel.runs import checkpoint
from pathkernel.runs.encoding import decode, encode
from pathkernel.runs.store import Store

TINY = linear_regression.Config(scale="quick", n=8, d=2, time=0.4, lrs=(0.2, 0.1), n_query=4, width=4, fit_max_lr=0.2)


@dataclasses.dataclass(frozen=True)
class Inner:
    values: tuple
    table: dict


@dataclasses.dataclass
class Outer:
    inner: Inner
    array: np.ndarray
    tensor: torch.Tensor
    scalar: np.float32
    items: list
    nothing: None
    odd: float


def test_encoding_round_trips_bit_for_bit():
    value = Outer(inner=Inner(values=(1, 2.5, "x", True), table={"a": np.arange(3, dtype=np.int16), "b": [None]}),
                  array=np.array([[np.nan, -0.0], [np.inf, 1e-300]]), tensor=torch.arange(4.0, dtype=torch.float64),
                  scalar=np.float32(0.1), items=[np.float64(2.0), (3, 4)], nothing=None, odd=float("nan"))
    arrays = {}
    skeleton = json.loads(json.dumps(encode(value, arrays)))
    back = decode(skeleton, arrays)
    assert type(back) is Outer and type(back.inner) is Inner and back.inner.values == (1, 2.5, "x", True)
    assert back.array.tobytes() == value.array.tobytes() and back.inner.table["a"].dtype == np.int16
    assert torch.equal(back.tensor, value.tensor) and type(back.scalar) is np.float32 and back.scalar == value.scalar
    assert back.items[1] == (3, 4) and back.nothing is None and np.isnan(back.odd)


@pytest.mark.parametrize("bad", [object(), {1: 2}, np.array([object()])])
def test_encoding_refuses_what_it_cannot_store(bad):
    with pytest.raises(TypeError, match="cannot store"):
        encode(bad, {})


def test_entries_save_load_and_go_stale(tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    assert store.status(linear_regression, TINY, 0) == "missing" and store.load(linear_regression, TINY, 0) is None
    result = linear_regression.run(TINY, seed=0)
    record = runs.provenance(linear_regression, TINY, 0, "cpu", result)
    folder = store.save(linear_regression, TINY, 0, result, record)
    assert folder == tmp_path / "store" / "linear_regression" / "quick" / f"seed0-{runs.config_digest(TINY)[:16]}"
    assert sorted(p.name for p in folder.iterdir()) == ["provenance.json", "result.json", "result.npz"]
    assert store.status(linear_regression, TINY, 0) == "finished"
    loaded = store.load(linear_regression, TINY, 0)
    assert runs.result_digest(loaded) == runs.result_digest(result) and loaded.config == TINY
    # another config or seed is another entry
    assert store.status(linear_regression, dataclasses.replace(TINY, n=9), 0) == "missing"
    assert store.status(linear_regression, TINY, 1) == "missing"
    # a changed experiment source makes the entry stale: never read
    monkeypatch.setattr("pathkernel.runs.store.source_digest", lambda study: "0" * 64)
    assert store.status(linear_regression, TINY, 0) == "stale" and store.load(linear_regression, TINY, 0) is None


def test_a_damaged_entry_is_an_error_and_a_partial_one_is_invisible(tmp_path):
    store = Store(tmp_path)
    result = linear_regression.run(TINY, seed=0)
    record = runs.provenance(linear_regression, TINY, 0, "cpu", result)
    folder = store.entry(linear_regression, TINY, 0)
    folder.parent.mkdir(parents=True)
    (folder.parent / (folder.name + ".partial-x")).mkdir()      # what an interrupted save leaves
    assert store.status(linear_regression, TINY, 0) == "missing"
    store.save(linear_regression, TINY, 0, result, record)
    result.residual_mlp[0] += 1.0
    with pytest.raises(ValueError, match="the provenance record describes another run"):
        store.save(linear_regression, TINY, 1, result, record)
    arrays = dict(np.load(folder / "result.npz"))
    arrays["a3"] = arrays["a3"] + 1.0
    np.savez(folder / "result.npz", **arrays)
    with pytest.raises(ValueError, match="does not match its recorded digest"):
        store.load(linear_regression, TINY, 0)


def test_store_path_errors(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(NotADirectoryError, match="is an existing file"):
        Store(afile)
    with pytest.raises(OSError, match="cannot be written"):
        Store(afile / "below").check_writable()
    with pytest.raises(ValueError, match="store=3"):
        Store(3)


def test_runs_result_reads_a_finished_entry_instead_of_running(tmp_path, monkeypatch):
    store = Store(tmp_path)
    result = linear_regression.run(TINY, seed=0)
    store.save(linear_regression, TINY, 0, result, runs.provenance(linear_regression, TINY, 0, "cpu", result))
    runs.clear()
    monkeypatch.setattr(linear_regression, "run", lambda *a, **k: pytest.fail("ran although stored"))
    read = runs.result(linear_regression, config=TINY, store=tmp_path)
    assert runs.result_digest(read) == runs.result_digest(result)
    runs.clear()


def test_checkpoint_items_are_kept_and_read_back(tmp_path):
    calls = []

    def compute(i):
        calls.append(i)
        time.sleep(0.01)
        return {"i": i, "value": np.full(3, float(i))}

    assert checkpoint.item("a", lambda: compute(0))["i"] == 0       # no folder: just computes
    with checkpoint.checkpointing(tmp_path / "ck"):
        first = [checkpoint.item(f"lr={i}", lambda i=i: compute(i)) for i in range(3)]
    resumed = checkpoint.Resumed()
    with checkpoint.checkpointing(tmp_path / "ck", resumed):
        again = [checkpoint.item(f"lr={i}", lambda i=i: compute(i)) for i in range(4)]
    assert calls == [0, 0, 1, 2, 3]
    assert resumed.items == 3 and resumed.seconds >= 3 * 0.01  # the three read back, with their first time
    assert all(np.array_equal(a["value"], b["value"]) for a, b in zip(first, again))
    assert not [p for p in os.listdir(tmp_path / "ck") if p.startswith(".partial")]


def test_a_long_experiment_resumes_from_its_checkpoints(tmp_path, monkeypatch):
    """kernel_regime.ntk_limit keeps every width of its sweeps as a checkpoint item: a rerun in the same
    folder recomputes nothing (its networks cannot even be built) and gives the same result bit for bit."""
    from pathkernel.experiments.kernel_regime import ntk_limit

    config = dataclasses.replace(ntk_limit.Config.quick(), widths=(8, 64), seeds=2, regression_widths=(16, 64),
                                 regression_seeds=1, steps=30, grid=15)
    plain = ntk_limit.run(config, seed=3)
    with checkpoint.checkpointing(tmp_path) as folder:
        first = ntk_limit.run(config, seed=3)
    assert len(list(folder.glob("*.npz"))) == 2 * len(config.widths) + len(config.regression_widths)
    monkeypatch.setattr(ntk_limit, "_network", lambda *a, **k: pytest.fail("recomputed a checkpointed item"))
    with checkpoint.checkpointing(tmp_path):
        resumed = ntk_limit.run(config, seed=3)
    assert runs.result_digest(plain) == runs.result_digest(first) == runs.result_digest(resumed)


def test_the_source_digest_is_of_code_not_of_its_wording():
    """Docstrings, comments, a preset's sources, large_reason and numbers() present a result: editing
    them keeps stored runs current; any change to what computes it (a constant, a statement) does not."""
    from pathkernel.runs.provenance import code_of

    base = '''"""A study."""
class Config:
    """Sizes."""
    sources = {"n": "S1"}
    large_reason = "needs a GPU"
    n: int = 3

def run(config, seed=0):
    """Run it."""
    return config.n * 2  # twice

def numbers(result):
    return {"x": f"{result:.2f}"}
'''
    reworded = (base.replace('"""A study."""', '"""Another docstring."""').replace('"S1"', '"S1 §2"')
                .replace("needs a GPU", "needs hours").replace("# twice", "# doubled").replace(".2f", ".3f"))
    assert code_of(reworded) == code_of(base)
    for changed in (base.replace("n: int = 3", "n: int = 4"), base.replace("* 2", "* 3"),
                    base.replace("return config.n * 2", "config.n += 0\n    return config.n * 2")):
        assert code_of(changed) != code_of(base)


def test_checkpoints_are_kept_per_version_of_the_study(tmp_path, monkeypatch):
    store = Store(tmp_path)
    first = store.checkpoints(linear_regression, TINY, 0)
    monkeypatch.setattr("pathkernel.runs.store.source_digest", lambda study: "f" * 64)
    assert store.checkpoints(linear_regression, TINY, 0) != first
    assert first.name.startswith(store.entry(linear_regression, TINY, 0).name + ".checkpoints-")


def test_a_studys_files_are_what_it_imports():
    """A study's digest covers its module, its package's __init__ and the experiment modules it imports
    (helpers, a sibling it borrows from), not sibling studies it does not import."""
    from pathkernel.runs.provenance import study_files

    def names(study):
        return {path.relative_to(path.parents[1]).as_posix() for path in study_files(study)}

    assert names("null_space.training") == {"null_space/__init__.py", "null_space/tasks.py", "null_space/training.py"}
    assert {"attribution/loop.py", "attribution/tracin.py"} <= names("attribution")
    assert "discrete_exact/theorem.py" in names("discrete_exact.vector_outputs")
    assert "experiments/shape_filling_data.py" in names("shape_filling") | {
        path.relative_to(path.parents[2]).as_posix() for path in study_files("shape_filling")}
    assert names("linear_regression") == {"experiments/linear_regression.py"}


def _studies() -> list[str]:
    from pathkernel.runs import committed
    return sorted({entry.study for entry in committed.needed()})


def _rewrite(source: str, comment: str, docstring: str) -> str:
    """`source` with every comment's text replaced by `comment` and every docstring by `docstring`,
    located by the tokenizer and the syntax tree (not by `code_of`'s own walk)."""
    import ast
    import io
    import tokenize

    lines = source.splitlines(keepends=True)
    edits = [(token.start, token.end, "# " + comment)
             for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            value = body[0].value
            edits.append(((value.lineno, value.col_offset), (value.end_lineno, value.end_col_offset),
                          f'"""{docstring}"""'))
    for (row, col), (end_row, end_col), text in sorted(edits, reverse=True):
        head, tail = lines[row - 1][:col], lines[end_row - 1][end_col:]
        lines[row - 1:end_row] = [head + text + tail]
    return "".join(lines)


@settings(max_examples=40, deadline=None)
@given(study=st.sampled_from(_studies()),
       comment=st.text(st.characters(codec="ascii", categories=("L", "N", "Zs")), max_size=30),
       docstring=st.text(st.characters(codec="ascii", categories=("L", "N", "Zs")), min_size=1, max_size=60),
       pick=st.integers(min_value=0))
def test_a_studys_digest_ignores_its_wording_and_sees_each_number(study, comment, docstring, pick):
    """On the real study sources: rewording every comment and docstring keeps `code_of`; changing any
    one number literal outside the presentation definitions (`PRESENTATION`) changes it."""
    import ast
    import io
    import tokenize

    from pathkernel.runs.provenance import PRESENTATION, code_of, study_files

    files = study_files(study)
    source = files[pick % len(files)].read_text()
    assert code_of(_rewrite(source, comment, docstring)) == code_of(source)
    presentation = [range(node.lineno, node.end_lineno + 1) for node in ast.walk(ast.parse(source))
                    if isinstance(node, (ast.FunctionDef, ast.Assign, ast.AnnAssign))
                    and (getattr(node, "name", None) in PRESENTATION
                         or any(getattr(target, "id", None) in PRESENTATION
                                for target in getattr(node, "targets", [getattr(node, "target", None)])))]
    numbers = [token for token in tokenize.generate_tokens(io.StringIO(source).readline)
               if token.type == tokenize.NUMBER and not any(token.start[0] in lines for lines in presentation)]
    if numbers:
        token = numbers[pick % len(numbers)]
        lines = source.splitlines(keepends=True)
        row, col = token.start
        lines[row - 1] = lines[row - 1][:col] + "7" + lines[row - 1][col:]
        assert code_of("".join(lines)) != code_of(source)


@pytest.mark.parametrize("study", _studies())
def test_a_studys_files_are_loaded_with_it_and_hold_what_they_import(study):
    """The digest's files against Python's own machinery: each is loaded when the study is imported
    (the standard library's `modulefinder`), and every experiments module that a hashed module
    imports, resolved by `importlib.util.find_spec` (a module, or a package's __init__), is hashed."""
    import ast
    import importlib
    import importlib.util
    import inspect
    import modulefinder
    from pathlib import Path

    from pathkernel.runs.provenance import study_files

    source_root = Path(inspect.getsourcefile(importlib.import_module("pathkernel"))).parents[1]
    finder = modulefinder.ModuleFinder(path=[str(source_root)])
    finder.import_hook(runs.study_module(study).__name__)
    loaded = {Path(module.__file__).resolve() for module in finder.modules.values() if module.__file__}
    files = {path.resolve() for path in study_files(study)}
    assert files <= loaded
    for path in files - {path for path in files if path.name == "__init__.py"}:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pathkernel.experiments."):
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.startswith("pathkernel.experiments.")]
            else:
                continue
            for name in names:
                try:
                    spec = importlib.util.find_spec(name)
                except ModuleNotFoundError:
                    spec = None
                if spec is not None and spec.origin:
                    assert Path(spec.origin).resolve() in files, f"{path.name} imports {name}, which is not hashed"


def _scratch_package(tmp_path, files: dict[str, str]):
    """A package folder ``tmp_path/src/pkg`` holding `files` (path -> text), not yet a git
    repository, and a function running git in `tmp_path` that returns its output."""
    import subprocess

    package = tmp_path / "src" / "pkg"
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout.strip()

    return package, git


def test_shared_changes_name_the_shared_modules_whose_code_changed(tmp_path):
    """In a scratch git repository: a reworded comment is no change, an edited statement, an added
    and a deleted shared module are; presentation, runs and experiment modules are never shared."""
    from pathkernel.runs.provenance import shared_changes

    package, git = _scratch_package(tmp_path, {
        "models.py": "x = 1  # one\n", "training.py": "def step(w):\n    return w - 1\n", "old.py": "y = 2\n",
        "plots/figure.py": "z = 3\n", "experiments/study.py": "n = 4\n", "book.py": "b = 5\n",
        "runs/store.py": "s = 6\n"})
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    commit = git("rev-parse", "HEAD")
    assert shared_changes(commit, package) == []
    (package / "models.py").write_text("x = 1  # the one\n")
    (package / "training.py").write_text("def step(w):\n    return w - 2\n")
    (package / "old.py").unlink()
    (package / "kernels.py").write_text("k = 7\n")
    for name in ("plots/figure.py", "experiments/study.py", "book.py", "runs/store.py"):
        (package / name).write_text("changed = True\n")
    git("add", "-A")
    git("commit", "-qm", "second")
    assert sorted(shared_changes(commit, package)) == ["kernels.py", "old.py", "training.py"]
    assert shared_changes(None, package) is None and shared_changes("0" * 40, package) is None


def test_a_tree_is_dirty_only_when_the_code_studies_compute_with_differs_from_its_commit(tmp_path):
    """git_dirty in a scratch repository: reworded comments and edited presentation or run-store
    modules leave the tree clean for provenance; an edited, an untracked or a deleted computing
    module (experiments included) makes it dirty; outside a checkout it is None."""
    from pathkernel.runs.provenance import git_dirty

    package, git = _scratch_package(tmp_path, {
        "models.py": "x = 1  # one\n", "training.py": "def step(w):\n    return w - 1\n",
        "experiments/study.py": "n = 4\n", "plots/figure.py": "z = 3\n", "book.py": "b = 5\n",
        "runs/store.py": "s = 6\n"})
    assert git_dirty(package) is None
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    assert git_dirty(package) is False
    (package / "models.py").write_text("x = 1  # the one\n")
    for name in ("plots/figure.py", "book.py", "runs/store.py"):
        (package / name).write_text("changed = True\n")
    (tmp_path / "notes.md").write_text("outside the package\n")
    assert git_dirty(package) is False
    for change in (lambda: (package / "training.py").write_text("def step(w):\n    return w - 2\n"),
                   lambda: (package / "experiments" / "study.py").write_text("n = 5\n"),
                   lambda: (package / "kernels.py").write_text("k = 7\n"),
                   lambda: (package / "models.py").unlink()):
        git("stash", "-q", "--include-untracked")
        assert git_dirty(package) is False
        change()
        assert git_dirty(package) is True


def test_a_resumed_store_run_records_the_items_it_read_back_and_their_time(tmp_path):
    """sweep.run_one with checkpoints: a first run reads nothing back (no resumed fields); a second
    in the same folder reads every item and records their count and earlier seconds."""
    from pathkernel.experiments.kernel_regime import ntk_limit
    from pathkernel.runs import sweep as sweep_module

    config = dataclasses.replace(ntk_limit.Config.quick(), widths=(8, 16), seeds=1, regression_widths=(8, 16),
                                 regression_seeds=1, steps=5, grid=7)
    _, first = sweep_module.run_one("kernel_regime.ntk_limit", config, 0, "cpu", checkpoints=str(tmp_path))
    assert "resumed_items" not in first["run"]
    _, again = sweep_module.run_one("kernel_regime.ntk_limit", config, 0, "cpu", checkpoints=str(tmp_path))
    items = len(list(tmp_path.glob("*.npz")))
    assert again["run"]["resumed_items"] == items == 2 * len(config.widths) + len(config.regression_widths)
    assert 0 < again["run"]["resumed_s"] <= first["run"]["wall_s"]
    assert again["result_sha256"] == first["result_sha256"]
