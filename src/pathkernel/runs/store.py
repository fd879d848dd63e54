"""The results store: one folder per (experiment, scale, seed, config hash).

Layout (under the store's root)::

    <experiment>/<scale>/seed<seed>-<config sha256, 16 hex>/
        result.npz        the Result's arrays (numpy's npz, deflate-compressed)
        result.json       the rest of the Result (`pathkernel.runs.encoding`)
        provenance.json   `pathkernel.runs.provenance` + wall time and peak memory; written last
    <experiment>/<scale>/seed<seed>-<...>.checkpoints-<source sha256, 16 hex>/   items a running entry has finished

npz rather than zarr: results are at most a few hundred MB, read whole, and written once, so
one file per entry written by numpy alone (no new dependency) is enough; an entry is made in a
temporary folder and renamed into place, so a folder named like an entry is always complete
and an interrupted run leaves only a ``.partial-*`` folder that is never read. An entry is
*finished* when its folder exists, *stale* when the experiment's source changed since (its
``source_sha256``), and a loaded result is checked against the recorded ``result_sha256``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from pathkernel.runs.encoding import decode, encode
from pathkernel.runs.provenance import config_digest, result_digest, source_digest
from pathkernel.runs.studies import study_module, study_name

STATUSES = ("missing", "finished", "stale")


class Store:
    """A results store rooted at `root` (created on the first save)."""

    def __init__(self, root: str | Path):
        if not isinstance(root, (str, Path)) or not str(root):
            raise ValueError(f"store={root!r} must be a folder path (str or pathlib.Path)")
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"store={str(root)!r} is an existing file, not a folder")

    def check_writable(self) -> None:
        """Create the root and write a file in it; OSError naming the store otherwise (before any run)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".pathkernel-write-test-"):
                pass
        except OSError as error:
            raise type(error)(f"store={str(self.root)!r} cannot be written: {error.strerror or error}") from error

    def entry(self, study: str | ModuleType, config: Any, seed: int) -> Path:
        """The folder of the entry for `study` (module or name), `config` and `seed`."""
        return self.root / study_name(study) / config.scale / f"seed{seed}-{config_digest(config)[:16]}"

    def checkpoints(self, study: str | ModuleType, config: Any, seed: int) -> Path:
        """The folder where a running entry keeps the items it finished (`pathkernel.runs.checkpoint`),
        named by the study's source digest: items computed by another version of its code are never read."""
        entry = self.entry(study, config, seed)
        return entry.with_name(f"{entry.name}.checkpoints-{source_digest(study)[:16]}")

    def record(self, study: str | ModuleType, config: Any, seed: int) -> dict[str, Any] | None:
        """The provenance record of the entry, None when there is no finished entry."""
        path = self.entry(study, config, seed) / "provenance.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def status(self, study: str | ModuleType, config: Any, seed: int) -> str:
        """"missing", "finished" (current) or "stale" (the experiment's source changed since)."""
        record = self.record(study, config, seed)
        if record is None:
            return "missing"
        return "finished" if record["source_sha256"] == source_digest(study) else "stale"

    def load(self, study: str | ModuleType, config: Any, seed: int, *, allow_stale: bool = False) -> Any | None:
        """The stored Result when the entry is finished and current (or stale, with `allow_stale`), else None.

        Raises ValueError when the stored arrays do not match the recorded digest (a damaged entry).
        """
        if self.status(study, config, seed) not in (("finished", "stale") if allow_stale else ("finished",)):
            return None
        folder = self.entry(study, config, seed)
        with np.load(folder / "result.npz", allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        result = decode(json.loads((folder / "result.json").read_text()), arrays)
        expected = self.record(study, config, seed)["result_sha256"]
        if result_digest(result) != expected:
            raise ValueError(f"the stored result in {folder} does not match its recorded digest; delete the folder "
                             f"to run it again")
        return result

    def save(self, study: str | ModuleType, config: Any, seed: int, result: Any, record: dict[str, Any]) -> Path:
        """Write the entry atomically (a temporary folder renamed into place) and drop its checkpoints.

        `record` is the provenance (`pathkernel.runs.provenance`, plus run statistics); it must
        describe this study, config and seed. A stale entry in the way is replaced.
        """
        module = study_module(study)
        if (record.get("experiment"), record.get("config"), record.get("seed")) != (study_name(module), repr(config), seed):
            raise ValueError("the provenance record describes another run than the one being saved")
        folder = self.entry(module, config, seed)
        folder.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        skeleton = encode(result, arrays)
        partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=folder.name + ".partial-"))
        try:
            np.savez_compressed(partial / "result.npz", **arrays)
            (partial / "result.json").write_text(json.dumps(skeleton) + "\n")
            (partial / "provenance.json").write_text(json.dumps(record, indent=2) + "\n")
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(partial, folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        for checkpoints in folder.parent.glob(f"{folder.name}.checkpoints*"):  # of any version of the code
            shutil.rmtree(checkpoints, ignore_errors=True)
        return folder

    def records(self) -> list[tuple[Path, dict[str, Any]]]:
        """(folder, provenance record) of every finished entry under the root, sorted by folder."""
        if not self.root.is_dir():
            return []
        return [(path.parent, json.loads(path.read_text()))
                for path in sorted(self.root.glob("*/*/seed*/provenance.json")) if ".partial-" not in path.parent.name]
