"""What a second process, a kill or a half-made folder must never do to a project (issue 15)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from inkubator_tui.cli import main
from inkubator_tui.project.models import DraftStatus, Provenance, Step
from inkubator_tui.project.store import DB_NAME, ProjectError, Store


def _child(code: str, *args: str) -> subprocess.Popen:
    """A second process running `code`; it prints "ready" once it holds what it holds."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


HOLD = """
    import sys, time
    from inkubator_tui.project.store import Store
    s = Store.open(sys.argv[1])
    print("ready", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    Store.create(tmp_path / "p").close()
    child = _child(HOLD, str(tmp_path / "p"))
    assert child.stdout.readline().strip() == "ready", child.stderr.read()
    yield tmp_path / "p", child
    child.kill()
    child.wait()


def test_a_second_writer_is_refused_naming_the_first(holder, capsys):
    root, child = holder
    with pytest.raises(ProjectError, match=rf"another inkubator \(pid {child.pid}.*\) is working on this project"):
        Store.open(root)
    # the CLI says it in one line and changes nothing
    before = (root / DB_NAME).read_bytes()
    assert main(["approve", "--project", str(root), "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"pid {child.pid}" in err and "wait for it to finish" in err
    assert (root / DB_NAME).read_bytes() == before


def test_readers_look_while_a_writer_works(holder, capsys):
    root, child = holder
    assert main(["status", "--project", str(root), "--json"]) == 0
    assert '"shots": []' in capsys.readouterr().out
    assert main(["log", "--project", str(root)]) == 0
    assert "project created" in capsys.readouterr().out
    reader = Store.open(root, write=False)
    assert not reader.writable
    with pytest.raises(ProjectError, match="read-only"):
        reader.log("a reader cannot write")
    reader.close()


def test_the_lock_goes_with_a_killed_writer(holder):
    root, child = holder
    child.send_signal(signal.SIGKILL)
    child.wait()
    Store.open(root).close()  # the kernel let go of the dead process's lock


def test_one_process_shares_its_lock_and_gives_it_back(tmp_path):
    a = Store.create(tmp_path / "p")
    b = Store.open(tmp_path / "p")  # the same process: the same writer
    a.close()
    b.log("still the writer")
    b.close()
    child = _child(HOLD, str(tmp_path / "p"))
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
    finally:
        child.kill()
        child.wait()


def test_two_produce_runs_one_refused(tmp_path):
    """The issue's case: a second `produce` on a busy project stops at once, drafting nothing."""
    root = tmp_path / "p"
    Store.create(root).close()
    child = _child(HOLD, str(root))
    try:
        assert child.stdout.readline().strip() == "ready"
        notes = tmp_path / "notes.txt"
        notes.write_text("INT. KITCHEN - NIGHT\nAna pours tea.\n")
        run = subprocess.run([sys.executable, "-m", "inkubator_tui", "produce", str(notes), "--project", str(root),
                              "--set", "llm.backend=rules"], capture_output=True, text=True, timeout=300)
        assert run.returncode == 1
        assert f"another inkubator (pid {child.pid}" in run.stderr and run.stderr.count("\n") == 1
    finally:
        child.kill()
        child.wait()
    with Store.open(root, write=False) as s:
        assert s.drafts() == []


# ---- a kill during `inkubator new` ------------------------------------------------------------

def test_a_half_made_new_project_is_finished_not_refused(tmp_path, capsys):
    root = tmp_path / "p"
    for sub in ("assets", "exports", ".work"):
        (root / sub).mkdir(parents=True)
    (root / ".gitignore").write_text(".work/\n")
    (root / f"{DB_NAME}.new").write_bytes(b"SQLite format 3\x00 half written")
    # opening it says what happened and what to do
    assert main(["status", "--project", str(root)]) == 1
    assert "half-made by an interrupted `inkubator new`" in capsys.readouterr().err
    # and `new` finishes it
    assert main(["new", str(root)]) == 0
    with Store.open(root) as s:
        assert s.history()[0][1] == "project created"
    assert not list(root.glob(f"{DB_NAME}.new*"))


def test_a_kill_inside_new_leaves_something_new_can_finish(tmp_path):
    """SIGKILL the creating process at the moment its database is still being built."""
    code = """
        import os, signal, sys
        from inkubator_tui.project import store as st
        real = st.Store._migrate
        def killed(self, *a, **k):
            real(self, *a, **k)
            os.kill(os.getpid(), signal.SIGKILL)  # schema written, project not yet in place
        st.Store._migrate = killed
        st.Store.create(sys.argv[1])
    """
    root = tmp_path / "p"
    child = _child(code, str(root))
    child.wait(timeout=120)
    assert child.returncode == -signal.SIGKILL
    assert not (root / DB_NAME).exists()  # never a database that is not a whole project
    Store.create(root).close()
    with Store.open(root) as s:
        assert s.settings.title == "Untitled"


