"""SIGKILL at 20 seeded moments across every step of a real headless run (issue 15).

kill_driver.py runs `produce --approve-all` on the embedded defaults (rules beats, sketch
keyframes, the camera move, Piper, the ffmpeg animatic) and kills itself at its Nth durable
moment. After each kill the project must open, every approved draft must have its files
(hash-checked) and its approval on record, nothing half-written may be referenced, and a
re-run must complete with the animatic exported and `inkubator verify` clean."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TWO_LINES

from inkubator_tui.pipeline.integrity import KEPT, check
from inkubator_tui.project.models import DraftStatus, Step
from inkubator_tui.project.store import Store

HERE = Path(__file__).parent
DRIVER = HERE / "kill_driver.py"
KILLS = 20
SEED = 15
FAST = ["--set", "llm.backend=rules", "--set", "keyframe.long_side=128", "--set", "motion.backend=camera",
        "--set", "runtime.threads=1"]


def _drive(project: Path, notes: Path, kill_at: int, moments: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(DRIVER), str(project), str(notes), str(kill_at), str(moments),
                           *FAST], capture_output=True, text=True, timeout=600, env=env)


def choose(labels: list[str], n: int, seed: int) -> list[int]:
    """`n` moments: one in every step and approval, the one right after the animatic's approval
    is committed (before its sidecar and export), the rest drawn with `seed`."""
    by_phase: dict[str, list[int]] = {}
    for line in labels:
        number, phase, _ = line.split(" ", 2)
        by_phase.setdefault(phase, []).append(int(number))
    rng = random.Random(seed)
    chosen = {rng.choice(moments) for moments in by_phase.values()}
    chosen |= {int(line.split()[0]) for line in labels if line.endswith("approve:animatic after commit")}
    rest = [int(line.split()[0]) for line in labels if int(line.split()[0]) not in chosen]
    chosen |= set(rng.sample(rest, n - len(chosen)))
    return sorted(chosen)


@pytest.fixture(scope="module")
def moments(tmp_path_factory) -> tuple[Path, list[str]]:
    """One whole run, killed nowhere: every moment's label, in order."""
    folder = tmp_path_factory.mktemp("kill")
    notes = folder / "notes.txt"
    notes.write_text(TWO_LINES)
    labels_file = folder / "moments.txt"
    run = _drive(folder / "whole", notes, -1, labels_file)
    assert run.returncode == 0, run.stderr[-2000:]
    labels = labels_file.read_text().split("\n")
    return notes, [x for x in labels if x]


def test_the_moments_cover_every_step(moments):
    _, labels = moments
    phases = {line.split()[1] for line in labels}
    assert {f"run:{s}" for s in ("beats", "keyframes", "motion", "voice", "animatic")} <= phases
    assert {f"approve:{s}" for s in ("beats", "keyframes", "motion", "voice", "animatic")} <= phases
    picked = choose(labels, KILLS, SEED)
    assert len(picked) == KILLS and len({labels[i - 1].split()[1] for i in picked}) >= 10


def _intact(root: Path) -> list[str]:
    """What is wrong with the project after a kill (nothing, we want): it opens; approved drafts
    have whole files and an approver on record; no live draft refers to a half-written file."""
    wrong = []
    with Store.open(root, write=False) as store:
        for d in store.drafts(status=KEPT):
            for rel in d.files:
                if trouble := store.assets.problem(rel):
                    wrong.append(f"draft {d.id} ({d.step.value}, {d.status.value}): {rel} is {trouble}")
            if d.status == DraftStatus.APPROVED and d.step != Step.BEATS and not d.provenance.approver:
                wrong.append(f"draft {d.id} is approved with no approver on record")
    return wrong


def test_a_kill_at_any_of_20_moments_loses_nothing_and_a_rerun_completes(moments, tmp_path):
    notes, labels = moments
    survived = []
    for at in choose(labels, KILLS, SEED):
        root = tmp_path / f"kill-{at}"
        killed = _drive(root, notes, at, tmp_path / "unused.txt")
        where = labels[at - 1]
        assert killed.returncode == -signal.SIGKILL, f"{where}: did not die there ({killed.stderr[-500:]})"
        if (root / "project.sqlite").exists():
            wrong = _intact(root)
            assert not wrong, f"after a kill at {where}: {wrong}"
        again = _drive(root, notes, -1, tmp_path / "again.txt")
        assert again.returncode == 0, f"after a kill at {where}, the re-run failed: {again.stderr[-1500:]}"
        with Store.open(root, write=False) as store:
            assert not check(store), f"after a kill at {where}: {[p.line() for p in check(store)]}"
            assert all(d.provenance.approver == "tester"
                       for d in store.drafts(status=DraftStatus.APPROVED) if d.step != Step.BEATS)
        assert (root / "exports" / "animatic.mp4").is_file(), f"after a kill at {where}: no animatic exported"
        survived.append(where)
    assert len(survived) == KILLS
