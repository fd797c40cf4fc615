"""Gates, versions, staleness, cache, runner: the pipeline's promises."""

from __future__ import annotations

import threading

import pytest

from conftest import FIVE_SHOTS, approve_all, produce_all
from inkubator_tui.pipeline.backend import CancelToken
from inkubator_tui.project.models import DraftStatus, Step
from inkubator_tui.project.store import ProjectError
from inkubator_tui.views import project_status


def statuses(pipe, step):
    return {d.target: d.status for d in pipe.store.drafts(step)}


def test_beats_draft_waits_for_approval_and_blocks_downstream(pipe, doubles):
    report = pipe.draft_beats(FIVE_SHOTS)
    assert len(report.created) == 1 and report.created[0].status == DraftStatus.PENDING
    assert pipe.store.sheet() is None
    kf = pipe.run_step(Step.KEYFRAMES)
    assert kf.created == [] and kf.blocked and "beats not approved" in kf.blocked[0].reason
    assert doubles[Step.KEYFRAMES].calls == []


def test_motion_says_which_inputs_are_unapproved(pipe, doubles):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    kf = pipe.run_step(Step.KEYFRAMES)
    assert len(kf.created) == 5
    first = kf.created[0]
    pipe.approve(first.id, approver="t")
    motion = pipe.run_step(Step.MOTION)
    assert len(motion.created) == 1
    assert len(motion.blocked) == 4
    assert all("awaits approval" in b.reason and b.label.startswith("shot ") for b in motion.blocked)
    anim = pipe.run_step(Step.ANIMATIC)
    assert anim.created == [] and "shot 2" in anim.blocked[0].reason


def test_every_generation_is_a_new_version_and_approval_supersedes(pipe, store, doubles):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    shot1 = store.sheet().shots[0]
    v1 = pipe.run_step(Step.KEYFRAMES, only={shot1.id}).created[0]
    pipe.reject(v1.id, note="make it moodier", approver="t")
    v2 = pipe.run_step(Step.KEYFRAMES, only={shot1.id}).created[0]
    assert (v1.version, v2.version) == (1, 2)
    # the redo got a new seed and the director's note
    assert doubles[Step.KEYFRAMES].calls[-1][1] != doubles[Step.KEYFRAMES].calls[0][1]
    assert doubles[Step.KEYFRAMES].calls[-1][2] == "make it moodier"
    assert store.draft(v1.id).status == DraftStatus.REJECTED  # kept for the record
    pipe.approve(v2.id, approver="ana")
    d = store.draft(v2.id)
    assert d.status == DraftStatus.APPROVED
    assert d.provenance.approver == "ana" and d.provenance.approved_at
    # candidates: several pending versions, approving one supersedes the rest
    pipe.registry.config.keyframe.candidates = 3
    shot2 = store.sheet().shots[1]
    cands = pipe.run_step(Step.KEYFRAMES, only={shot2.id}).created
    assert len(cands) == 3 and len({c.files[0] for c in cands}) == 3
    pipe.approve(cands[1].id, approver="t")
    assert [store.draft(c.id).status for c in cands] == [DraftStatus.SUPERSEDED, DraftStatus.APPROVED,
                                                        DraftStatus.SUPERSEDED]


def test_revising_shot_3_of_5_marks_only_its_dependants_stale(pipe, store):
    produce_all(pipe)
    sheet = store.sheet()
    assert len(sheet.shots) == 5
    s3 = sheet.shots[2]
    before = {d.id: d.status for d in store.drafts()}
    assert all(st == DraftStatus.APPROVED for st in before.values())
    pipe.revise_shot("3", {"size": "ECU"})
    after = {d.id: (d.step, d.target, d.status) for d in store.drafts()}
    stale = {(step, target) for step, target, st in after.values() if st == DraftStatus.STALE}
    assert stale == {(Step.KEYFRAMES, s3.id), (Step.MOTION, s3.id), (Step.ANIMATIC, "project")}
    # a changed line: only that line's voice and the animatic
    produce_again = pipe.run_step(Step.KEYFRAMES)
    assert len(produce_again.created) == 1 and produce_again.up_to_date == 4


def test_changing_a_line_stales_that_voice_and_the_animatic_only(pipe, store):
    produce_all(pipe)
    s4 = store.sheet().shot("4")
    assert s4.dialogue, "shot 4 has Mira's line"
    line = s4.dialogue[0].model_copy(update={"text": "It finally works."})
    pipe.revise_shot("4", {"dialogue": [line.model_dump()]})
    stale = {(d.step, d.target) for d in store.drafts(status=DraftStatus.STALE)}
    assert stale == {(Step.VOICE, s4.dialogue[0].id), (Step.ANIMATIC, "project")}


