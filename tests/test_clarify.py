"""The agent asks instead of guessing: who says an unattributed line, and what new
notes are for (replace the sheet, or add scenes)."""

from __future__ import annotations

import json

from conftest import approve_all
from inkubator_tui.agents.conversation import Conversation, looks_like_notes
from inkubator_tui.agents.notes import open_questions, parse_notes
from inkubator_tui.cli import main
from inkubator_tui.project.models import BeatSheet, Step

AMBIGUOUS = """INT. HOSPITAL CORRIDOR - NIGHT

Ana and Mira wait outside the ward, not speaking.
She says "Not here."
Ben walks past with two coffees.
"""

MORE = """INT. CAR PARK - DAWN

Ben unlocks the car. Ana gets in without a word.
Ben says "I'll drive."
"""


def _newest_sheet(pipe) -> BeatSheet:
    return BeatSheet.model_validate(pipe.pending(Step.BEATS)[-1].data["sheet"])


def test_an_ambiguous_speaker_is_kept_unknown_with_the_candidates():
    sheet = parse_notes(AMBIGUOUS)
    [(shot, index, line)] = open_questions(sheet)
    assert line.text == "Not here." and line.character == ""
    assert set(line.candidates) >= {"Ana", "Mira"}
    assert "Ben" not in line.candidates[:2], "the women just named come first"


def test_chat_asks_who_and_a_one_word_answer_fixes_the_line(pipe, store):
    conv = Conversation(pipe)
    reply = conv.send(AMBIGUOUS)
    assert reply.question.startswith("Who says “Not here.”")
    assert "Ana" in reply.question and "Mira" in reply.question
    first = reply.drafts[0]
    answer = conv.send("Mira")
    assert answer.drafts and answer.drafts[0].id != first.id, "the answer is a new beats draft"
    sheet = _newest_sheet(pipe)
    line = next(dl for s in sheet.shots for dl in s.dialogue if dl.text == "Not here.")
    assert line.character == "Mira" and not line.candidates
    assert not open_questions(sheet) and not answer.question
    # the earlier draft is untouched: nothing is overwritten
    assert store.draft(first.id).data["sheet"] != sheet.model_dump(mode="json")


def test_a_sentence_answer_names_the_speaker(pipe):
    conv = Conversation(pipe)
    conv.send(AMBIGUOUS)
    conv.send("it's Ana who says that")
    line = next(dl for s in _newest_sheet(pipe).shots for dl in s.dialogue if dl.text == "Not here.")
    assert line.character == "Ana"


def test_cli_chat_shows_the_question_and_takes_the_answer(tmp_path, capsys):
    project = tmp_path / "p"
    assert main(["new", str(project)]) == 0
    args = ["chat", "--project", str(project), "--set", "llm.backend=rules", "--json"]
    capsys.readouterr()
    assert main([*args, AMBIGUOUS]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["question"].startswith("Who says “Not here.”")
    assert main([*args, "Ana"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "Ana says “Not here.”" in out["reply"] and out["drafts"]


def test_new_notes_on_a_project_with_a_sheet_ask_replace_or_add(pipe):
    conv = Conversation(pipe)
    conv.send("Ana waits by the lift.\nBen says \"Ready?\"")
    approve_all(pipe, Step.BEATS)
    before = len(pipe.store.sheet().shots)
    reply = conv.send(MORE, notes=True)
    assert "replace" in reply.question.lower() and "add" in reply.question.lower()
    assert not reply.drafts, "nothing changes until the director answers"
    reply = conv.send("add them")
    sheet = _newest_sheet(pipe)
    assert len(sheet.shots) > before and sheet.shots[before].scene == 2
    assert [s.number for s in sheet.shots] == [str(i + 1) for i in range(len(sheet.shots))]
    assert any(dl.text == "I'll drive." for s in sheet.shots for dl in s.dialogue)


def test_new_notes_can_replace_the_sheet(pipe):
    conv = Conversation(pipe)
    conv.send("Ana waits by the lift.")
    approve_all(pipe, Step.BEATS)
    conv.send(MORE, notes=True)
    reply = conv.send("replace")
    sheet = BeatSheet.model_validate(reply.drafts[0].data["sheet"])
    assert sheet.scenes[0].heading == "INT. CAR PARK - DAWN"
    assert not any("lift" in s.action for s in sheet.shots)


def test_pasted_scenes_look_like_notes_and_requests_do_not():
    assert looks_like_notes(MORE)
    assert not looks_like_notes("make shot 2 a close-up and add a shot after 3 where the boat finally arrives")
    assert not looks_like_notes("cut shot 4")


def test_a_sheet_with_no_shots_is_not_offered_for_approval(pipe):
    reply = Conversation(pipe).send("Title: Nothing yet")
    assert "no shots" in reply.text
