"""The project folder: schema, migrations, crash safety, clear errors."""

from __future__ import annotations

import os
import shutil
import time
import sqlite3

import pytest

from inkubator_tui.project import migrations
from inkubator_tui.project.models import DraftStatus, Provenance, Step
from inkubator_tui.project.assets import STALE_TEMP_S
from inkubator_tui.project.store import ProjectError, Store


def test_new_project_layout_and_pragmas(store):
    root = store.root
    assert (root / "project.sqlite").is_file() and (root / "assets").is_dir() and (root / "exports").is_dir()
    con = store._con
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.schema_version == migrations.SCHEMA_VERSION
    assert store.settings.title == "Untitled"
    assert ".work/" in (root / ".gitignore").read_text()


def test_reopen_keeps_everything(store, tmp_path):
    store.add_message("director", "make shot 3 a close-up")
    store.close()
    again = Store.open(store.root)
    assert [m.text for m in again.messages()] == ["make shot 3 a close-up"]
    assert again.history()[0][1] == "project created"


def test_create_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("hi")
    with pytest.raises(ProjectError, match="not empty"):
        Store.create(tmp_path / "x")


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "not an inkubator project"),
])
def test_open_missing_or_plain_folder(tmp_path, setup, message):
    target = tmp_path / "p"
    setup(target)
    with pytest.raises(ProjectError, match=message):
        Store.open(target)


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_corrupt_database_is_one_clear_error_and_untouched(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "project.sqlite").write_bytes(b"this is not sqlite at all" * 100)
    before = _snapshot(folder)
    with pytest.raises(ProjectError, match="damaged"):
        Store.open(folder)
    assert _snapshot(folder) == before


def test_foreign_sqlite_file_is_not_a_project(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    con = sqlite3.connect(folder / "project.sqlite")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = _snapshot(folder)
    with pytest.raises(ProjectError, match="not an inkubator project database"):
        Store.open(folder)
    assert _snapshot(folder) == before


def test_newer_schema_is_refused_without_changes(store):
    store._con.execute("PRAGMA user_version = 99")
    store.close()
    before = _snapshot(store.root)
    with pytest.raises(ProjectError, match="newer inkubator"):
        Store.open(store.root)
    assert _snapshot(store.root) == before


def test_migration_upgrades_with_a_backup(store, monkeypatch):
    store.add_message("director", "kept across the upgrade")
    store.close()
    monkeypatch.setattr(migrations, "MIGRATIONS",
                        migrations.MIGRATIONS + ["ALTER TABLE chat ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;"])
    version = len(migrations.MIGRATIONS) - 1
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", len(migrations.MIGRATIONS))
    upgraded = Store.open(store.root)
    assert upgraded.schema_version == version + 1
    cols = [r[1] for r in upgraded._con.execute("PRAGMA table_info(chat)")]
    assert "pinned" in cols
    assert [m.text for m in upgraded.messages()] == ["kept across the upgrade"]
    assert (store.root / f"project.sqlite.v{version}.bak").is_file()
    assert any(f"migrated to version {version + 1}" in what for _, what in upgraded.history())


def test_a_version_1_project_is_migrated_to_the_current_schema(tmp_path, monkeypatch):
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 1)
    old = Store.create(tmp_path / "old")
    with old.transaction() as c:  # the version 1 way of writing a message
        c.execute("INSERT INTO chat (role, text, created_at) VALUES ('director', 'from a version 1 project', 'x')")
    old.close()
    monkeypatch.undo()
    new = Store.open(tmp_path / "old")
    assert new.schema_version == migrations.SCHEMA_VERSION
    msg = new.messages()[0]
    assert msg.text == "from a version 1 project" and msg.data == {}
    new.add_message("agent", "with data", {"ops": [1]})
    assert new.messages()[1].data == {"ops": [1]}


def test_failed_transaction_changes_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as c:
            c.execute("INSERT INTO chat (role, text, created_at) VALUES ('director', 'x', 'now')")
            raise RuntimeError("boom")
    assert store.messages() == []


