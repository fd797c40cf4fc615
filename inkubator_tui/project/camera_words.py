"""The words directors use for framing, angle and camera movement, and the value
each names: shared by the notes reader, the request reader and the tools that
must leave them out of a picture's prompt."""

from __future__ import annotations

import re

from .models import Angle, Movement, Size

SIZE_WORDS: list[tuple[str, Size]] = [
    (r"extreme close[- ]?up|\bECU\b|extreme close on|\bmacro\b", Size.ECU),
    (r"medium close[- ]?up|\bMCU\b", Size.MCU),
    (r"close[- ]?up|close on|\bCU\b|tight on", Size.CU),
    (r"medium wide|\bMWS\b|cowboy shot", Size.MWS),
    (r"extreme wide|\bEWS\b|vista", Size.EWS),
    (r"wide shot|wide on|\bWS\b|establishing|long shot|wide angle", Size.WS),
    (r"medium shot|mid shot|\bMS\b|waist[- ]up|^medium\b(?![- ](?:close|wide))|\bmedium on\b", Size.MS),
    (r"over[- ]the[- ]shoulder|over (?:her|his|their|[A-Z][\w\-]+(?:'s|’s)) shoulder|\bOTS\b", Size.OTS),
    (r"\bPOV\b|point of view|through (?:her|his|their) eyes", Size.POV),
    (r"\binsert\b", Size.INSERT),
]
ANGLE_WORDS: list[tuple[str, Angle]] = [
    (r"low[- ]angle|from below|looking up at", Angle.LOW),
    (r"overhead|top[- ]down|bird'?s[- ]eye|straight down from above", Angle.OVERHEAD),
    (r"high[- ]angle|from above|looking down (?:at|on)", Angle.HIGH),
    (r"dutch|canted", Angle.DUTCH),
    (r"aerial|drone shot", Angle.AERIAL),
]
MOVE_WORDS: list[tuple[str, Movement]] = [
    (r"push(?:es|ing)? in|dolly(?:ing)? in|creep(?:s|ing)? in|move(?:s)? in on", Movement.DOLLY_IN),
    (r"pull(?:s|ing)? (?:back|out)|dolly(?:ing)? out|backs? away", Movement.DOLLY_OUT),
    (r"\bpan(?:s|ning)?\b", Movement.PAN),
    (r"\btilt(?:s|ing)?\b", Movement.TILT),
    (r"\btrack(?:s|ing)?\b|\btruck(?:s|ing)?\b|follow(?:s|ing)? (?:her|him|them)", Movement.TRUCK),
    (r"\bcrane(?:s)?\b|\bjib\b", Movement.CRANE),
    (r"hand[- ]?held|shaky cam", Movement.HANDHELD),
    (r"\bzoom(?:s|ing)?\b|snap zoom", Movement.ZOOM),
    (r"\block(?:ed)?[- ](?:off|down)\b|\bstatic (?:shot|camera|frame|wide|angle)\b|\bon (?:a )?tripod\b|"
     r"\bcamera (?:doesn't|does not|never) move", Movement.STATIC),
]


def first(patterns, text, default):
    """The value of the first pattern that occurs in `text`, else `default`."""
    for pat, value in patterns:
        if re.search(pat, text, re.I):
            return value
    return default