def test_a_folder_with_the_users_files_is_still_refused(tmp_path):
    (tmp_path / "p" / "assets").mkdir(parents=True)
    (tmp_path / "p" / "assets" / "mine.png").write_bytes(b"x")
    with pytest.raises(ProjectError, match="not empty"):
        Store.create(tmp_path / "p")


# ---- the write-ahead log --------------------------------------------------------------------

def test_closing_folds_the_wal_into_the_database(tmp_path):
    s = Store.create(tmp_path / "p")
    s.add_message("director", "everything in project.sqlite")
    s.close()
    assert not (tmp_path / "p" / f"{DB_NAME}-wal").exists() or \
        (tmp_path / "p" / f"{DB_NAME}-wal").stat().st_size == 0
    _only_the_database_holds(tmp_path / "p", tmp_path / "copy", "everything in project.sqlite")


def test_after_a_kill_the_next_open_folds_the_wal_in(tmp_path):
    root = tmp_path / "p"
    Store.create(root).close()
    code = """
        import os, signal, sys
        from inkubator_tui.project.store import Store
        s = Store.open(sys.argv[1])
        s.add_message("director", "said before the kill")
        os.kill(os.getpid(), signal.SIGKILL)
    """
    child = _child(code, str(root))
    child.wait(timeout=120)
    assert (root / f"{DB_NAME}-wal").stat().st_size > 0  # the kill left it all in the log
    s = Store.open(root)  # the app opening it again, and staying open
    _only_the_database_holds(root, tmp_path / "copy", "said before the kill")
    s.close()


def _only_the_database_holds(root, copy, text):
    """What a person copies or commits (the .gitignore leaves the -wal out) is complete."""
    copy.mkdir()
    (copy / DB_NAME).write_bytes((root / DB_NAME).read_bytes())
    con = sqlite3.connect(copy / DB_NAME)
    assert [r[0] for r in con.execute("SELECT text FROM chat")] == [text]
    con.close()


def test_a_reader_changes_nothing(tmp_path):
    s = Store.create(tmp_path / "p")
    s.add_draft(step=Step.KEYFRAMES, target="s1", cache_key="k", deps_key="d",
                provenance=Provenance(tool="t", backend="b"))
    s.close()
    before = (tmp_path / "p" / DB_NAME).read_bytes()
    with Store.open(tmp_path / "p", write=False) as r:
        assert len(r.drafts()) == 1
    assert (tmp_path / "p" / DB_NAME).read_bytes() == before


# ---- symbolic links inside a project ----------------------------------------------------------