def test_second_run_of_unchanged_project_does_no_work(pipe, doubles):
    produce_all(pipe)
    calls = {s: len(d.calls) for s, d in doubles.items()}
    n_drafts = len(pipe.store.drafts())
    again = pipe.draft_beats(FIVE_SHOTS)
    assert again.created == [] and again.up_to_date == 1
    for step in (Step.KEYFRAMES, Step.MOTION, Step.VOICE, Step.ANIMATIC):
        r = pipe.run_step(step)
        assert r.created == [] and r.cached == [] and r.up_to_date >= 1
    assert {s: len(d.calls) for s, d in doubles.items()} == calls
    assert len(pipe.store.drafts()) == n_drafts


def test_unchanged_inputs_hit_the_content_addressed_cache(pipe, store, doubles):
    produce_all(pipe)
    calls = len(doubles[Step.KEYFRAMES].calls)
    shot3 = store.sheet().shot("3")
    original = store.drafts(Step.KEYFRAMES, shot3.id)[0]
    pipe.revise_shot("3", {"size": "ECU"})
    pipe.revise_shot("3", {"size": shot3.size.value})
    # back to the original camera: same inputs → the cached files, no backend call
    r = pipe.run_step(Step.KEYFRAMES)
    assert len(r.cached) == 1 and r.created == []
    assert len(doubles[Step.KEYFRAMES].calls) == calls
    assert r.cached[0].files == original.files
    assert r.cached[0].provenance.parameters["cached_from_draft"] == original.id


def test_one_failing_job_leaves_the_others_and_the_store_intact(pipe, store, doubles):
    doubles[Step.KEYFRAMES].fail_on = {"2"}
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    r = pipe.run_step(Step.KEYFRAMES)
    assert len(r.created) == 4 and len(r.failed) == 1
    assert r.failed[0][0] == "shot 2" and "double failed on 2" in r.failed[0][1]
    assert len(store.drafts(Step.KEYFRAMES)) == 4
    doubles[Step.KEYFRAMES].fail_on = set()
    r2 = pipe.run_step(Step.KEYFRAMES)
    assert len(r2.created) == 1 and r2.up_to_date == 4


def test_cancel_stops_running_and_queued_jobs(pipe, store, doubles):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    doubles[Step.KEYFRAMES].gate = threading.Event()
    cancel = CancelToken()
    events = []

    def on_progress(e):
        events.append(e)
        if e.message == "waiting":
            cancel.cancel()

    r = pipe.run_step(Step.KEYFRAMES, cancel=cancel, on_progress=on_progress)
    assert r.cancelled and r.created == []
    assert store.drafts(Step.KEYFRAMES) == []
    assert not [p for p in (store.root / ".work").iterdir() if p.name != "writer.lock"], \
        "job scratch folders are cleaned up"


def test_progress_events_come_with_fractions(pipe, doubles):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    events = []
    pipe.run_step(Step.KEYFRAMES, on_progress=events.append)
    by_job = {}
    for e in events:
        by_job.setdefault(e.job, []).append(e.fraction)
    assert set(by_job) == {f"shot {n}" for n in "12345"}
    assert all(fr[-1] == 1.0 and 0.5 in fr for fr in by_job.values())


def test_stale_draft_cannot_be_approved(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    d = next(d for d in pipe.run_step(Step.KEYFRAMES).created if d.target == store.sheet().shot("3").id)
    pipe.revise_shot("3", {"movement": "pan"})
    assert store.draft(d.id).status == DraftStatus.STALE
    with pytest.raises(ProjectError, match="stale"):
        pipe.approve(d.id)


def test_new_notes_keep_ids_of_shots_that_stay(pipe, store):
    produce_all(pipe)
    ids = [s.id for s in store.sheet().shots]
    changed = FIVE_SHOTS.replace("Oskar opens the door.", "Oskar kicks the door open.")
    r = pipe.draft_beats(changed)
    assert len(r.created) == 1
    approve_all(pipe, Step.BEATS)
    assert [s.id for s in store.sheet().shots] == ids
    stale = {d.target for d in store.drafts(Step.KEYFRAMES, status=DraftStatus.STALE)}
    assert stale == {ids[1]}


def test_status_contract(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    st = project_status(pipe)
    assert [s["steps"]["beats"] for s in st["shots"]] == ["pending"] * 5
    approve_all(pipe, Step.BEATS)
    pipe.run_step(Step.KEYFRAMES)
    st = project_status(pipe)
    shot = st["shots"][3]
    assert set(shot) >= {"id", "number", "size", "angle", "movement", "duration_s", "action", "characters",
                         "dialogue", "steps"}
    assert shot["dialogue"] == [{"character": "Mira", "text": "It works.", "delivery": ""}]  # additive: delivery
    assert shot["steps"] == {"beats": "approved", "keyframes": "pending", "motion": "todo", "translate": "n/a",
                             "voice": "todo", "animatic": "todo"}
    assert st["shots"][0]["steps"]["voice"] == "n/a"
