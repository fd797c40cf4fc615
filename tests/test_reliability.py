"""What a second process, a kill or a half-made folder must never do to a project (issue 15)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from inkubator_tui.cli import main
from inkubator_tui.project.models import Provenance, Step
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
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
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