def _copy(produced_project, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(produced_project, root)
    return root


def test_exports_never_go_through_a_link(produced_project, tmp_path, capsys):
    root = _copy(produced_project, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(root / "exports")
    (root / "exports").symlink_to(outside)
    assert main(["export", "--project", str(root), "--no-sign"]) == 1
    err = capsys.readouterr().err
    assert "exports is a symbolic link" in err and err.count("\n") == 1
    assert list(outside.iterdir()) == []


def test_assets_never_go_through_a_link(tmp_path):
    s = Store.create(tmp_path / "p")
    outside = tmp_path / "outside"
    outside.mkdir()
    src = tmp_path / "pic.png"
    src.write_bytes(b"a picture")
    digest = hashlib.sha256(b"a picture").hexdigest()
    (s.assets.root / digest[:2]).symlink_to(outside)
    with pytest.raises(ProjectError, match="symbolic link"):
        s.assets.put_file(src, Provenance(tool="t", backend="b"))
    assert list(outside.iterdir()) == []
    s.close()


def test_a_linked_asset_never_reaches_an_export(produced_project, tmp_path, capsys):
    """The issue's case: a pending asset swapped for a link to a secret file."""
    root = _copy(produced_project, tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"the password is swordfish" * 100)
    with Store.open(root) as s:
        clip = s.drafts(Step.ANIMATIC, status=DraftStatus.APPROVED)[0].files[0]
    (root / "exports" / "animatic.mp4").unlink()
    (root / clip).unlink()
    (root / clip).symlink_to(secret)
    assert main(["export", "--project", str(root), "--format", "animatic", "--no-sign"]) == 1
    assert f"{clip} is a symbolic link" in capsys.readouterr().err
    assert not any(b"swordfish" in p.read_bytes() for p in (root / "exports").rglob("*") if p.is_file())


# ---- assets changed or lost behind the project's back -----------------------------------------

def test_status_marks_verify_lists_and_jobs_refuse_a_changed_asset(produced_project, tmp_path, capsys):
    root = _copy(produced_project, tmp_path)
    with Store.open(root) as s:
        kf = s.drafts(Step.KEYFRAMES, status=DraftStatus.APPROVED)
        gone, changed = kf[0].files[0], kf[1].files[0]
    (root / gone).unlink()
    (root / changed).write_bytes((root / changed).read_bytes() + b"tampered")
    assert main(["status", "--project", str(root), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [m["file"] for m in status["missing"]] == [gone]  # status looks without hashing
    assert status["shots"][0]["steps"]["keyframes"] == "missing"
    assert main(["verify", "--project", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{gone} is missing" in out and f"{changed} is changed since it was made" in out
    assert "2 problem(s)" in out
    # an export that copies the pictures says which file and what to do, in one line
    assert main(["export", "--project", str(root), "--format", "media", "--no-sign"]) == 1
    err = capsys.readouterr().err
    assert "is missing" in err or "changed since it was made" in err
    assert err.count("\n") == 1
    # the storyboard draws the gaps and says why, never the changed picture
    assert main(["export", "--project", str(root), "--format", "html", "--no-sign"]) == 0
    err = capsys.readouterr().err
    assert f"{gone} is missing" in err and f"{changed} is changed since it was made" in err
    html = (root / "exports" / "storyboard.html").read_text()
    assert "keyframe file missing" in html and "keyframe file is changed since it was made" in html


def test_verify_says_all_whole_on_a_whole_project(produced_project, tmp_path, capsys):
    root = _copy(produced_project, tmp_path)
    assert main(["verify", "--project", str(root)]) == 0
    assert "all whole" in capsys.readouterr().out


# ---- a kill between an approval and what follows from it --------------------------------------

def test_a_kill_after_the_animatic_approval_is_made_good_by_the_next_run(produced_project, tmp_path, capsys,
                                                                          monkeypatch):
    from inkubator_tui.config import load_config
    from inkubator_tui.pipeline.pipeline import Pipeline
    from inkubator_tui.pipeline.registry import Registry

    root = _copy(produced_project, tmp_path)
    with Store.open(root) as s:
        pipe = Pipeline(s, Registry(load_config().config))
        d = s.drafts(Step.ANIMATIC, status=DraftStatus.APPROVED)[0]
        before = d.provenance.model_copy(update={"approver": "", "approved_at": "", "approval_mode": ""})
        s.set_status(d.id, DraftStatus.PENDING, provenance=before)  # as it was just before its approval
        s.assets.write_sidecar(s.assets.path(d.files[0]), before)
        for f in (root / "exports").glob("animatic*"):
            f.unlink()

        class Killed(BaseException):
            pass

        def killed(*a, **k):
            raise Killed  # the process dies right after the approval's commit
        monkeypatch.setattr(s.assets, "write_sidecar", killed)
        with pytest.raises(Killed):
            pipe.approve(d.id, approver="tester")
    monkeypatch.undo()
    assert not json.loads((root / (d.files[0] + ".json")).read_text()).get("approver")
    assert not (root / "exports" / "animatic.mp4").exists()
    # the next run makes good what the kill left: the export and the approver in the sidecar
    assert main(["verify", "--project", str(root)]) == 1
    assert "exports/animatic.mp4 is missing" in capsys.readouterr().out
    assert main(["export", "--project", str(root), "--format", "csv"]) == 0
    assert (root / "exports" / "animatic.mp4").is_file()
    assert json.loads((root / (d.files[0] + ".json")).read_text())["approver"] == "tester"
    assert main(["verify", "--project", str(root)]) == 0


# ---- a full disk ----------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MB file system (tmpfs), where mounting is allowed (root, as in CI's container)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("needs mount rights for a small tmpfs; test_disk_full_by_a_patched_write checks the same "
                    "handling on any machine")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(folder):
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
        try:
            os.fsync(f.fileno())
        except OSError:
            pass


def test_a_full_disk_loses_nothing_and_the_project_resumes(small_disk, tmp_path, capsys):
    root = small_disk / "p"
    s = Store.create(root)
    s.add_message("director", "before the disk filled")
    _fill(small_disk)
    with pytest.raises(ProjectError, match=r"^disk full: .*nothing was lost: free some space and run it again$"):
        for _ in range(50):  # the log has a little room left in its pages; fill them too
            s.add_message("director", "x" * 200_000)
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(3 * 2**20))
    with pytest.raises(ProjectError, match=r"disk full: about 3 MB more is needed"):
        s.assets.put_file(big, Provenance(tool="t", backend="b"))
    assert not [p for p in (root / "assets").rglob("*") if p.is_file()], "no half-written asset is left"
    s.close()
    # still full: it opens (never "damaged"), a reader reads it, and a change says disk full in one line
    assert main(["status", "--project", str(root), "--json"]) == 0
    capsys.readouterr()
    assert main(["languages", "--project", str(root), "en", "fr"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("inkubator: disk full:") and err.count("\n") == 1
    # room again: it carries on where it was
    (small_disk / "filler").unlink()
    with Store.open(root) as again:
        said = [m.text for m in again.messages()]
        assert said[0] == "before the disk filled" and all(t == "x" * 200_000 for t in said[1:])
        again.add_message("director", "after")
        again.assets.put_file(big, Provenance(tool="t", backend="b"))
    assert main(["verify", "--project", str(root)]) == 0


def test_disk_full_by_a_patched_write(tmp_path, monkeypatch):
    """The same promises where no small file system can be mounted: SQLite told the disk holds
    no more pages than it has, and the asset copy failing with ENOSPC."""
    import errno

    from inkubator_tui.project import assets as assets_module

    s = Store.create(tmp_path / "p")
    pages = s._con.execute("PRAGMA page_count").fetchone()[0]
    s._con.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(ProjectError, match="^disk full: .*nothing was lost"):
        s.add_message("director", "x" * 100_000)
    assert s.messages() == []
    s._con.execute("PRAGMA max_page_count = 1073741823")
    s.add_message("director", "room again")

    def no_room(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(assets_module.shutil, "copyfileobj", no_room)
    src = tmp_path / "a.png"
    src.write_bytes(b"png" * 1000)
    with pytest.raises(ProjectError, match="^disk full: about 1 MB more is needed"):
        s.assets.put_file(src, Provenance(tool="t", backend="b"))
    assert not [p for p in s.assets.root.rglob("*") if p.is_file()]
    s.close()
    with Store.open(tmp_path / "p") as again:
        assert [m.text for m in again.messages()] == ["room again"]


# ---- a project someone else owns, or on a read-only disk ---------------------------------------

@pytest.fixture
def read_only(tmp_path):
    """Make a folder read-only for real: chmod for a user, a read-only bind mount for root."""
    made = []

    def make(folder):
        if os.geteuid() != 0:
            for p in [folder, *folder.rglob("*")]:
                p.chmod(p.stat().st_mode & ~0o222)
            made.append(lambda: [p.chmod(p.stat().st_mode | 0o200) for p in [folder, *folder.rglob("*")]])
            return
        if subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True).returncode:
            pytest.skip("root without mount rights cannot make a folder read-only")
        made.append(lambda: subprocess.run(["umount", "-l", str(folder)], capture_output=True))

    yield make
    for undo in made:
        undo()


def test_a_read_only_project_is_one_line_and_readers_still_read(produced_project, tmp_path, read_only, capsys):
    root = _copy(produced_project, tmp_path)
    read_only(root)
    assert main(["approve", "--project", str(root), "1"]) == 1
    err = capsys.readouterr().err
    assert "is read-only here" in err and "inkubator status" in err and err.count("\n") == 1
    assert main(["status", "--project", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shots"]
    assert main(["verify", "--project", str(root)]) == 0


# ---- the app as a writer ----------------------------------------------------------------------

async def test_the_app_refuses_a_busy_project_and_makes_good_a_killed_export(produced_project, tmp_path):
    from test_tui import chat_text, make_app, settle

    root = _copy(produced_project, tmp_path)
    for f in (root / "exports").glob("animatic*"):
        f.unlink()  # as a kill between the approval and the export leaves it
    busy = tmp_path / "busy"
    Store.create(busy).close()
    child = _child(HOLD, str(busy))
    try:
        assert child.stdout.readline().strip() == "ready"
        store = Store.open(root)
        app, _, _ = make_app(store)
        async with app.run_test(size=(110, 34)) as pilot:
            await settle(app, pilot)
            assert "made again after an interrupted run" in chat_text(app)
            assert (root / "exports" / "animatic.mp4").is_file()
            app.action_open_project(str(busy))
            await settle(app, pilot)
            assert f"another inkubator (pid {child.pid}" in chat_text(app)
            assert app.store.root == root, "the open project stays"
        store.close()
    finally:
        child.kill()
        child.wait()
