"""`produce --approve-all` in a child process that SIGKILLs itself at its Nth durable moment.

Used by test_kill.py. A moment is each place where something reaches the disk: a database
commit (just before and just after), an atomic rename, an fsync, a hard link. Run with N = -1
it kills nothing and writes each moment's label to MOMENTS (one per line), so the test can
choose moments in every step, including the windows between an approval and its files.

    python kill_driver.py PROJECT NOTES N MOMENTS [produce options...]
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

from inkubator_tui.pipeline import pipeline as pipeline_module
from inkubator_tui.project import store as store_module

project, notes, kill_at, moments_file, *extra = sys.argv[1:]
kill_at = int(kill_at)
count = 0
lock = threading.Lock()
labels: list[str] = []
doing = ["start"]  # the step or approval in progress


def moment(what: str) -> None:
    global count
    with lock:
        count += 1
        labels.append(f"{count} {doing[-1]} {what}")
        if count == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def counted(fn, what):
    def wrapper(*a, **k):
        moment(f"before {what}")
        out = fn(*a, **k)
        moment(f"after {what}")
        return out
    return wrapper


os.replace = counted(os.replace, "rename")
os.rename = counted(os.rename, "rename")
os.fsync = counted(os.fsync, "fsync")
os.link = counted(os.link, "link")

real_transaction = store_module.Store.transaction


@contextmanager
def transaction(self):
    outer = not self._con.in_transaction
    with real_transaction(self) as c:
        yield c
        if outer:
            moment("before commit")
    if outer:
        moment("after commit")


store_module.Store.transaction = transaction


def labelled(name: str, fn):
    def wrapper(self, step, *a, **k):
        doing.append(f"{name}:{getattr(step, 'value', step)}")
        try:
            return fn(self, step, *a, **k)
        finally:
            doing.pop()
    return wrapper


Pipeline = pipeline_module.Pipeline
Pipeline.run_step = labelled("run", Pipeline.run_step)
Pipeline.approve_step = labelled("approve", Pipeline.approve_step)
real_beats = Pipeline.draft_beats


def draft_beats(self, *a, **k):
    doing.append("run:beats")
    try:
        return real_beats(self, *a, **k)
    finally:
        doing.pop()


Pipeline.draft_beats = draft_beats

from inkubator_tui.cli import main  # noqa: E402 - after the patches, as a user's run would be

code = main(["produce", notes, "--project", project, "--approve-all", "--as", "tester", *extra])
if kill_at < 0:
    with open(moments_file, "w") as f:
        f.write("\n".join(labels) + "\n")
sys.exit(code)