def test_write_interrupted_between_temp_file_and_rename(store, tmp_path, monkeypatch):
    src = tmp_path / "frame.png"
    src.write_bytes(b"\x89PNG fake but fine")
    prov = Provenance(tool="keyframes", backend="t")

    real_replace = os.replace

    def crash(a, b):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        store.assets.put_file(src, prov)
    monkeypatch.setattr(os, "replace", real_replace)
    files = [p for p in store.assets.root.rglob("*") if p.is_file()]
    assert files == [], "neither a partial asset nor its temp file is left behind"
    assert store.drafts() == []

    # a hard kill can still leave a temp file; the next open sweeps it once it is stale
    (store.assets.root / "ab").mkdir(exist_ok=True)
    leftover = store.assets.root / "ab" / ".tmp-abc123"
    leftover.write_bytes(b"half a file")
    hour_ago = time.time() - STALE_TEMP_S - 60
    os.utime(leftover, (hour_ago, hour_ago))
    store.close()
    reopened = Store.open(store.root)
    assert not leftover.exists()
    rel = reopened.assets.put_file(src, prov)
    assert reopened.assets.path(rel).read_bytes() == src.read_bytes()
    assert reopened.assets.path(rel).with_name(reopened.assets.path(rel).name + ".json").is_file()


def test_assets_are_content_addressed_and_readable_by_others(store, tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    prov = Provenance(tool="voice", backend="t")
    rel = store.assets.put_file(a, prov)
    assert rel == store.assets.put_file(b, prov)
    # not mkstemp's private 0600: what the umask allows, like any file a person saves
    from inkubator_tui.project.assets import FILE_MODE, _umask

    assert store.assets.path(rel).stat().st_mode & 0o777 == FILE_MODE == 0o666 & ~_umask()


def test_drafts_round_trip(store):
    prov = Provenance(tool="keyframes", backend="x", seed=4, parameters={"steps": 3})
    d1 = store.add_draft(step=Step.KEYFRAMES, target="s1", cache_key="k", deps_key="d", provenance=prov)
    d2 = store.add_draft(step=Step.KEYFRAMES, target="s1", cache_key="k2", deps_key="d", provenance=prov)
    assert (d1.version, d2.version) == (1, 2)
    store.set_status(d1.id, DraftStatus.REJECTED, note="too dark")
    got = store.draft(d1.id)
    assert got.status == DraftStatus.REJECTED and got.note == "too dark" and got.provenance.seed == 4
    with pytest.raises(ProjectError, match="no draft 99"):
        store.draft(99)


def test_opening_a_project_leaves_a_running_writes_temp_and_never_sweeps_through_links(store, tmp_path):
    """Issue 15: a `status` during `produce` swept the keyframe jobs' temp files, and a
    symlinked `assets/ab` let the sweep delete files outside the project."""
    old = time.time() - STALE_TEMP_S - 60
    (store.assets.root / "cd").mkdir(parents=True, exist_ok=True)
    running = store.assets.root / "cd" / ".tmp-being-written"
    running.write_bytes(b"a write in progress")
    stale = store.assets.root / "cd" / ".tmp-killed"
    stale.write_bytes(b"left by a kill")
    os.utime(stale, (old, old))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    theirs = outside / ".tmp-someone-elses"
    theirs.write_bytes(b"not ours")
    os.utime(theirs, (old, old))
    (store.assets.root / "ef").symlink_to(outside, target_is_directory=True)
    store.close()
    Store.open(store.root).close()
    assert running.exists(), "a temp still being written (fresh) is not swept"
    assert not stale.exists(), "a stale one is"
    assert theirs.exists(), "nothing is swept through a link"

    shutil.rmtree(store.assets.root)
    store.assets.root.symlink_to(outside, target_is_directory=True)
    assert Store.open(store.root).assets.sweep_temporaries() == 0 and theirs.exists()
