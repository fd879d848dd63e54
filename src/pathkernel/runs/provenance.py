"""Provenance of a result: what ran, with what, and a digest of what came out.

One record format (`provenance`) serves the results store's entries and the figure sidecars.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import platform
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib
import numpy as np
import torch

from pathkernel import __version__
from pathkernel.runs.studies import study_module, study_name


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


def source_digest(study: str | ModuleType) -> str:
    """sha256 of the study's source code: its module, and for a study inside a chapter package
    (``experiments/<chapter>/<study>.py``) every module of that package, which its studies share."""
    module = study_module(study)
    files = [Path(inspect.getsourcefile(module))]
    if module.__name__.count(".") > 2:
        files = sorted(files[0].parent.glob("*.py"))
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


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


def provenance(study: str | ModuleType, config: Any, seed: int, device: str | torch.device, result: Any) -> dict[str, Any]:
    """The provenance record of one result: what ran (study, scale, config, seed, device, the
    study's source digest), with what (package, git commit, versions, machine) and what came out
    (sha256 of the result's arrays, `result_digest`)."""
    module = study_module(study)
    device = torch.device(device)
    return {
        "experiment": study_name(module),
        "scale": config.scale,
        "seed": seed,
        "device": str(device),
        **({"device_name": torch.cuda.get_device_name(device)} if device.type == "cuda" else {}),
        "config": repr(config),
        "config_sha256": config_digest(config),
        "source_sha256": source_digest(module),
        "pathkernel": __version__,
        "git_commit": git_commit(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "matplotlib": matplotlib.__version__},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "result_sha256": result_digest(result),
    }
