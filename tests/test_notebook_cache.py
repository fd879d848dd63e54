"""The executed-chapter cache is emptied exactly when the package's source or the scale changes."""

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import notebook_cache  # noqa: E402  (book/_ext is not a package)


def test_the_stamp_is_the_scale_and_the_package_source(monkeypatch):
    monkeypatch.delenv("PATHKERNEL_SCALE", raising=False)
    package = ROOT / "src" / "pathkernel"
    digest = hashlib.sha256(b"quick")
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + path.read_bytes())
    assert notebook_cache.package_fingerprint() == digest.hexdigest()


def test_a_cache_is_kept_while_nothing_changed_and_emptied_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv("PATHKERNEL_SCALE", raising=False)
    cache = tmp_path / ".jupyter_cache"
    assert not notebook_cache.invalidate_if_stale(cache)  # nothing there yet: nothing stale
    (cache / "executed").write_text("a chapter")
    assert not notebook_cache.invalidate_if_stale(cache)
    assert (cache / "executed").exists()
    monkeypatch.setenv("PATHKERNEL_SCALE", "paper")
    assert notebook_cache.invalidate_if_stale(cache)
    assert not (cache / "executed").exists()
    (cache / "executed").write_text("a paper-scale chapter")
    (cache / notebook_cache.STAMP).write_text("another version of the package")
    assert notebook_cache.invalidate_if_stale(cache)
    assert not (cache / "executed").exists()
