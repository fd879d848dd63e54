"""The executed chapters, cached once for the tests and the book build (jupyter-cache).

`pytest` executes every chapter and stores the executed notebook in `CACHE`
(`conftest.py`); `jupyter-book build` (``execute_notebooks: cache``) then takes each
chapter's outputs from there instead of running it again, matching a chapter by the hash
of its code cells. That hash sees neither the package, the scale nor the results store the
stored-run tabs and tables read: a stamp of all three (`package_fingerprint`: the package's
source, ``PATHKERNEL_SCALE`` and the store's records and stale-list) is kept beside the
cache, and a cache whose stamp differs is emptied before use, by the tests and by the book
build alike.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "_build" / ".jupyter_cache"
STAMP = "pathkernel-source.sha256"


def package_fingerprint(root: Path = ROOT) -> str:
    """sha256 over the scale (``PATHKERNEL_SCALE``), the store (``PATHKERNEL_STORE``, default
    results/) and the relative paths and contents of src/pathkernel/**/*.py and of the store's
    provenance records and stale-list (a record carries its result's digest)."""
    store = Path(os.environ.get("PATHKERNEL_STORE", root / "results"))
    digest = hashlib.sha256(os.environ.get("PATHKERNEL_SCALE", "quick").encode() + str(store).encode())
    package = root / "src" / "pathkernel"
    files = [(package, path) for path in sorted(package.rglob("*.py"))]
    files += [(store, path) for path in sorted(store.glob("*/*/seed*/provenance.json")) + [store / "stale.txt"]
              if path.is_file()]
    for base, path in files:
        digest.update(str(path.relative_to(base)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def invalidate_if_stale(cache: Path = CACHE) -> bool:
    """Empty `cache` when it was filled from another version of the package; True if it was."""
    stamp = cache / STAMP
    current = package_fingerprint()
    if stamp.exists() and stamp.read_text() == current:
        return False
    stale = cache.exists()
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    stamp.write_text(current)
    return stale


def _check_cache(app, config) -> None:
    if config.nb_execution_mode == "cache":
        path = Path(config.nb_execution_cache_path or CACHE)
        invalidate_if_stale(path if path.is_absolute() else Path.cwd() / path)


def setup(app):
    app.connect("config-inited", _check_cache)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
