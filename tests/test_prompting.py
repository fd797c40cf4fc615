"""Prompt composition for image models, over a corpus of actions written the way
directors write them."""

from __future__ import annotations

import re

import pytest

from inkubator_tui.pipeline.requests import KeyframeRequest
from inkubator_tui.project.camera_words import ANGLE_WORDS, MOVE_WORDS, SIZE_WORDS
from inkubator_tui.project.models import Angle, Shot, Size
from inkubator_tui.tools.keyframe import prompting

ACTIONS = [
    "Close on Oskar's hands as he ties the knot.",
    "Wide shot: the lab goes dark.",
    "Slow push in on the drone as it blinks awake.",
    "EXTREME CLOSE-UP of the key turning in the lock",
    "Low angle on Mira, looking up at her as she climbs the ladder.",
    "Over the shoulder of the guard, we see the gate open.",
    "Aerial: the convoy crawls along the coast road.",
    "Handheld, we follow Tomas through the crowd",
    "Medium shot - Ana laughs at the joke.",
    "POV through her eyes: the letter, shaking.",
    "Insert: the clock reads 4:05.",
    "Tilt up the tower to the broken window.",
    "Pan across the empty classroom.",
    "Dutch angle on the mirror, the face distorted.",
    "Establishing shot of the harbour at dawn, gulls overhead.",
    "Mira waits under the sign.",
    "The boat is late.",
    "Zoom in on the photograph on the wall.",
    "Crane up and away from the wedding party.",
    "High angle: the kids run across the playground.",
    "Tight on the phone screen: 3 missed calls.",
    "Pull back to reveal the whole burned-out house.",
    "Bird's eye view of the maze.",
    "Track with the cyclist along the canal.",
    "Medium close-up, Jonah whispers something we can't hear.",
    "Cowboy shot: the sheriff squares up.",
]


def req(action: str, **shot) -> KeyframeRequest:
    s = Shot(action=action, **shot)
    return KeyframeRequest(shot=s, prompt=action, width=640, height=360)


@pytest.mark.parametrize("action", ACTIONS)
def test_the_framing_is_said_once_in_the_models_words_and_the_action_keeps_its_subject(action):
    composed = prompting.compose(req(action, size=Size.CU, angle=Angle.LOW, lens="35"))
    head = "close-up shot, low-angle shot, 35mm lens, "
    assert composed.prompt.startswith(head)
    rest = composed.prompt[len(head):].split(", cinematic film still")[0]
    assert rest, action
    for pat, _ in (*SIZE_WORDS, *ANGLE_WORDS, *MOVE_WORDS):
        assert not re.search(pat, rest, re.I), (action, rest, pat)
    # the subject stays: the longest word of the action that is not a camera word survives
    words = [w for w in re.findall(r"[A-Za-z']{5,}", prompting.without_camera_words(action))]
    assert all(w in rest for w in words), (action, rest)


def test_camera_words_at_the_start_are_gone():
    assert prompting.without_camera_words("Close on Oskar's hands") == "Oskar's hands"
    assert prompting.without_camera_words("Wide shot: the lab goes dark.") == "The lab goes dark"
    assert prompting.without_camera_words("Slow push in on the drone") == "The drone"


def test_looks_style_and_note_are_composed_in_order_and_music_stays_with_the_crew():
    r = KeyframeRequest(shot=Shot(action="Mira reads the letter", characters=["Mira"]), prompt="Mira reads the letter",
                        width=640, height=360, looks={"Mira": "young woman in a red coat."},
                        style="Muted colours, overcast light\nMusic: a low cello under everything\nNo sound design",
                        note="warmer light")
    c = prompting.compose(r)
    assert c.prompt == ("medium shot, Mira reads the letter, warmer light, Mira, young woman in a red coat, "
                        "Muted colours, overcast light, cinematic film still")
    assert prompting.compose(r) == c  # deterministic


def test_what_the_encoder_cannot_read_is_dropped_whole_and_named():
    r = KeyframeRequest(shot=Shot(action="Mira reads the letter", characters=["Mira", "Oskar"]),
                        prompt="Mira reads the letter", width=640, height=360,
                        looks={"Mira": "young woman " * 20, "Oskar": "old man with a grey beard"},
                        style="watercolour, soft edges")
    count = lambda text: len(text.split())  # noqa: E731
    c = prompting.compose(r, count_tokens=count, budget=30)
    assert count(c.prompt) <= 30
    assert c.dropped[0].startswith("Mira, young woman")
    assert "Oskar, old man with a grey beard" in c.prompt  # a later part that fits still goes in
    assert "medium shot, Mira reads the letter" in c.prompt


def test_a_character_prompt_is_the_same_for_every_shot():
    a = prompting.character_prompt("Mira", "young woman in a red coat.", "Muted colours\nMusic: cello")
    assert a == "full body portrait, Mira, young woman in a red coat, plain background, Muted colours"
