"""The book's committed results store: where it is, which entries the book needs, and whether they are current.

The book renders every figure twice: at the quick scale, computed while it builds, and at
the study's `large` preset (the paper preset, or a stated smaller one where that needs a GPU
or many CPU hours), read from the results store committed with the repository
(``results/`` at the checkout's root, or ``PATHKERNEL_STORE``). `needed` lists those entries,
one per (study, seed) of a declared figure; `status` says whether each is current, and the
committed stale-list (``results/stale.txt``, lines ``<study> <scale> <seed> | <reason>``)
names the ones knowingly left stale or missing, with why (e.g. the run needs a GPU). The
test suite fails on any entry that is neither current nor listed, printing the command that
refreshes it (`refresh_command`); CI never runs a preset itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathkernel.runs import checkpoint
from pathkernel.runs.store import Store
from pathkernel.runs.studies import study_module, study_name

STALE_LIST = "stale.txt"
#: where the committed store is browsed online (the book's ``repository.url``)
REPOSITORY = "https://github.com/pathkernel/pathkernel"
#: provenance fields every stored entry must have, none of them empty (null)
PROVENANCE_FIELDS = ("experiment", "scale", "seed", "device", "config", "config_sha256", "source_sha256",
                     "package_sha256", "git_commit", "git_dirty", "machine", "versions", "result_sha256", "run")


class StoredResultError(LookupError):
    """A stored result was asked for and the store has no current entry for it."""


def checkout_root() -> Path | None:
    """The repository checkout the package runs from (None when installed from a wheel)."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "pathkernel").is_dir() else None


def default_store() -> Path | None:
    """``PATHKERNEL_STORE`` if set, else the checkout's ``results/`` folder (None outside a checkout)."""
    if os.environ.get("PATHKERNEL_STORE"):
        return Path(os.environ["PATHKERNEL_STORE"])
    root = checkout_root()
    return root / "results" if root is not None else None


@dataclass(frozen=True)
class Entry:
    """One entry of the store: `study` (name) at `config` and `seed` (for the book: its large preset)."""

    study: str
    config: Any
    seed: int

    @property
    def scale(self) -> str:
        """The config's scale ("paper" or "large"; the entry's folder under the study)."""
        return self.config.scale


@dataclass(frozen=True)
class Stored:
    """A result read from the store, its provenance record and its status ("finished" or a listed "stale")."""

    result: Any
    record: dict[str, Any]
    status: str


def needed() -> list[Entry]:
    """The store entries the book renders: each declared figure's study at its `large` preset and seed."""
    from pathkernel.plots import FIGURES

    entries: dict[tuple[str, int], Entry] = {}
    for spec in FIGURES.values():
        name = study_name(spec.experiment)
        entries.setdefault((name, spec.seed), Entry(name, study_module(name).Config.large(), spec.seed))
    return sorted(entries.values(), key=lambda entry: (entry.study, entry.seed))


def refresh_command(study: str, scale: str, seed: int, store: str | Path = "results") -> str:
    """The command that (re)computes one entry into `store`."""
    return f"python -m pathkernel run {study} --scale {scale} --seeds {seed} --store {store}"


def not_stored(study: str, scale: str, seed: int, store: str | Path | None, shown: str | Path = "results") -> str:
    """The message for a paper or large result `store` does not hold: what is missing and the command
    that computes it into `shown` (the store as the user named it)."""
    return (f"no current stored result of {study} at scale {scale!r}, seed {seed} in the store {store}; "
            f"compute it with `{refresh_command(study, scale, seed, shown)}`")


def provenance_url(entry: Entry) -> str:
    """The entry's provenance record in the repository online (the committed store, on main)."""
    folder = Store("results").entry(entry.study, entry.config, entry.seed)
    return f"{REPOSITORY}/blob/main/{folder.as_posix()}/provenance.json"


