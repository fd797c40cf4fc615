"""The rule-based beat splitter: structure, dialogue, characters, camera words."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from inkubator_tui.agents.notes import parse_notes
from inkubator_tui.project.models import BeatSheet

HEIST = """# The Vault

## INT. BANK VAULT - NIGHT

Low angle on the vault door as it swings open. JONAS steps through, torch in hand.
Ella whispers, "Ten minutes. Not a second more."
Overhead shot of the two of them crossing the floor, then smash cut to the alarm panel blinking red.

## EXT. CITY ROOFTOP - DAWN

Aerial wide shot: the city wakes up. Slow pan across the rooftops.
"You knew," Ella says.
"""

FOUNTAIN = """INT. KITCHEN - DAY

Steam rises from a pot.

JONAS
(whispering)
Where is it?

ELLA
I sold it.

EXT. STREET - NIGHT

POV: the car's headlights sweep the wet road. Dolly out from the crowd.
"""


def test_scenes_shots_and_camera_words():
    sheet = parse_notes(HEIST)
    assert sheet.title == "The Vault"
    assert [s.heading for s in sheet.scenes] == ["INT. BANK VAULT - NIGHT", "EXT. CITY ROOFTOP - DAWN"]
    by_action = {s.action.split()[0]: s for s in sheet.shots}
    assert by_action["Low"].angle == "low"
    assert by_action["Overhead"].angle == "overhead"
    assert by_action["Aerial"].angle == "aerial" and by_action["Aerial"].size == "WS"
    assert by_action["Slow"].movement == "pan"
    assert any(s.action.startswith("The alarm panel") for s in sheet.shots), "smash cut starts a new shot"
    assert [s.number for s in sheet.shots] == [str(i + 1) for i in range(len(sheet.shots))]


def test_dialogue_is_verbatim_with_speaker_and_delivery():
    sheet = parse_notes(HEIST)
    lines = [(dl.character, dl.text, dl.delivery) for s in sheet.shots for dl in s.dialogue]
    assert lines == [("Ella", "Ten minutes. Not a second more.", "whispers"), ("Ella", "You knew", "")]
    for s in sheet.shots:
        for dl in s.dialogue:
            assert dl.text in HEIST
            assert dl.character in s.characters


def test_every_named_character_is_listed():
    sheet = parse_notes(HEIST)
    assert {c.name for c in sheet.characters} == {"Jonas", "Ella"}


def test_fountain_cues_parentheticals_and_scene_headings():
    sheet = parse_notes(FOUNTAIN)
    assert [s.heading for s in sheet.scenes] == ["INT. KITCHEN - DAY", "EXT. STREET - NIGHT"]
    talk = [(dl.character, dl.text, dl.delivery) for s in sheet.shots for dl in s.dialogue]
    assert talk == [("Jonas", "Where is it?", "whispering"), ("Ella", "I sold it.", "")]
    pov = next(s for s in sheet.shots if s.action.startswith("POV"))
    assert pov.size == "POV" and pov.scene == 2
    assert next(s for s in sheet.shots if s.action.startswith("Dolly")).movement == "dolly-out"


def test_durations_grow_with_dialogue():
    sheet = parse_notes('Mira waits.\nOskar says, "I have been waiting here for you for a very long time, '
                        'longer than you will ever know."')
    quiet, talking = sheet.shots
    assert not quiet.dialogue and talking.dialogue
    assert talking.duration_s > quiet.duration_s


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=600))
def test_any_text_gives_a_valid_sheet(text):
    sheet = parse_notes(text)
    BeatSheet.model_validate(sheet.model_dump())  # every bound holds
    names = {c.name for c in sheet.characters}
    for s in sheet.shots:
        assert set(s.characters) <= names
        assert {dl.character for dl in s.dialogue} - {""} <= names  # "" = speaker unknown: the agent asks
        assert set(s.characters) <= names


def test_numbered_shots_stay_whole_and_a_voice_over_is_heard_not_drawn():
    sheet = parse_notes('SPOT: "Morning Ritual" (30s, coffee)\n\n'
                        "Shot 1 - macro on beans tumbling. Slow motion.\nVO (warm): Every morning starts somewhere.\n"
                        "SHOT 2:\nMedium. LENA (30s) shuffles in. She yawns.\nLENA: Five more minutes.\n"
                        "Sh. 3 close-up on the cup.\nV.O.: Make it yours.\nVO: warm, female, 40s\n")
    assert sheet.title == "Morning Ritual"
    assert [s.size.value for s in sheet.shots] == ["ECU", "MS", "CU"], "one shot per number, sentences and all"
    assert [(ln.character, ln.text, ln.delivery) for s in sheet.shots for ln in s.dialogue] == [
        ("Narrator", "Every morning starts somewhere.", "warm"), ("Lena", "Five more minutes.", ""),
        ("Narrator", "Make it yours.", "")], "`VO: warm, female, 40s` is casting, not a line"
    assert [s.characters for s in sheet.shots] == [[], ["Lena"], []], "the narrator is not in the picture"
