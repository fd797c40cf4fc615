"""Revision by conversation: requests → ops → a new beats draft → exact staleness."""

from __future__ import annotations

import pytest

from conftest import FIVE_SHOTS, approve_all, produce_all
from inkubator_tui.agents import edits, requests
from inkubator_tui.agents.conversation import Conversation
from inkubator_tui.agents.notes import parse_notes
from inkubator_tui.project.models import BeatSheet, DraftStatus, Step

SHEET = parse_notes(FIVE_SHOTS)


@pytest.mark.parametrize("text, expected", [
    ("make shot 3 a close-up", [edits.Change(shot="3", changes=edits.ShotChanges(size="CU"))]),
    ("shot 2: slow push in, 4 seconds", [edits.Change(shot="2", changes=edits.ShotChanges(
        duration_s=4, movement="dolly-in"))]),
    ("make shots 1 and 5 low angle", [edits.Change(shot="1", changes=edits.ShotChanges(angle="low")),
                                      edits.Change(shot="5", changes=edits.ShotChanges(angle="low"))]),
    ("add a shot of the drone landing after 2", [edits.Add(after="2", action="The drone landing.")]),
    ("add a close-up shot of Mira's face before shot 4", [edits.Add(after="3", action="Mira's face.", size="CU")]),
    ("cut shot 4", [edits.Remove(shot="4")]),
    ("move shot 5 after 1", [edits.Move(shot="5", after="1")]),
    ("move shot 2 before 1", [edits.Move(shot="2", after="")]),
    # Mira speaks in one shot only, so the line op names it (same effect as shot "")
    ("Mira should whisper the line", [edits.Line(shot="4", character="Mira", delivery="whispers")]),
    ("give me two alternatives for the opening", [edits.Alternatives(shots=["1"], count=2)]),
    ("render keyframes for shots 2-3", [edits.Render(step="keyframes", shots=["2", "3"])]),
    ("voice the lines", [edits.Render(step="voice", shots=[])]),
])
def test_requests_become_ops(text, expected):
    assert requests.understand(text, SHEET) == (expected, "")


def test_unclear_requests_get_a_question_not_a_guess(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    conv = Conversation(pipe)
    for text in ("make it wider", "hmm, not sure about this"):
        reply = conv.send(text)
        assert reply.question and reply.drafts == [] and reply.plan == []
    assert "Which shot" in conv.send("make it a close-up").question
    assert "no shot 42" in conv.send("cut shot 42").question
    assert len(store.drafts(Step.BEATS)) == 1


def test_apply_numbers_inserts_like_a_script_supervisor():
    new, said = edits.apply_ops(SHEET, [edits.Add(after="2", action="Drone lands."),
                                        edits.Add(after="2", action="Drone lands again."),
                                        edits.Remove(shot="4"), edits.Move(shot="5", after="")])
    assert [s.number for s in new.shots] == ["5", "1", "2", "2B", "2A", "3"]
    assert said[0] == "added shot 2A after 2" and said[2] == "cut shot 4"
    with pytest.raises(edits.EditError, match="no shot 9"):
        edits.apply_ops(SHEET, [edits.Remove(shot="9")])
    with pytest.raises(edits.EditError, match="Oskar has no line"):
        edits.apply_ops(SHEET, [edits.Line(character="Oskar", delivery="shouts")])


def test_an_edit_is_a_new_draft_and_approving_it_stales_only_what_it_touched(pipe, store):
    produce_all(pipe)
    conv = Conversation(pipe)
    assert store.sheet().shot("3").size == "CU"
    reply = conv.send("make shot 3 a wide shot and 5 seconds")
    assert len(reply.drafts) == 1 and reply.drafts[0].status == DraftStatus.PENDING
    assert store.sheet().shot("3").size == "CU"  # not applied until approved
    ids = {s.number: s.id for s in store.sheet().shots}
    pipe.approve(reply.drafts[0].id, approver="t")
    assert store.sheet().shot("3").duration_s == 5 and store.sheet().shot("3").size == "WS" and [s.id for s in store.sheet().shots] == list(ids.values())
    stale = {(d.step, d.target) for d in store.drafts(status=DraftStatus.STALE)}
    assert stale == {(Step.KEYFRAMES, ids["3"]), (Step.MOTION, ids["3"]), (Step.ANIMATIC, "project")}
    # the same notes again: the edited sheet descends from them, so nothing is redrafted
    assert pipe.draft_beats(FIVE_SHOTS).up_to_date == 1


def test_delivery_change_stales_that_voice_and_the_animatic(pipe, store):
    produce_all(pipe)
    line_id = store.sheet().shot("4").dialogue[0].id
    d = Conversation(pipe).send("Mira should whisper the line").drafts[0]
    pipe.approve(d.id, approver="t")
    assert store.sheet().shot("4").dialogue[0].delivery == "whispers"
    stale = {(d.step, d.target) for d in store.drafts(status=DraftStatus.STALE)}
    assert stale == {(Step.VOICE, line_id), (Step.ANIMATIC, "project")}


def test_alternatives_are_sibling_drafts(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    reply = Conversation(pipe).send("give me two alternatives for the opening")
    a, b = reply.drafts
    sa, sb = (edits.find_shot(BeatSheet.model_validate(d.data["sheet"]), "1") for d in (a, b))
    assert (sa.size, sa.angle, sa.movement) != (sb.size, sb.angle, sb.movement)
    pipe.approve(b.id, approver="t")
    assert store.draft(a.id).status == DraftStatus.SUPERSEDED
    assert store.sheet().shot("1").size == sb.size


def test_proposed_tool_calls_run_only_after_approval(pipe, store, doubles):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    conv = Conversation(pipe)
    reply = conv.send("render keyframes for shots 2-3")
    assert reply.plan and store.drafts(Step.KEYFRAMES) == []
    msg_id, plan = conv.proposed()
    assert msg_id == reply.message_id and plan[0].step == "keyframes"
    reports = conv.run_plan(msg_id)
    assert len(reports[0].created) == 2
    assert {d.target for d in store.drafts(Step.KEYFRAMES)} == {store.sheet().shot(n).id for n in ("2", "3")}
    assert conv.proposed() is None
    with pytest.raises(Exception, match="no plan waiting"):
        conv.run_plan(msg_id)


def test_chat_is_persisted_and_first_message_drafts_beats(pipe, store):
    conv = Conversation(pipe)
    reply = conv.send(FIVE_SHOTS)
    assert reply.drafts and "Beat sheet draft" in reply.text
    roles = [(m.role, m.data.get("drafts")) for m in store.messages()]
    assert roles == [("director", None), ("agent", [reply.drafts[0].id])]