def stale_list(store: str | Path | None = None) -> dict[tuple[str, str, int], str]:
    """The committed stale-list of `store` (default `default_store`): (study, scale, seed) -> reason.

    Raises ValueError naming the line when a line is not ``<study> <scale> <seed> | <reason>``
    with a non-empty reason.
    """
    store = Path(store) if store is not None else default_store()
    path = store / STALE_LIST if store is not None else None
    listed: dict[tuple[str, str, int], str] = {}
    if path is None or not path.is_file():
        return listed
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, reason = line.partition("|")
        parts = key.split()
        if len(parts) != 3 or not parts[2].isdigit() or not reason.strip():
            raise ValueError(f"{path}:{number}: {line!r}; expected '<study> <scale> <seed> | <reason>'")
        listed[(parts[0], parts[1], int(parts[2]))] = reason.strip()
    return listed


def status(entry: Entry, store: str | Path | None = None) -> str:
    """"finished" (current), "stale" (the study's source changed since it ran) or "missing"
    (no entry for the current preset: never run, or run with another config)."""
    store = Path(store) if store is not None else default_store()
    if store is None or not store.is_dir():
        return "missing"
    return Store(store).status(entry.study, entry.config, entry.seed)


def load(entry: Entry, store: str | Path | None = None) -> Stored | None:
    """The stored result of `entry` (`Stored`), None when it is missing. A stale entry is read only
    when it is on the stale-list (its caption then says so); otherwise None."""
    store = Path(store) if store is not None else default_store()
    state = status(entry, store)
    if state == "missing" or (state == "stale" and (entry.study, entry.scale, entry.seed) not in stale_list(store)):
        return None
    stored = Store(store)
    return Stored(stored.load(entry.study, entry.config, entry.seed, allow_stale=True),
                  stored.record(entry.study, entry.config, entry.seed), state)


def seed_of(study: str) -> int:
    """The seed the book shows `study` at (its figures' seed)."""
    return next((entry.seed for entry in needed() if entry.study == study), 0)


def tracked_problems(paths: list[str], store: str | Path | None = None) -> list[str]:
    """What is wrong with the committed files `paths` of the store (relative to its parent, as
    ``git ls-files results`` gives them): every entry folder must hold exactly ``result.npz``,
    ``result.json`` and ``provenance.json``; an interrupted run's checkpoint items may be committed
    only for an entry on the stale-list that is not finished, in the folder of the study's current
    code (`Store.checkpoints`), so that a clean clone resumes it; nothing else. [] when all is well."""
    store = Path(store) if store is not None else default_store()
    listed = stale_list(store)
    folders: dict[str, set[str]] = {}
    problems = []
    for path in paths:
        parts = path.split("/")
        if len(parts) == 5:
            folders.setdefault("/".join(parts[:4]), set()).add(parts[4])
        elif len(parts) != 2:
            problems.append(f"{path}: not in an entry's folder")
    for folder, names in sorted(folders.items()):
        kept = re.fullmatch(r"[^/]+/([\w.]+)/(paper|large)/seed(\d+)-[0-9a-f]{16}\.checkpoints-[0-9a-f]{16}", folder)
        if kept:
            study, scale, seed = kept.group(1), kept.group(2), int(kept.group(3))
            entry = Entry(study, study_module(study).Config.from_scale(scale), seed)
            current = Store(store).checkpoints(study, entry.config, seed).relative_to(store.parent).as_posix()
            if (study, scale, seed) not in listed or status(entry, store) == "finished":
                problems.append(f"{folder}: checkpoints of an entry that is finished or not on the stale-list")
            elif current != folder:
                problems.append(f"{folder}: checkpoints of another config or another version of the study's code")
            elif not all(checkpoint.ITEM_FILE.fullmatch(name) for name in names):
                problems.append(f"{folder}: {sorted(names)} are not all checkpoint items")
        elif not re.fullmatch(r"[^/]+/[\w.]+/(paper|large)/seed\d+-[0-9a-f]{16}", folder):
            problems.append(f"{folder}: not an entry's folder")
        elif names != {"result.npz", "result.json", "provenance.json"}:
            problems.append(f"{folder}: holds {sorted(names)}")
    return problems
