"""Provenance of a result: what ran, with what, and a digest of what came out.

One record format (`provenance`) serves the results store's entries and the figure sidecars.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib
import inspect
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib
import numpy as np
import torch

from pathkernel import __version__
from pathkernel.runs.studies import EXPERIMENTS_PACKAGE, study_module, study_name

EXPERIMENTS = EXPERIMENTS_PACKAGE.rstrip(".")


def result_digest(result: Any) -> str:
    """sha256 over a result dataclass: its config's repr, then every field in order
    (arrays by dtype, shape and bytes; numbers and strings by repr). Fields marked
    ``metadata={"volatile": True}`` (wall-clock timings) are left out: they change from run to run."""
    digest = hashlib.sha256()
    for field in dataclasses.fields(result):
        if field.metadata.get("volatile"):
            continue
        value = getattr(result, field.name)
        digest.update(field.name.encode())
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray):
            value = np.ascontiguousarray(value)
            digest.update(f"{value.dtype}{value.shape}".encode() + value.tobytes())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def config_digest(config: Any) -> str:
    """sha256 of the config's repr (a frozen dataclass of numbers, strings and tuples)."""
    return hashlib.sha256(repr(config).encode()).hexdigest()


#: Config class attributes and module functions that only present a result (the preset table's
#: sources, the reason for a large preset, the numbers glued into the prose): not part of a study's code
PRESENTATION = frozenset({"sources", "large_reason", "numbers"})


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_presentation(node: ast.stmt) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return node.name in PRESENTATION
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return any(isinstance(target, ast.Name) and target.id in PRESENTATION for target in targets)


