"""The executed-chapter cache is emptied exactly when the package's source, the scale or the results store changes."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import notebook_cache  # noqa: E402  (book/_ext is not a package)


def test_the_stamp_changes_with_the_scale_the_package_source_and_the_store(tmp_path, monkeypatch):
    """In a scratch checkout: the stamp is stable while nothing changes, and moves with the scale, a
    package module, a stored run's provenance record, a new record, the stale-list and the store's place;
    not with files the build does not read (a store's README, a checkpoint)."""
    monkeypatch.delenv("PATHKERNEL_SCALE", raising=False)
    monkeypatch.delenv("PATHKERNEL_STORE", raising=False)
    (tmp_path / "src" / "pathkernel").mkdir(parents=True)
    (tmp_path / "src" / "pathkernel" / "models.py").write_text("x = 1\n")
    entry = tmp_path / "results" / "study" / "paper" / "seed0-abc"
    entry.mkdir(parents=True)
    (entry / "provenance.json").write_text('{"result_sha256": "1"}')
    (tmp_path / "results" / "stale.txt").write_text("")
    seen = [notebook_cache.package_fingerprint(tmp_path)]

    def changed() -> bool:
        seen.append(notebook_cache.package_fingerprint(tmp_path))
        return seen[-1] != seen[-2]

    assert not changed()
    (tmp_path / "results" / "README.md").write_text("about the store")
    (entry.parent / "seed0-abc.checkpoints-0123").mkdir()
    (entry.parent / "seed0-abc.checkpoints-0123" / "item.npz").write_bytes(b"partial")
    assert not changed()
    monkeypatch.setenv("PATHKERNEL_SCALE", "paper")
    assert changed()
    (tmp_path / "src" / "pathkernel" / "models.py").write_text("x = 2\n")
    assert changed()
    (entry / "provenance.json").write_text('{"result_sha256": "2"}')
    assert changed()
    (tmp_path / "results" / "other" / "paper" / "seed0-def").mkdir(parents=True)
    (tmp_path / "results" / "other" / "paper" / "seed0-def" / "provenance.json").write_text("{}")
    assert changed()
    (tmp_path / "results" / "stale.txt").write_text("other paper 0 | not run yet\n")
    assert changed()
    monkeypatch.setenv("PATHKERNEL_STORE", str(tmp_path / "elsewhere"))
    assert changed()


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