def code_of(source: str) -> str:
    """The code of a module's source, for `source_digest`: its syntax tree without comments, docstrings
    and the `PRESENTATION` definitions, so editing a caption's wording does not make stored runs stale."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = [statement for i, statement in enumerate(node.body)
                    if not (i == 0 and _is_docstring(statement)) and not _is_presentation(statement)]
            node.body = body or [ast.Pass()]
    return ast.dump(tree)


def study_files(study: str | ModuleType) -> list[Path]:
    """The files of a study's code: its module, its chapter package's ``__init__.py`` (for a study in
    ``experiments/<chapter>/``), and every module of ``pathkernel.experiments`` the study imports,
    directly or through another (shared helpers, or a sibling study it borrows from). A sibling
    study it does not import is not part of it, so fixing one study's preset leaves its siblings'
    stored runs current; the package's ``__init__`` is hashed but its imports are not followed."""
    module = study_module(study)
    own = Path(inspect.getsourcefile(module))
    root = Path(inspect.getsourcefile(importlib.import_module(EXPERIMENTS)))
    files, todo = {own}, [own]
    if own.parent != root.parent:
        files.add(own.parent / "__init__.py")
    while todo:
        for node in ast.walk(ast.parse(todo.pop().read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(EXPERIMENTS):
                names += [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                if not name.startswith(EXPERIMENTS + "."):
                    continue
                relative = Path(*name.removeprefix(EXPERIMENTS + ".").split("."))
                for file in (root.parent / relative.with_suffix(".py"), root.parent / relative / "__init__.py"):
                    if file.is_file() and file not in files:
                        files.add(file)
                        todo.append(file)
    return sorted(files)


def source_digest(study: str | ModuleType) -> str:
    """sha256 of the study's code (`code_of` of each of `study_files`).

    The shared layers below (training, models, kernels, decomposition, data) are not included:
    `package_digest` records them, and ``python -m pathkernel store status`` reports the entries
    run with another version of them."""
    digest = hashlib.sha256()
    for file in study_files(study):
        digest.update(file.name.encode() + b"\0" + code_of(file.read_text()).encode())
    return digest.hexdigest()


def _computes(relative: Path) -> bool:
    """Whether a file of the package (path relative to ``pathkernel/``) is code a study computes with:
    a module that is not presentation (``plots``, ``book``, ``figures``, ``paper_values``), the
    command line (``__main__``) or ``runs``."""
    return relative.suffix == ".py" and relative.parts[0] not in ("plots", "runs") \
        and relative.stem not in ("book", "figures", "paper_values", "__main__")


def package_digest() -> str:
    """sha256 of the code (`code_of`) of every module of the package a study computes with
    (`_computes`): all of ``pathkernel`` but its presentation, command line and ``runs``."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for file in sorted(root.rglob("*.py")):
        relative = file.relative_to(root)
        if not _computes(relative):
            continue
        digest.update(relative.as_posix().encode() + b"\0" + code_of(file.read_text()).encode())
    return digest.hexdigest()


def git_dirty(root: Path | None = None) -> bool | None:
    """Whether the code of the package folder `root` (default: this package's) that studies compute
    with (`_computes`, the modules `package_digest` covers) differs from the checkout's commit, by
    `code_of`: a reworded comment or docstring, or an edited chapter, test or plot, is not a change;
    an edited, added (untracked) or deleted module is. None outside a git checkout."""
    changed = _changed_code("HEAD", root, _computes)
    return None if changed is None else bool(changed)


def git_commit() -> str | None:
    """The commit of the checkout the package runs from, None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _is_shared(relative: Path) -> bool:
    """Whether a module of the package (path relative to ``pathkernel/``) is shared code a study computes
    with: code it computes with (`_computes`) outside ``experiments`` (each study's `source_digest`
    covers its own experiment modules)."""
    return _computes(relative) and relative.parts[0] != "experiments"


def shared_changes(commit: str | None, root: Path | None = None) -> list[str] | None:
    """The shared modules (`_is_shared`) whose code (`code_of`) differs between `commit` and the files
    here, as paths relative to the package folder `root` (default: this package's), added (also
    untracked) and deleted ones included; None when there is no commit or git cannot read it
    (outside a checkout, or a commit this clone lacks)."""
    return _changed_code(commit, root, _is_shared)


def _changed_code(commit: str | None, root: Path | None, keep: Callable[[Path], bool]) -> list[str] | None:
    """The modules under the package folder `root` that `keep` selects (by path relative to `root`)
    whose code (`code_of`) differs between `commit` and the files here; see `shared_changes`."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=60, cwd=root)

    if not commit:
        return None
    try:
        prefix = git("rev-parse", "--show-prefix").stdout.strip()
        listed = git("diff", "--name-only", "--no-renames", commit, "--", ".")
        untracked = git("ls-files", "--others", "--exclude-standard", "--", ".")
        if listed.returncode != 0 or untracked.returncode != 0:
            return None
        changed = [Path(name) for name in untracked.stdout.split() if keep(Path(name))]
        for name in listed.stdout.split():
            relative = Path(name).relative_to(prefix)
            if not keep(relative):
                continue
            before = git("show", f"{commit}:{name}")
            now = root / relative
            old_code = code_of(before.stdout) if before.returncode == 0 else None
            new_code = code_of(now.read_text()) if now.is_file() else None
            if old_code != new_code:
                changed.append(relative)
        return sorted({path.as_posix() for path in changed})
    except (OSError, subprocess.SubprocessError):
        return None


def run_seconds(record: dict[str, Any]) -> float:
    """The seconds a stored run took, from its provenance `record`: its wall time plus, for a run
    resumed from checkpoints, the seconds the items it read back took when computed
    (``run.resumed_s``, see `pathkernel.runs.sweep.run_one`)."""
    return record["run"]["wall_s"] + record["run"].get("resumed_s", 0.0)


def code_state(study: str | ModuleType) -> dict[str, Any]:
    """What code a run starts with: the study's `source_digest`, `package_digest`, the git commit and
    whether the package source differs from it. Taken before the run (`provenance`'s `code`)."""
    return {"source_sha256": source_digest(study), "package_sha256": package_digest(), "git_commit": git_commit(),
            "git_dirty": git_dirty()}


def provenance(study: str | ModuleType, config: Any, seed: int, device: str | torch.device, result: Any,
               code: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance record of one result: what ran (study, scale, config, seed, device, the
    code it ran with: `code_state`, taken now unless `code` gives the state at the run's start),
    with what (package version, library versions, machine) and what came out (sha256 of the
    result's arrays, `result_digest`)."""
    module = study_module(study)
    device = torch.device(device)
    code = code if code is not None else code_state(module)
    return {
        "experiment": study_name(module),
        "scale": config.scale,
        "seed": seed,
        "device": str(device),
        **({"device_name": torch.cuda.get_device_name(device)} if device.type == "cuda" else {}),
        "config": repr(config),
        "config_sha256": config_digest(config),
        **code,
        "pathkernel": __version__,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "matplotlib": matplotlib.__version__},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "result_sha256": result_digest(result),
    }
